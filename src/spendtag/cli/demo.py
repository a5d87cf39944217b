"""``spendtag demo``: a sample month in the ledger, and its per-client report."""

from __future__ import annotations

import click

from spendtag import demo as demo_data
from spendtag.cli import render
from spendtag.cli.app import App
from spendtag.ledger.query import Filters
from spendtag.reports import build


@click.command()
@click.option("--days", type=click.IntRange(1, 400), default=30, show_default=True, help="How many days of data.")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed (same seed, same data).")
@click.option("--by", "by_text", default="client", show_default=True, help="Report grouping to print afterwards.")
@click.pass_obj
def demo(app: App, days: int, seed: int, by_text: str) -> None:
    """Load a realistic sample month (clients, projects, agents, sessions) and report it.

    The sample is tagged source=demo; running it again records nothing twice.
    """
    with app.err.status("loading the sample month…"):
        result = app.recorder.record(demo_data.events(days=days, seed=seed))
    app.err.print(f"sample data: {result.inserted:,} calls recorded, {result.duplicates:,} already there "
                  f"· ledger: {app.store.url}", markup=False, highlight=False)
    report = build(app.store, by_text.split(","), Filters(dims={"source": (demo_data.SOURCE,)}), app.tz)
    render.show(app.console, report, "table", title=f"Sample month by {by_text} (source=demo)")
    app.console.out("Next: spendtag report --by client,model · spendtag top --by session · "
                    "spendtag trends · spendtag export --tag client=acme --format csv")
    app.console.out("Dashboard: spendtag serve, then open http://127.0.0.1:8787/ (needs pip install '.[server]')")


COMMANDS = [demo]
