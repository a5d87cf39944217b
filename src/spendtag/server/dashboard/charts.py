"""Charts drawn on the server as inline SVG: no JavaScript library, no CDN, works offline and in print.

A stacked bar per time bucket, one colour per series, a ``<title>`` on every bar for its
exact amount, and a marker above the buckets that had an anomaly. The amounts drawn come
from the same exact strings the API returns; only the bar heights are rounded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from html import escape
from typing import Any

from spendtag.money import parse_usd, screen

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac")
WIDTH, HEIGHT = 900, 260
LEFT, RIGHT, TOP, BOTTOM = 84, 12, 18, 46


def colour(i: int, name: str) -> str:
    if name in ("(untagged)", "(none)"):
        return "#c9c9c9"
    if name == "(other)":
        return "#8c8c8c"
    return PALETTE[i % len(PALETTE)]


def _nice_max(value: int) -> int:
    """A round axis maximum (1, 2 or 5 times a power of ten) at or above ``value`` pico-USD."""
    if value <= 0:
        return parse_usd("1")
    step = Decimal(10) ** (len(str(value)) - 1)
    for m in (1, 2, 5, 10):
        if step * m >= value:
            return int(step * m)
    return value


def _axis_usd(amount: int, top: int) -> str:
    """An axis label: whole dollars once the axis reaches $10 (its steps are round), so it fits a phone."""
    text = screen(amount)
    return text.removesuffix(".00") if top >= 10 * 10 ** 12 else text


def amount_text(cost: int, requests: int, unpriced: int) -> str:
    """An amount for a tooltip or legend: unpriced calls counted beside it, never shown as $0.00."""
    if requests and unpriced >= requests:
        return f"— ({unpriced:,} unpriced)"
    return screen(cost) + (f" + {unpriced:,} unpriced" if unpriced else "")


def _counts(s: Mapping[str, Any], name: str, n: int) -> list[int]:
    return list(s.get(name) or [0] * n)


Link = Callable[[str, str | None], str | None]   # (series, bucket or None) -> the calls it counts


def _linked(link: Link | None, name: str, bucket: str | None, inner: str) -> str:
    href = link(name, bucket) if link is not None else None
    return inner if href is None else f'<a href="{escape(href)}">{inner}</a>'


def stacked_bars(chart: Mapping[str, Any], anomalies: Sequence[Mapping[str, Any]] = (),
                 link: Link | None = None) -> str:
    buckets: list[str] = chart["buckets"]
    series = chart["series"]
    costs = [[0 if c is None else parse_usd(c) for c in s["cost_usd"]] for s in series]
    calls = [_counts(s, "requests", len(buckets)) for s in series]
    unpriced = [_counts(s, "unpriced_requests", len(buckets)) for s in series]
    totals = [sum(col) for col in zip(*costs, strict=True)] if costs else [0] * len(buckets)
    top = _nice_max(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(1, len(buckets))
    slot = plot_w / n
    bar = max(1.0, slot * 0.8)
    out = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="spend over time" '
           f'xmlns="http://www.w3.org/2000/svg" data-buckets="{len(buckets)}">']
    for i in range(5):   # grid and axis labels
        y = TOP + plot_h - plot_h * i / 4
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
                   f'{escape(_axis_usd(top * i // 4, top))}</text>')
    every = max(1, n // 12)
    marked = {m["bucket"] for m in anomalies}
    for b, label in enumerate(buckets):
        x = LEFT + slot * b + (slot - bar) / 2
        y = TOP + plot_h
        for s_i, s in enumerate(series):
            amount = costs[s_i][b]
            text = escape(amount_text(amount, calls[s_i][b], unpriced[s_i][b]))
            if amount <= 0:
                if unpriced[s_i][b]:   # calls with no price: a hatched sliver at the axis that says so
                    out.append(_linked(link, s["name"], label,
                                       f'<rect class="unpriced" x="{x:.1f}" y="{TOP + plot_h - 3:.1f}" '
                                       f'width="{bar:.1f}" height="3" data-series="{escape(s["name"])}" '
                                       f'data-bucket="{escape(label)}" data-unpriced="{unpriced[s_i][b]}">'
                                       f'<title>{escape(label)} · {escape(s["name"])}: {text}</title></rect>'))
                continue
            h = plot_h * amount / top
            y -= h
            out.append(_linked(link, s["name"], label,
                               f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.2f}" '
                               f'fill="{colour(s_i, s["name"])}" data-series="{escape(s["name"])}" '
                               f'data-bucket="{escape(label)}" '
                               f'data-cost="{s["cost_usd"][b]}"><title>{escape(label)} · {escape(s["name"])}: '
                               f'{text}</title></rect>'))
        if label in marked:
            cx = x + bar / 2
            notes = "; ".join(str(m["message"]) for m in anomalies if m["bucket"] == label)
            out.append(f'<path class="anomaly" '
                       f'd="M{cx - 6:.1f},{TOP - 2} L{cx + 6:.1f},{TOP - 2} L{cx:.1f},{TOP + 8}Z" '
                       f'data-bucket="{escape(label)}"><title>anomaly: {escape(notes)}</title></path>')
        if b % every == 0:
            short = label[5:] if len(label) >= 10 else label
            alt = " alt" if (b // every) % 2 else ""      # hidden on a phone, where labels are drawn larger
            out.append(f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" class="axis{alt}" '
                       f'text-anchor="middle">{escape(short)}</text>')
    out.append("</svg>")
    return "".join(out)


def legend(chart: Mapping[str, Any], link: Link | None = None) -> str:
    items = []
    for i, s in enumerate(chart["series"]):
        total = amount_text(parse_usd(s["total_usd"] or "0"), sum(s.get("requests") or ()),
                            sum(s.get("unpriced_requests") or ()))
        items.append(f'<li data-series="{escape(s["name"])}">' + _linked(
            link, s["name"], None, f'<span class="swatch" style="background:{colour(i, s["name"])}"></span>'
                                   f'{escape(s["name"])} <span class="num">{escape(total)}</span>') + '</li>')
    return f'<ul class="legend">{"".join(items)}</ul>'


def progress(percent: str, thresholds: Sequence[Mapping[str, Any]], limit_usd: str) -> str:
    """A budget's bar: filled to the spend, a tick at every threshold."""
    filled = min(Decimal(100), Decimal(percent))
    limit = parse_usd(limit_usd)
    ticks = []
    for t in thresholds:
        at = min(Decimal(100), Decimal(parse_usd(t["amount_usd"])) * 100 / limit) if limit else Decimal(0)
        ticks.append(f'<span class="tick{" stop" if t["stop"] else ""}" style="left:{at:.1f}%" '
                     f'title="{escape(t["label"])}"></span>')
    state = "over" if Decimal(percent) >= 100 else "warn" if any(t["crossed"] for t in thresholds) else "ok"
    return (f'<div class="progress {state}" role="progressbar" aria-valuenow="{escape(percent)}" aria-valuemin="0" '
            f'aria-valuemax="100"><div class="fill" style="width:{filled:.1f}%"></div>{"".join(ticks)}</div>')


