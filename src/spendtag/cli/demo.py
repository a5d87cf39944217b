"""``spendtag demo``: a sample month in a ledger of its own, its per-client report, and what to run next."""

from __future__ import annotations

import os
import shlex
import subprocess
from datetime import timedelta

import click
from click.core import ParameterSource

from spendtag import demo as demo_data
from spendtag.cli import render
from spendtag.cli.app import App
from spendtag.ledger import is_postgres_url, location
from spendtag.ledger.query import Filters
from spendtag.report.breakdown import build


def shell_quote(word: str) -> str:
    """``word`` as the user's shell reads it back as one argument."""
    return subprocess.list2cmdline([word]) if os.name == "nt" else shlex.quote(word)


def _range(days: int) -> tuple[list[str], str]:
    """The options and the dashboard query that select the whole sample."""
    first = demo_data.first_day(days)
    if first.strftime("%Y-%m") == demo_data.PERIOD:
        return ["--period", demo_data.PERIOD], f"period={demo_data.PERIOD}"
    until = (demo_data.LAST_DAY + timedelta(days=1)).isoformat()
    return ["--since", first.isoformat(), "--until", until], f"since={first.isoformat()}&until={until}"


@click.command()
@click.option("--days", type=click.IntRange(1, 400), default=demo_data.DAYS, show_default=True,
              help=f"How many days of data, ending on {demo_data.LAST_DAY} (UTC).")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed (same seed, same data).")
@click.option("--by", "by_text", default="client", show_default=True, help="Report grouping to print afterwards.")
@click.pass_context
def demo(ctx: click.Context, days: int, seed: int, by_text: str) -> None:
    """Load a sample month of agency spend (March 2026) into a demo ledger and report it.

    The demo ledger is demo.db in the user data directory, apart from your own ledger
    (SPENDTAG_DB and the config file's db are not used for it); `spendtag --db PATH demo`
    loads the sample into PATH instead. The sample has fixed dates, the DAYS days up to
    2026-03-31 (UTC), and is tagged source=demo: the same seed always gives the same calls,
    and running it again records nothing twice. `spendtag db remove-demo` takes it out of a
    ledger again.
    """
    app: App = ctx.obj
    # `spendtag --db X demo`: into X, as asked; SPENDTAG_DB and the config file name the user's own ledger.
    chosen = ctx.find_root().get_parameter_source("db") is ParameterSource.COMMANDLINE
    if not chosen:
        app = App(db=str(demo_data.ledger_path()))
        ctx.call_on_close(app.close)
    with app.err.status("loading the sample month…"):
        result = app.recorder.record(demo_data.events(days=days, seed=seed))
    where = location(app.store.url)
    db = f"spendtag --db {shell_quote(where)}"
    range_args, query = _range(days)
    first = demo_data.first_day(days)
    click.echo(f"Recorded {result.inserted:,} sample calls ({result.duplicates:,} already there), "
               f"tagged source={demo_data.SOURCE}, in " + ("the ledger you chose:" if chosen else "the demo ledger:"))
    click.echo(f"  {where}")
    if not chosen:
        click.echo("Your own ledger is not touched: commands without --db do not see the sample.")
    click.echo(f"The sample has fixed dates, {first} to {demo_data.LAST_DAY} (UTC), the same for every run: "
               f"select it with {' '.join(range_args)}, not --this-month.")
    click.echo()
    report = build(app.store, by_text.split(","), Filters(dims={"source": (demo_data.SOURCE,)}), app.tz)
    render.show(app.console, report, "table", title=f"Sample month by {by_text} (source={demo_data.SOURCE})")
    only = " --source demo" if chosen else ""
    quoted_range = " ".join(range_args)
    click.echo()
    click.echo("Next, on " + ("that ledger:" if chosen else "the demo ledger:"))
    for line in (f"report --by client,model{only}", f"top --by session{only}", f"trends {quoted_range}{only}",
                 f"export --tag client=acme{only} --format csv",
                 f"invoice --client acme --period {demo_data.PERIOD}"):
        click.echo(f"  {db} {line}")
    click.echo("Dashboard (needs pip install '.[server]'):")
    click.echo(f"  {db} serve")
    click.echo(f"  then open http://127.0.0.1:8787/?{query}")
    click.echo("Remove the sample from that ledger:" if chosen else "Remove the demo ledger's sample:")
    click.echo(f"  {db} db remove-demo")
    if where != app.store.url and is_postgres_url(app.store.url):
        click.echo("(put the ledger's password back in place of *** in these commands)")


COMMANDS = [demo]
