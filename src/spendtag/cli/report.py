"""``spendtag report``, ``top``, ``trends`` and ``compare``."""

from __future__ import annotations

from typing import Any

import click

from spendtag.cli import render
from spendtag.cli.app import App
from spendtag.cli.options import exact_models_option, filter_options, format_option, selection
from spendtag.cli.params import ROWS
from spendtag.ledger import location as ledger_location
from spendtag.ledger.query import Filters
from spendtag.report import matching
from spendtag.report.breakdown import Report, build, group_key, parse_by
from spendtag.report.breakdown import compare as compare_report
from spendtag.report.selection import Selection
from spendtag.tags import Selector


@click.command()
@click.option("--by", "by_text", default="client", show_default=True, metavar="KEY[,KEY]",
              help="Group by a tag key (client, env...), project, session, agent, model, provider, key, user, "
                   "source, status, hour, day, week, month, hour-of-day or weekday; two at once: client,model.")
@click.option("--limit", type=ROWS, help="Show only the first N rows.")
@exact_models_option
@filter_options
@format_option
@click.pass_obj
def report(app: App, /, by_text: str, limit: int | None, exact_models: bool, fmt: str, **kwargs: Any) -> None:
    """Spend grouped by a tag or dimension, with shares, tokens and request counts."""
    sel = selection(app.tz, kwargs)
    result = _build(app, sel, parse_by(by_text), limit=limit, exact_models=exact_models)
    _show(app, result, fmt, sel=sel)


def _build(app: App, sel: Selection, by: list[str], **kwargs: Any) -> Report:
    """The report, once every tag key and value it names is known to the ledger.

    The client key (setting ``client_key``) is always a key to group by: a ledger whose calls
    have no client tag yet shows them all as untagged.
    """
    matching.check(app.store, sel.filters, by=[group_key(n) for n in by], known_keys=(app.settings["client_key"],))
    return build(app.store, by, sel.filters, sel.tz, **kwargs)


def _nothing(app: App, result: Report, sel: Selection, fmt: str) -> bool:
    """Say so when the filters match no call in the period (and when the last one was) instead of a $0 table.

    Tables and summaries show only the message; JSON and CSV still go out whole (their
    request counts say 0) with the message on stderr.
    """
    if result.total.requests:
        return False
    # Filtered or not: a table of zeros would read as "$0.00 spent". An empty ledger says how to fill it.
    note = str(matching.explain_empty(app.store, sel.filters, sel.range, sel.tz))
    if app.store.vocabulary().empty:
        note += (f" in {ledger_location(app.store.url)}: record calls (spendtag record, spendtag import, "
                 "spendtag proxy) or load a sample month with spendtag demo")
    if fmt in ("json", "csv"):
        click.echo(f"note: {note}", err=True)
        return False
    click.echo(note)
    return True


def _show(app: App, result: Any, fmt: str, title: str | None = None, sel: Selection | None = None) -> None:
    if sel is not None and _nothing(app, result, sel, fmt):
        return
    # JSON and CSV go out as they are: no need to load rich (a fifth of the command's time).
    if fmt == "json":
        click.echo(render.as_json(result))
    elif fmt == "csv":
        click.echo(render.as_csv(result), nl=False)
    else:
        render.show(app.console, result, fmt, title)


@click.command()
@click.option("--by", "by_text", default="session", show_default=True, metavar="KEY[,KEY]",
              help="What to rank: session, agent, model, project, a tag key...")
@click.option("--limit", type=ROWS, default=10, show_default=True, help="How many to show.")
@exact_models_option
@filter_options
@format_option
@click.pass_obj
def top(app: App, /, by_text: str, limit: int, exact_models: bool, fmt: str, **kwargs: Any) -> None:
    """The most expensive sessions (or agents, models, clients...)."""
    sel = selection(app.tz, kwargs)
    result = _build(app, sel, parse_by(by_text), limit=limit, exact_models=exact_models)
    _show(app, result, fmt, title=f"Top {limit} by {by_text}", sel=sel)


@click.command()
@click.option("--by", "by_text", default="day", show_default=True,
              type=click.Choice(["hour", "day", "week", "month", "hour-of-day", "weekday"]),
              help="Time bucket.")
@filter_options
@format_option
@click.pass_obj
def trends(app: App, /, by_text: str, fmt: str, **kwargs: Any) -> None:
    """Spend over time as a terminal bar chart (default: the last 30 days by day)."""
    if not any(kwargs.get(k) for k in kwargs if k.startswith("named_")) and not (
            kwargs.get("since") or kwargs.get("until") or kwargs.get("period")):
        kwargs["named_last_30_days"] = True
    sel = selection(app.tz, kwargs)
    result = _build(app, sel, [by_text], order="time")
    if _nothing(app, result, sel, fmt):
        return
    if fmt == "table":
        app.console.out(f"Spend by {by_text} · {render.period_text(result)}")
        render.bars(app.console, result)
    else:
        render.show(app.console, result, fmt)


@click.command()
@click.argument("selectors", nargs=-1, required=True, metavar="SELECTOR...")
@exact_models_option
@filter_options
@format_option
@click.pass_obj
def compare(app: App, /, selectors: tuple[str, ...], exact_models: bool, fmt: str, **kwargs: Any) -> None:
    """Side by side: e.g. `spendtag compare client=acme client=globex`."""
    if len(selectors) < 2:
        raise click.UsageError("give at least two selectors, e.g. client=acme client=globex")
    sel = selection(app.tz, kwargs)
    sides = [Filters(since=sel.filters.since, until=sel.filters.until, tags=(*sel.filters.tags, Selector.parse(s)),
                     dims=sel.filters.dims, project=sel.filters.project) for s in selectors]
    vocab = app.store.vocabulary()
    for side in sides:
        matching.check(app.store, side, vocab=vocab)
    result = compare_report(app.store, sides, list(selectors), sel.tz, exact_models=exact_models)
    render.comparison(app.console, result, fmt)
    for side, totals in zip(sides, result.totals, strict=True):
        if not totals.requests:   # a side with no calls is said, not shown as $0.00 beside the others
            click.echo(f"note: {matching.explain_empty(app.store, side, sel.range, sel.tz)}",
                       err=fmt in ("json", "csv"))


COMMANDS = [report, top, trends, compare]