def _count_text(n: int) -> str:
    """A count for an axis: 950, 12k, 1.5M (exact counts are in the bars' titles)."""
    for size, unit in ((10 ** 9, "B"), (10 ** 6, "M"), (10 ** 3, "k")):
        if n >= size:
            whole, part = divmod(n * 10 // size, 10)
            return f"{whole}{'.' + str(part) if part and whole < 10 else ''}{unit}"
    return str(n)


def _nice_count(value: int) -> int:
    if value <= 0:
        return 1
    step: int = 10 ** (len(str(value)) - 1)
    return next(step * m for m in (1, 2, 5, 10) if step * m >= value)


def count_bars(chart: Mapping[str, Any], measure: str = "tokens") -> str:
    """Stacked bars of a count over time (tokens or requests per series): a client's usage without money."""
    buckets: list[str] = chart["buckets"]
    series = chart["series"]
    values = [_counts(s, measure, len(buckets)) for s in series]
    totals = [sum(col) for col in zip(*values, strict=True)] if values else [0] * len(buckets)
    top = _nice_count(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(1, len(buckets))
    slot = plot_w / n
    bar = max(1.0, slot * 0.8)
    out = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(measure)} over time" '
           f'xmlns="http://www.w3.org/2000/svg" data-buckets="{len(buckets)}">']
    for i in range(5):
        y = TOP + plot_h - plot_h * i / 4
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
                   f'{escape(_count_text(top * i // 4))}</text>')
    every = max(1, n // 12)
    for b, label in enumerate(buckets):
        x = LEFT + slot * b + (slot - bar) / 2
        y = TOP + plot_h
        for s_i, s in enumerate(series):
            amount = values[s_i][b]
            if amount <= 0:
                continue
            h = plot_h * amount / top
            y -= h
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.2f}" '
                       f'fill="{colour(s_i, s["name"])}" data-series="{escape(s["name"])}" '
                       f'data-bucket="{escape(label)}" data-{escape(measure)}="{amount}"><title>{escape(label)} · '
                       f'{escape(s["name"])}: {amount:,} {escape(measure)}</title></rect>')
        if b % every == 0:
            short = label[5:] if len(label) >= 10 else label
            alt = " alt" if (b // every) % 2 else ""
            out.append(f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" class="axis{alt}" '
                       f'text-anchor="middle">{escape(short)}</text>')
    out.append("</svg>")
    return "".join(out)


def count_legend(chart: Mapping[str, Any], measure: str = "tokens") -> str:
    items = [f'<li data-series="{escape(s["name"])}"><span class="swatch" style="background:{colour(i, s["name"])}">'
             f'</span>{escape(s["name"])} <span class="num">{sum(s.get(measure) or ()):,}</span></li>'
             for i, s in enumerate(chart["series"])]
    return f'<ul class="legend">{"".join(items)}</ul>'
