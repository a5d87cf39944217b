"""Reports on screen and in files: rich tables, JSON, CSV and one-line summaries."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

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


def table(console: Console, report: Report, title: str | None = None) -> None:
    from rich.table import Table  # rich's tables cost ~50 ms to import: only for table output

    t = Table(title=title or f"Spend by {', '.join(report.by)} · {period_text(report)}", title_justify="left")
    for name in report.by:
        t.add_column(name)
    t.add_column("requests", justify="right")
    for label, _ in TOKEN_COLUMNS:
        t.add_column(label, justify="right")
    t.add_column("cost", justify="right")
    t.add_column("share", justify="right")
    for row in report.rows:
        t.add_row(*report.labels(row), *_numbers(row.totals), cost_of(row.totals), _share(row))
    t.add_section()
    total_share = "—" if _all_unpriced(report.total) else "100.0%" if report.total.cost else "0.0%"
    t.add_row("total", *[""] * (len(report.by) - 1), *_numbers(report.total), cost_of(report.total), total_share,
              style="bold")
    console.print(t)
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
    """A terminal bar chart of cost per row (trends)."""
    peak = max((r.totals.cost for r in report.rows), default=0)
    label_width = max((len(" · ".join(report.labels(r))) for r in report.rows), default=5)
    for r in report.rows:
        filled = 0 if peak == 0 else round(width * r.totals.cost / peak)
        label = " · ".join(report.labels(r)).ljust(label_width)
        console.out(f"{label}  {'█' * filled}{' ' * (width - filled)}  {cost_of(r.totals):>12}  "
                    f"{r.totals.requests:>7,} req")
    console.out(f"{'total'.ljust(label_width)}  {' ' * width}  {cost_of(report.total):>12}  "
                f"{report.total.requests:>7,} req")
    warning = unpriced_text(report)
    if warning:
        console.out(f"warning: {warning}")


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
    from rich.table import Table

    table = Table(title="Comparison", title_justify="left")
    table.add_column("")
    for label in cmp.labels:
        table.add_column(label, justify="right")
    table.add_row("cost", *(cost_of(x) for x in cmp.totals))
    table.add_row("requests", *(_n(x.requests) for x in cmp.totals))
    table.add_row("tokens", *(_n(x.tokens) for x in cmp.totals))
    table.add_row("cost / request", *(screen(x.cost // (x.requests - x["unpriced_requests"]))
                                      if x.requests > x["unpriced_requests"] else "-" for x in cmp.totals))
    table.add_row("cache read share", *(f"{share(x['cache_read_tokens'], x.tokens - x['output_tokens'])}%"
                                    for x in cmp.totals))
    models = sorted({m for side in cmp.models for m in side})
    if models:
        table.add_section()
        for m in models:
            table.add_row(m, *(cost_of(side[m]) if m in side else "-" for side in cmp.models))
    console.print(table)
    _comparison_warning(console, cmp)


def _comparison_warning(console: Console, cmp: Comparison) -> None:
    unpriced: dict[str, int] = {}
    for side in cmp.models:
        for model, t in side.items():
            if t["unpriced_requests"]:
                unpriced[model] = unpriced.get(model, 0) + t["unpriced_requests"]
    if unpriced:
        names = ", ".join(f"{m} ({n:,})" for m, n in sorted(unpriced.items()))
        console.out(f"warning: {sum(unpriced.values()):,} calls could not be priced and are not in these costs: "
                    f"{names}. Add a price with `spendtag prices override`; see `spendtag prices check`.")
