"""``spendtag export``: one row per event for invoices and spreadsheets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from spendtag import exports, matching
from spendtag.cli.app import App
from spendtag.cli.options import filter_options, selection


@click.command()
@filter_options
@click.option("--format", "fmt", type=click.Choice(exports.FORMATS), default="csv", show_default=True,
              help="File format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="File to write (default: stdout).")
@click.pass_obj
def export(app: App, /, fmt: str, output: str | None, **kwargs: Any) -> None:
    """Every event that matches, with every tag, token bucket, cost component and the price used.

    Money is written as exact decimal USD; CSV cells a spreadsheet would execute are
    neutralised with a leading quote.
    """
    sel = selection(app.tz, kwargs)
    if matching.filtered(sel.filters) or sel.range.since or sel.range.until:
        # Before anything is written: a file of no rows would bill $0.00.
        matching.require_calls(app.store, sel.filters, sel.range, sel.tz)
    if output:
        tmp = Path(output).with_name(Path(output).name + ".partial")
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            n = exports.write(app.store, sel.filters, fmt, handle)
        tmp.replace(output)
        app.err.print(f"wrote {n:,} events to {output}", markup=False)
    else:
        exports.write(app.store, sel.filters, fmt, sys.stdout)


COMMANDS = [export]
