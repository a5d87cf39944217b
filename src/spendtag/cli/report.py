"""``spendtag report``, ``top``, ``trends`` and ``compare``."""

from __future__ import annotations

from typing import Any

import click

from spendtag.cli import render
from spendtag.cli.app import App
from spendtag.cli.options import exact_models_option, filter_options, format_option, selection
from spendtag.ledger.query import Filters
from spendtag.reports import build, parse_by
from spendtag.reports import compare as compare_report
from spendtag.tags import Selector


@click.command()
@click.option("--by", "by_text", default="client", show_default=True, metavar="KEY[,KEY]",
              help="Group by a tag key (client, env...), project, session, agent, model, provider, key, user, "
                   "source, status, hour, day, week, month, hour-of-day or weekday; two at once: client,model.")
@click.option("--limit", type=int, help="Show only the first N rows.")
@exact_models_option
@filter_options
@format_option
@click.pass_obj
def report(app: App, /, by_text: str, limit: int | None, exact_models: bool, fmt: str, **kwargs: Any) -> None:
    """Spend grouped by a tag or dimension, with shares, tokens and request counts."""
    sel = selection(app.tz, kwargs)
    result = build(app.store, parse_by(by_text), sel.filters, sel.tz, limit=limit, exact_models=exact_models)
    _show(app, result, fmt)


def _show(app: App, result: Any, fmt: str, title: str | None = None) -> None:
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
@click.option("--limit", type=int, default=10, show_default=True, help="How many to show.")
@exact_models_option
@filter_options
@format_option
@click.pass_obj
def top(app: App, /, by_text: str, limit: int, exact_models: bool, fmt: str, **kwargs: Any) -> None:
    """The most expensive sessions (or agents, models, clients...)."""
    sel = selection(app.tz, kwargs)
    result = build(app.store, parse_by(by_text), sel.filters, sel.tz, limit=limit, exact_models=exact_models)
    _show(app, result, fmt, title=f"Top {limit} by {by_text}")


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
    result = build(app.store, [by_text], sel.filters, sel.tz, order="time")
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
    render.comparison(app.console, compare_report(app.store, sides, list(selectors), sel.tz,
                                                  exact_models=exact_models), fmt)


COMMANDS = [report, top, trends, compare]
