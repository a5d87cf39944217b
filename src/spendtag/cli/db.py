"""``spendtag db``: the ledger's schema, moving a ledger between SQLite and PostgreSQL, removing the demo."""

from __future__ import annotations

import click

from spendtag.cli.app import App
from spendtag.cli.catalog import HelpGroup


@click.group("db", cls=HelpGroup)
def db() -> None:
    """The ledger database: apply migrations, copy a whole ledger (SQLite <-> PostgreSQL), remove the demo's
    sample calls."""


@db.command("migrate")
@click.option("--db", "url", metavar="URL", help="Ledger to migrate [default: the global --db / SPENDTAG_DB].")
@click.pass_obj
def db_migrate(app: App, url: str | None) -> None:
    """Apply the schema migrations the ledger lacks and print their names.

    \b
      spendtag db migrate --db postgresql://spendtag@db.internal/spendtag
    """
    from spendtag.ledger import migrate

    applied = migrate(url or app.settings.db)
    if applied:
        for name in applied:
            click.echo(f"applied {name}")
    else:
        click.echo("up to date: no migration to apply")


@db.command("remove-demo")
@click.option("--db", "url", metavar="URL", help="Ledger to clean [default: the global --db / SPENDTAG_DB].")
@click.option("--dry-run", is_flag=True, help="Only say how many sample calls there are.")
@click.pass_obj
def db_remove_demo(app: App, url: str | None, dry_run: bool) -> None:
    """Remove the sample calls `spendtag demo` recorded (source=demo), and nothing else.

    Earlier versions loaded the demo into your own ledger: this takes it out again,
    with its cost revisions and its part of the rollups, so reports, exports, budget
    spend and the dashboard add up as if it had never been there (alerts that fired and
    invoices issued stay, as records of what happened). The ledger is append-only
    otherwise; the sample was never anyone's usage, so removing it loses no record.
    Running it again removes nothing more.

    \b
      spendtag db remove-demo --dry-run
      spendtag db remove-demo --db ~/ledgers/agency.db
    """
    from spendtag import demo as demo_data
    from spendtag.ledger import location, open_store

    target = url or app.settings.db
    store = open_store(target)
    try:
        n = demo_data.remove(store, dry_run=dry_run)
    finally:
        store.close()
    where = location(target)
    if dry_run:
        click.echo(f"{n:,} sample calls (source=demo) in {where}; nothing removed (--dry-run)")
    elif n:
        click.echo(f"removed {n:,} sample calls (source=demo) from {where}")
    else:
        click.echo(f"no sample calls (source=demo) in {where}: nothing to remove")


@db.command("copy")
@click.option("--from", "source", required=True, metavar="URL", help="The ledger to copy (left unchanged).")
@click.option("--to", "target", required=True, metavar="URL", help="The ledger to copy into (made if new).")
def db_copy(source: str, target: str) -> None:
    """Copy a whole ledger: events with prices, costs and revisions, budgets, alerts, keys,
    import states, price overrides, invoices and provider reports.

    Re-running it changes nothing. At the end both sides are compared (event counts, exact
    totals, rows per table); exit status 1 if they differ.

    \b
      spendtag db copy --from ~/ledger.db --to postgresql://spendtag@db.internal/spendtag
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from spendtag.ledger import open_store
    from spendtag.ledger.copy import copy_ledger

    err = Console(stderr=True)
    src = open_store(source)
    try:
        dst = open_store(target)
    except BaseException:
        src.close()
        raise
    try:
        with Progress(TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, transient=not err.is_terminal) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(stage: str, done: int, total: int) -> None:
                name = "events" if stage == "events" else ("verify" if stage == "verify" else "tables")
                if name not in tasks:
                    tasks[name] = bar.add_task(name, total=total or 1)
                if name == "tables":
                    bar.update(tasks[name], completed=done + 1, description=f"tables: {stage}")
                else:
                    bar.update(tasks[name], completed=done, total=total or 1)

            result = copy_ledger(src, dst, progress=progress)
    finally:
        src.close()
        dst.close()
    rows = sum(result.rows.values())
    click.echo(f"copied {result.inserted} new events ({result.events} in the source), {rows} other rows")
    if not result.ok:
        for line in result.differences:
            click.echo(f"differs: {line}", err=True)
        raise SystemExit(1)
    click.echo("verified: event counts, totals and table rows match")


COMMANDS = [db]
