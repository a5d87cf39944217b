"""``spendtag``: the command line. Each command parses, calls the library, and formats."""

from __future__ import annotations

import importlib
from typing import Any

import click

from spendtag.cli import catalog
from spendtag.cli.app import App
from spendtag.cli.catalog import HelpGroup, summary
from spendtag.errors import SpendtagError


class UserError(click.ClickException):
    """A SpendtagError shown as one line: ``error: <what is wrong and the fix>``, exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", file=file, err=True)


# Command name -> module: a command's module (and what it imports, e.g. the price data) is
# loaded only when that command runs, which keeps start-up short for status lines and scripts.
LAZY_COMMANDS: dict[str, str] = {
    "agents": "spendtag.cli.agents",
    "alerts": "spendtag.cli.budget",
    "blocks": "spendtag.cli.agents",
    "import": "spendtag.cli.agents",
    "invoice": "spendtag.cli.billing",
    "keys": "spendtag.cli.proxy",
    "mcp": "spendtag.cli.mcp",
    "proxy": "spendtag.cli.proxy",
    "pull": "spendtag.cli.pull",
    "reconcile": "spendtag.cli.pull",
    "record-cost": "spendtag.cli.billing",
    "reprice": "spendtag.cli.billing",
    "quota": "spendtag.cli.agents",
    "retag": "spendtag.cli.agents",
    "rules": "spendtag.cli.rules",
    "run": "spendtag.cli.proxy",
    "serve": "spendtag.cli.serve",
    "session": "spendtag.cli.agents",
    "sessions": "spendtag.cli.agents",
    "statusline": "spendtag.cli.agents",
    "tag": "spendtag.cli.agents",
    "tokens": "spendtag.cli.serve",
    "watch": "spendtag.cli.agents",
    "anomalies": "spendtag.cli.budget",
    "budget": "spendtag.cli.budget",
    "check": "spendtag.cli.budget",
    "compare": "spendtag.cli.report",
    "db": "spendtag.cli.db",
    "demo": "spendtag.cli.demo",
    "event": "spendtag.cli.event",
    "export": "spendtag.cli.export",
    "forecast": "spendtag.cli.budget",
    "hook": "spendtag.cli.hook",
    "ingest": "spendtag.cli.record",
    "prices": "spendtag.cli.prices",
    "record": "spendtag.cli.record",
    "recommend": "spendtag.cli.recommend",
    "report": "spendtag.cli.report",
    "top": "spendtag.cli.report",
    "trends": "spendtag.cli.report",
}


class Group(HelpGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in LAZY_COMMANDS:
            module = importlib.import_module(LAZY_COMMANDS[cmd_name])
            found = next(c for c in module.COMMANDS if c.name == cmd_name)
        return found

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # From the catalog: listing the summaries must not import every command's module.
        listed = {name for name, _, _ in catalog.COMMANDS}
        others = []
        for name in self.list_commands(ctx):
            command = None if name in listed else self.get_command(ctx, name)
            if command is not None and not command.hidden:
                others.append((name, summary(command.help)))
        catalog.write_sections(formatter, others)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        for arg in args:
            _check_text(arg)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SpendtagError as exc:
            raise UserError(str(exc)) from None
        except BrokenPipeError:
            return None
        except Exception as exc:
            damaged = _ledger_damage(exc)
            if damaged is None:
                raise
            raise UserError(damaged) from None


def _check_text(arg: str) -> None:
    """An argument is UTF-8 text: bytes that are not (a Latin-1 terminal, a stray byte) reach Python as lone
    surrogates, which no tag, name or SQL parameter can hold. A path that exists is kept as it is."""
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        import os

        if not os.path.lexists(arg):
            shown = arg.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")[:200]
            raise click.UsageError(f"argument {shown!r} is not valid UTF-8 text: type it again in a UTF-8 "
                                   "terminal (e.g. LANG=C.UTF-8)") from None


def _ledger_damage(exc: Exception) -> str | None:
    """A ledger file SQLite cannot use (damaged, cut short, read-only, disk full): one line, not a traceback."""
    import sqlite3

    if not isinstance(exc, sqlite3.DatabaseError):
        return None
    text = str(exc)
    known = ("file is not a database", "database disk image is malformed", "disk I/O error", "readonly database",
             "database or disk is full", "unable to open database file")
    if not any(k in text for k in known):
        return None
    return (f"the ledger cannot be used: {text} "
            "(check the file named by --db / SPENDTAG_DB, or restore it from a backup)")


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--db", envvar="SPENDTAG_DB", show_envvar=True,
              help="Ledger: a SQLite file path or sqlite:/// URL, or postgresql://... [default: ledger.db in the user "
                   "data directory; for `spendtag demo`, demo.db there].")
@click.version_option(package_name="spendtag")
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """What every LLM call cost, and whom to bill for it.

    Record tagged usage, then report, export and check it per client, project, agent or
    session. Start with `spendtag demo`.
    """
    app = App(db=db)
    ctx.obj = app
    ctx.call_on_close(app.close)


def main() -> None:
    from spendtag.cli.entry import main as entry

    entry()


if __name__ == "__main__":   # `python -m spendtag.cli.main ...`, as the benchmarks run it
    main()
