"""``spendtag recommend``: cheaper models and prompt caching, with the saving in exact money."""

from __future__ import annotations

import io
import json
from typing import Any

import click

from spendtag.cli.app import App
from spendtag.cli.options import filter_options, selection

CSV_COLUMNS = ("kind", "subject", "provider", "model", "agent", "calls", "cost_usd", "share_percent", "alternative",
               "alternative_cost_usd", "savings_usd", "basis")


@click.command()
@filter_options
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True,
              help="Output format.")
@click.pass_obj
def recommend(app: App, /, fmt: str, **kwargs: Any) -> None:
    """Where to save: a cheaper model for the same tokens, and agents that barely use prompt caching.

    Each cheaper-model line reprices every call of a model on the cheaper model of its
    family (the same tokens, tier and date), so the saving is what those calls would have
    cost less. Takes the filters of `spendtag report`; without a time range, the last 30
    days. Examples:

    \b
      spendtag recommend
      spendtag recommend --tag client=acme --this-month
      spendtag recommend --period 2026-03 --format csv > savings.csv
    """
    from spendtag.report.recommendations import recommendations

    if not any(kwargs.get(k) for k in kwargs if k.startswith("named_")) and not (
            kwargs.get("since") or kwargs.get("until") or kwargs.get("period")):
        kwargs["named_last_30_days"] = True
    sel = selection(app.tz, kwargs)
    found = recommendations(app.store, app.pricer, sel.filters, sel.tz)
    if fmt == "json":
        click.echo(json.dumps(found.to_dict(), indent=2, ensure_ascii=False))
    elif fmt == "csv":
        click.echo(_csv(found.items), nl=False)
    else:
        _table(app, found)


def _csv(items: Any) -> str:
    from spendtag.report.exports import CsvWriter, neutralise

    buf = io.StringIO()
    w = CsvWriter(buf)
    w.writerow(CSV_COLUMNS)
    for r in items:
        row = r.to_dict()
        w.writerow([neutralise("" if row[c] is None else str(row[c])) for c in CSV_COLUMNS])
    return buf.getvalue()


def _table(app: App, found: Any) -> None:
    from rich.table import Table

    from spendtag.money import format_usd
    from spendtag.report.recommendations import LOW_CACHE_SHARE, MIN_SHARE_PERCENT

    rng = found.range
    period = "all time" if rng.since is None and rng.until is None else f"{rng.label(found.tz)} ({found.tz.key})"
    title = f"Recommendations · {period} · spend {format_usd(found.total)}"
    if not found.items:
        app.console.out(f"{title}\nno recommendations: no model with a cheaper one of its family carries "
                        f"{MIN_SHARE_PERCENT}% of this spend and saves on it, and no busy agent reads less than "
                        f"{LOW_CACHE_SHARE}% of its input from cache")
        return
    t = Table(title=title, title_justify="left")
    for col in ("kind", "subject", "calls", "cost", "share", "suggestion", "would cost", "saves", "basis"):
        t.add_column(col, justify="right" if col in ("calls", "cost", "share", "would cost", "saves") else "left")
    for r in found.items:
        t.add_row(r.kind, r.subject, f"{r.calls:,}", format_usd(r.cost), f"{r.share_percent}%",
                  r.alternative or "prompt caching",
                  "-" if r.alternative_cost is None else format_usd(r.alternative_cost),
                  "-" if r.savings is None else format_usd(r.savings), r.basis)
    app.console.print(t)
    if found.savings:
        app.console.out(f"cheaper models would have saved {format_usd(found.savings)} on this spend")


COMMANDS = [recommend]
