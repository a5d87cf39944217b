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
    "alerts": "spendtag.cli.budget",
    "blocks": "spendtag.cli.agents",
    "import": "spendtag.cli.agents",
    "invoice": "spendtag.cli.billing",
    "keys": "spendtag.cli.proxy",
    "proxy": "spendtag.cli.proxy",
    "pull": "spendtag.cli.pull",
    "reconcile": "spendtag.cli.pull",
    "record-cost": "spendtag.cli.billing",
    "reprice": "spendtag.cli.billing",
    "quota": "spendtag.cli.agents",
    "retag": "spendtag.cli.agents",
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

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SpendtagError as exc:
            raise UserError(str(exc)) from None
        except BrokenPipeError:
            return None


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
