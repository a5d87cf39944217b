"""``spendtag``: the command line. Each command parses, calls the library, and formats."""

from __future__ import annotations

from typing import Any

import click

from spendtag.cli.app import App
from spendtag.errors import SpendtagError


class UserError(click.ClickException):
    """A SpendtagError shown as one line: ``error: <what is wrong and the fix>``, exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", file=file, err=True)


class Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SpendtagError as exc:
            raise UserError(str(exc)) from None
        except BrokenPipeError:
            return None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--db", envvar="SPENDTAG_DB", show_envvar=True,
              help="Ledger: a SQLite file path or sqlite:/// URL [default: ledger.db in the user data directory].")
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


def _register() -> None:
    from spendtag.cli import demo, export, prices, record, report

    for module in (demo, record, report, export, prices):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="spendtag")
