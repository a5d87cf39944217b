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
    from spendtag.cli.tables import Column, build
    from spendtag.money import screen
    from spendtag.report.recommendations import LOW_CACHE_SHARE, MIN_SHARE_PERCENT

    rng = found.range
    period = "all time" if rng.since is None and rng.until is None else f"{rng.label(found.tz)} ({found.tz.key})"
    title = f"Recommendations · {period} · spend {screen(found.total)}"
    if not found.items:
        app.console.out(f"{title}\nno recommendations: no model with a cheaper one of its family carries "
                        f"{MIN_SHARE_PERCENT}% of this spend and saves on it, and no busy agent reads less than "
                        f"{LOW_CACHE_SHARE}% of its input from cache")
        return
    columns = (Column("kind", keep=1), Column("subject", shrink=True, keep=None), Column("calls", "right", keep=2),
               Column("cost", "right", money=True), Column("share", "right", keep=3),
               Column("suggestion", shrink=True, keep=4), Column("would cost", "right", money=True, short="then"),
               Column("saves", "right", money=True), Column("basis", shrink=True, keep=0))
    rows = [[r.kind, r.subject, f"{r.calls:,}", screen(r.cost), f"{r.share_percent}%",
             r.alternative or "prompt caching", "-" if r.alternative_cost is None else screen(r.alternative_cost),
             "-" if r.savings is None else screen(r.savings), r.basis] for r in found.items]
    app.console.print(build(app.console, columns, rows, title=title))
    if found.savings:
        app.console.out(f"cheaper models would have saved {screen(found.savings)} on this spend")


COMMANDS = [recommend]
