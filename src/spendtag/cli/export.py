"""``spendtag export``: one row per event for invoices and spreadsheets."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from spendtag.cli.app import App
from spendtag.cli.options import filter_options, selection
from spendtag.cli.target import open_new, output_path
from spendtag.report import exports, matching

if TYPE_CHECKING:
    from rich.console import Console


@click.command()
@filter_options
@click.option("--format", "fmt", type=click.Choice(exports.FORMATS), default="csv", show_default=True,
              help="File format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="File to write (default: stdout).")
@click.pass_obj
def export(app: App, /, fmt: str, output: str | None, **kwargs: Any) -> None:
    """Every event that matches, with every tag, token bucket, cost component and the price used.

    Money is written as exact decimal USD; CSV cells a spreadsheet would execute are
    neutralised with a leading quote. Writing to a file from a terminal shows a progress bar
    (on stderr).
    """
    sel = selection(app.tz, kwargs)
    if matching.filtered(sel.filters) or sel.range.since or sel.range.until:
        # Before anything is written: a file of no rows would bill $0.00.
        matching.require_calls(app.store, sel.filters, sel.range, sel.tz)
    total = exports.count(app.store, sel.filters)   # from the rollups: milliseconds
    workers = exports.workers_for(total)
    if not output:
        exports.write(app.store, sel.filters, fmt, sys.stdout, workers=workers)
        return
    target = output_path(output)
    tmp = target.with_name(target.name + ".partial")
    handle = os.fdopen(open_new(tmp), "w", encoding="utf-8", newline="")
    try:
        with handle:
            if shows_progress(app.err):
                n = _write_with_progress(app, sel.filters, fmt, handle, total, workers)
            else:
                n = exports.write(app.store, sel.filters, fmt, handle, workers=workers)
        output_path(target)     # still a regular file or nothing: the rename may replace it
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    app.err.print(f"wrote {n:,} events to {output}", markup=False)


def shows_progress(err: Console) -> bool:
    """A bar only for a person watching: stderr is a terminal, and not a CI job's log."""
    return err.is_terminal and os.environ.get("CI", "").lower() in ("", "0", "false")


def _write_with_progress(app: App, filters: Any, fmt: str, handle: Any, total: int, workers: int) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("exporting"), BarColumn(), TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
               TextColumn("{task.fields[rate]}"), TimeRemainingColumn())
    with Progress(*columns, console=app.err, transient=True) as bar:
        task = bar.add_task("export", total=total, rate="")

        def progress(done: int) -> None:
            speed = bar.tasks[0].speed
            bar.update(task, completed=done, rate=f"{speed:,.0f} rows/s" if speed else "")

        return exports.write(app.store, filters, fmt, handle, progress=progress, workers=workers)


COMMANDS = [export]
