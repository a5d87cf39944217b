"""Options shared by the reporting commands: filters, time range, output format."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click

from spendtag.report.selection import FILTER_DIMENSIONS, NAMED_PERIODS, Selection, select
from spendtag.tags import Selector

F = TypeVar("F", bound=Callable[..., Any])

OUTPUT_FORMATS = ("table", "json", "csv", "summary")


def filter_options(func: F) -> F:
    """--tag/--agent/--model/... and the time range flags, in the order --help shows them."""
    opts = [
        click.option("--tag", "tags", multiple=True, metavar="SELECTOR",
                     help="Tag condition: client=acme, client!=acme, env (present) or !env (absent). Repeatable."),
        click.option("--agent", multiple=True, help="Only these agents. Repeatable."),
        click.option("--model", multiple=True, help="Only these models. Repeatable."),
        click.option("--provider", multiple=True, help="Only these providers. Repeatable."),
        click.option("--project", multiple=True, help="Only this project path and everything under it."),
        click.option("--session", multiple=True, help="Only these sessions. Repeatable."),
        click.option("--source", multiple=True, help="Only events from these capture sources (cli, ingest, demo...)."),
        click.option("--since", help="Start (inclusive): 2026-03-01 or 2026-03-01T10:00:00Z."),
        click.option("--until", help="End (exclusive): 2026-04-01 or an exact time."),
        click.option("--period", help="A calendar period: 2026-03, 2026-03-14, 2026-W11 or 2026."),
        *[click.option(f"--{name}", f"named_{name.replace('-', '_')}", is_flag=True,
                       help=f"Only {name.replace('-', ' ')} (in --tz).") for name in NAMED_PERIODS],
        click.option("--tz", "tz_name", help="Time zone for periods and day/week/month labels "
                     "[env SPENDTAG_TZ; default UTC]."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def exact_models_option(func: F) -> F:
    return click.option("--exact-models", is_flag=True,
                        help="Keep every model id apart (claude-sonnet-4-5-20250929 and claude-sonnet-4-5); "
                             "by default the ids of one model are one row.")(func)


def format_option(func: F) -> F:
    return click.option("--format", "fmt", type=click.Choice(OUTPUT_FORMATS), default="table", show_default=True,
                        help="Output format.")(func)


def selection(tz_default: ZoneInfo, kwargs: dict[str, Any], extra_tags: tuple[Selector, ...] = ()) -> Selection:
    """Turn the filter options (popped from ``kwargs``) into Filters and a time range."""
    named = [name for name in NAMED_PERIODS if kwargs.pop(f"named_{name.replace('-', '_')}", False)]
    since, until, period = kwargs.pop("since", None), kwargs.pop("until", None), kwargs.pop("period", None)
    if len(named) + bool(period) + bool(since or until) > 1:
        raise click.UsageError("give one time range: a named period, --period, or --since/--until")
    return select(tz_default, tags=kwargs.pop("tags", ()),
                  dims={name: kwargs.pop(name, ()) for name in FILTER_DIMENSIONS},
                  project=kwargs.pop("project", ()), since=since, until=until, period=period, named=named,
                  tz_name=kwargs.pop("tz_name", None), extra_tags=extra_tags)
