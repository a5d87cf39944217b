"""``spendtag mcp``: serve the ledger's answers to coding agents; ``mcp install HOST`` adds it to a host."""

from __future__ import annotations

import shutil
import sys

import click

from spendtag.cli.app import App
from spendtag.cli.catalog import HelpGroup

HOST_NAMES = ("claude-code", "cursor", "gemini-cli", "qwen-code", "codex", "droid", "copilot-cli", "windsurf",
              "vscode", "cline", "opencode", "crush")


@click.group("mcp", cls=HelpGroup, invoke_without_command=True)
@click.pass_context
def mcp(ctx: click.Context) -> None:
    """Serve the Model Context Protocol on stdio: agents ask their spend, budgets, forecast and sessions (read-only).

    \b
    Tools: spend, budget_status, forecast, session_cost, top_sessions. Nothing they do
    changes the ledger: it is opened refusing writes.
      spendtag mcp install claude-code      (or cursor, gemini-cli, codex, vscode, ...)
    """
    if ctx.invoked_subcommand is not None:
        return
    from spendtag.server.mcp.serve import require_mcp_extra

    require_mcp_extra()
    from spendtag.server.mcp.answers import Ledger
    from spendtag.server.mcp.serve import serve

    app: App = ctx.obj
    store = app.store
    ledger = Ledger(store, app.budgets, app.rules, app.tz, client_key=app.settings["client_key"])
    store.refuse_writes()
    serve(ledger)


def _server_command(app: App) -> tuple[str, list[str], str | None]:
    """The command a host runs, its arguments, and a note for the user (or None)."""
    from spendtag.ledger import is_postgres_url

    exe = shutil.which("spendtag")
    command, prefix = (exe, []) if exe else (sys.executable, ["-m", "spendtag.cli.main"])
    db = app.settings.db
    if is_postgres_url(db):
        # A URL may hold a password: it is not written into another program's settings.
        return command, [*prefix, "mcp"], "the ledger is PostgreSQL: set SPENDTAG_DB in the host's environment"
    return command, [*prefix, "--db", db, "mcp"], None


@mcp.command("install")
@click.argument("host", type=click.Choice(HOST_NAMES))
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="The host's configuration file [default: where the host keeps it for the user].")
@click.pass_obj
def install(app: App, host: str, config_file: str | None) -> None:
    """Add `spendtag mcp` to HOST's MCP servers (merged: other settings kept, the old file kept as .bak)."""
    from pathlib import Path

    from spendtag.server.mcp import hosts

    h = hosts.host(host)
    path = Path(config_file) if config_file else hosts.config_path(h)
    command, args, note = _server_command(app)
    try:
        changed = hosts.install(h, path, command, args)
    except OSError as exc:
        raise click.UsageError(f"cannot update {str(path)[:200]}: {exc.strerror or exc}") from None
    click.echo(f"{'added to' if changed else 'already in'} {path} ({h.title}): {command} {' '.join(args)}")
    if note:
        click.echo(f"note: {note}")


@mcp.command("uninstall")
@click.argument("host", type=click.Choice(HOST_NAMES))
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="The host's configuration file [default: where the host keeps it for the user].")
def uninstall(host: str, config_file: str | None) -> None:
    """Remove `spendtag mcp` from HOST's MCP servers."""
    from pathlib import Path

    from spendtag.server.mcp import hosts

    h = hosts.host(host)
    path = Path(config_file) if config_file else hosts.config_path(h)
    try:
        changed = hosts.uninstall(h, path)
    except OSError as exc:
        raise click.UsageError(f"cannot update {str(path)[:200]}: {exc.strerror or exc}") from None
    click.echo(f"{'removed from' if changed else 'not in'} {path}")


COMMANDS = [mcp]
