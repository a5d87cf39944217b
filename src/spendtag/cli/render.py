"""Reports on screen and in files: rich tables, JSON, CSV and one-line summaries."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

from spendtag.cli.tables import Column
from spendtag.ledger.query import Totals
from spendtag.money import exact_str, format_cost, screen
from spendtag.report.breakdown import Comparison, Report, Row, share, to_dict

if TYPE_CHECKING:
    from rich.console import Console

TOKEN_COLUMNS = (
    ("input", ("input_tokens", "input_audio_tokens")),
    ("cache read", ("cache_read_tokens",)),
    ("cache write", ("cache_write_5m_tokens", "cache_write_1h_tokens")),
    ("output", ("output_tokens", "output_audio_tokens")),
)


def _n(value: int) -> str:
    return f"{value:,}"


cost_text = format_cost


def cost_of(totals: Totals) -> str:
    return cost_text(totals.cost, totals.requests, totals["unpriced_requests"])


def _all_unpriced(totals: Totals) -> bool:
    return bool(totals.requests) and totals["unpriced_requests"] >= totals.requests


def _share(row: Row) -> str:
    return "—" if _all_unpriced(row.totals) else f"{row.share}%"


def _tokens(t: Totals, buckets: tuple[str, ...]) -> int:
    return sum(t[b] for b in buckets)


def period_text(report: Report) -> str:
    if report.range.since is None and report.range.until is None:
        return "all time"
    return report.range.label(report.tz) + f" ({report.tz.key})"


def unpriced_text(report: Report) -> str | None:
    if not report.unpriced_requests:
        return None
    models = ", ".join(f"{u.provider}/{u.model} ({u.requests})" for u in report.unpriced[:5])
    more = f" and {len(report.unpriced) - 5} more" if len(report.unpriced) > 5 else ""
    return (f"{report.unpriced_requests:,} calls could not be priced and are not in these costs: {models}{more}. "
            "Add a price with `spendtag prices override`; see `spendtag prices check`.")


# Report columns after the labels; on a narrow terminal the lowest ``keep`` goes first (cache
# columns, then input, output, requests, share), and cost never.
_REPORT_COLUMNS = (
    Column("requests", "right", keep=4, short="req"),
    Column("input", "right", keep=2, short="in"),
    Column("cache read", "right", keep=1, short="c.read"),
    Column("cache write", "right", keep=0, short="c.write"),
    Column("output", "right", keep=3, short="out"),
    Column("cost", "right", money=True),
    Column("share", "right", keep=5),
)


def table(console: Console, report: Report, title: str | None = None) -> None:
    from spendtag.cli.tables import build

    columns = [*(Column(name, shrink=True, keep=None) for name in report.by), *_REPORT_COLUMNS]
    rows = [[*report.labels(row), *_numbers(row.totals), cost_of(row.totals), _share(row)] for row in report.rows]
    total_share = "—" if _all_unpriced(report.total) else "100.0%" if report.total.cost else "0.0%"
    total = ["total", *[""] * (len(report.by) - 1), *_numbers(report.total), cost_of(report.total), total_share]
    console.print(build(console, columns, rows, title=title or f"Spend by {', '.join(report.by)} · "
                                                               f"{period_text(report)}", total=total))
    warning = unpriced_text(report)
    if warning:
        console.print(f"[yellow]warning:[/] {warning}")


def _numbers(totals: Totals) -> list[str]:
    return [_n(totals.requests), *(_n(_tokens(totals, b)) for _, b in TOKEN_COLUMNS)]


def as_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False)


CSV_BUCKETS = ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
               "output_tokens", "reasoning_tokens")


def as_csv(report: Report) -> str:
    from spendtag.report.exports import CsvWriter, neutralise

    buf = io.StringIO()
    w = CsvWriter(buf)
    w.writerow([*report.by, "requests", "unpriced_requests", *CSV_BUCKETS, "cost_usd", "share_percent"])
    # A row whose every call is unpriced has no cost (an empty cell), not 0; unpriced_requests says how many.
    for r in report.rows:
        w.writerow([*(neutralise(x) for x in report.labels(r)), r.totals.requests, r.totals["unpriced_requests"],
                    *(r.totals[b] for b in CSV_BUCKETS), _csv_cost(r.totals), str(r.share)])
    t = report.total
    w.writerow(["total", *[""] * (len(report.by) - 1), t.requests, t["unpriced_requests"],
                *(t[b] for b in CSV_BUCKETS), _csv_cost(t), "100.0" if t.cost else "0.0"])
    return buf.getvalue()


def _csv_cost(totals: Totals) -> str:
    return "" if _all_unpriced(totals) else exact_str(totals.cost)


def as_summary(report: Report) -> str:
    lines = [f"{' · '.join(report.labels(r))}: {cost_of(r.totals)}"
             + ("" if _all_unpriced(r.totals) else f" ({r.share}%)") + f", {r.totals.requests:,} requests"
             for r in report.rows]
    lines.append(f"total: {cost_of(report.total)}, {report.total.requests:,} requests")
    warning = unpriced_text(report)
    if warning:
        lines.append(f"warning: {warning}")
    return "\n".join(lines)


def show(console: Console, report: Report, fmt: str, title: str | None = None) -> None:
    if fmt == "table":
        table(console, report, title)
    elif fmt == "json":
        console.out(as_json(report))
    elif fmt == "csv":
        console.out(as_csv(report), end="")
    else:
        console.out(as_summary(report))


def bars(console: Console, report: Report, width: int = 40) -> None:
    """A terminal bar chart of cost per row (trends), at most ``width`` wide bars, never wrapped.

    The bars take what the terminal leaves after the labels, costs and request counts (at
    least 8 characters); on a terminal too narrow for that, the request counts go first.
    """
    peak = max((r.totals.cost for r in report.rows), default=0)
    labels = [" · ".join(report.labels(r)) for r in report.rows]
    costs = [cost_of(r.totals) for r in report.rows]
    label_width = max(map(len, [*labels, "total"]))
    cost_width = max(map(len, [*costs, cost_of(report.total)]))
    req_width = len(f"{report.total.requests:,}") + 4
    room = console.width - label_width - cost_width - 4
    show_requests = room - req_width - 2 >= 8
    width = max(1, min(width, room - (req_width + 2 if show_requests else 0)))

    def requests(n: int) -> str:
        return f"  {f'{n:,}':>{req_width - 4}} req" if show_requests else ""

    for r, label, cost in zip(report.rows, labels, costs, strict=True):
        filled = 0 if peak == 0 else round(width * r.totals.cost / peak)
        console.out(f"{label.ljust(label_width)}  {'█' * filled}{' ' * (width - filled)}  {cost:>{cost_width}}"
                    + requests(r.totals.requests))
    console.out(f"{'total'.ljust(label_width)}  {' ' * width}  {cost_of(report.total):>{cost_width}}"
                + requests(report.total.requests))
    warning = unpriced_text(report)
    if warning:   # wrapped to the terminal, as the bars are
        console.print(f"warning: {warning}", markup=False, highlight=False)


def comparison(console: Console, cmp: Comparison, fmt: str) -> None:
    sides = list(zip(cmp.labels, cmp.totals, cmp.models, strict=True))
    if fmt == "json":
        console.out(json.dumps({
            label: {"requests": t.requests, "unpriced_requests": t["unpriced_requests"], "tokens": t.tokens,
                    "cost_usd": None if _all_unpriced(t) else exact_str(t.cost),
                    "models": {m: None if _all_unpriced(mt) else exact_str(mt.cost)
                               for m, mt in sorted(models.items())}}
            for label, t, models in sides
        }, indent=2))
        return
    if fmt == "csv":
        from spendtag.report.exports import CsvWriter, neutralise

        buf = io.StringIO()
        w = CsvWriter(buf)
        w.writerow(["selector", "requests", "unpriced_requests", "tokens", "cost_usd"])
        for label, t, _ in sides:
            w.writerow([neutralise(label), t.requests, t["unpriced_requests"], t.tokens, _csv_cost(t)])
        console.out(buf.getvalue(), end="")
        return
    if fmt == "summary":
        console.out("\n".join(f"{label}: {cost_of(t)}, {t.requests:,} requests, {t.tokens:,} tokens"
                              for label, t, _ in sides))
        _comparison_warning(console, cmp)
        return
    from spendtag.cli.tables import build

    rows: list[list[str] | None] = [
        ["cost", *(cost_of(x) for x in cmp.totals)],
        ["requests", *(_n(x.requests) for x in cmp.totals)],
        ["tokens", *(_n(x.tokens) for x in cmp.totals)],
        ["cost / request", *(screen(x.cost // (x.requests - x["unpriced_requests"]))
                             if x.requests > x["unpriced_requests"] else "-" for x in cmp.totals)],
        ["cache read share", *(f"{share(x['cache_read_tokens'], x.tokens - x['output_tokens'])}%"
                               for x in cmp.totals)],
    ]
    models = sorted({m for side in cmp.models for m in side})
    if models:
        rows.append(None)
        rows += [[m, *(cost_of(side[m]) if m in side else "-" for side in cmp.models)] for m in models]
    columns = [Column("", shrink=True, keep=None), *(Column(label, "right", money=True) for label in cmp.labels)]
    console.print(build(console, columns, rows, title="Comparison"))
    _comparison_warning(console, cmp)


def _comparison_warning(console: Console, cmp: Comparison) -> None:
    unpriced: dict[str, int] = {}
    for side in cmp.models:
        for model, t in side.items():
            if t["unpriced_requests"]:
                unpriced[model] = unpriced.get(model, 0) + t["unpriced_requests"]
    if unpriced:
        names = ", ".join(f"{m} ({n:,})" for m, n in sorted(unpriced.items()))
        console.print(f"warning: {sum(unpriced.values()):,} calls could not be priced and are not in these costs: "
                      f"{names}. Add a price with `spendtag prices override`; see `spendtag prices check`.",
                      markup=False, highlight=False)
