"""``spendtag hook``: budgets enforced inside Claude Code, for users who only import its logs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from spendtag.cli.app import App
from spendtag.cli.catalog import HelpGroup


@click.group(cls=HelpGroup)
def hook() -> None:
    """Claude Code hook: warn and ask at notify thresholds, refuse at a blocking stop threshold."""


@hook.command("claude-code")
@click.pass_obj
def claude_code(app: App) -> None:
    """Answer a Claude Code hook event (JSON on stdin). Installed by `spendtag hook install`."""
    import platformdirs

    from spendtag.guard import hook as agent_hook

    try:
        payload = json.loads(sys.stdin.read() or "{}")
    except json.JSONDecodeError:
        payload = {}
    state = Path(platformdirs.user_state_dir("spendtag", appauthor=False)) / "hook-asked.json"
    answer = agent_hook.claude_code(payload if isinstance(payload, dict) else {}, app.store, app.budgets, app.rules,
                               app.tz, state)
    if answer is not None:
        click.echo(json.dumps(answer))


def claude_settings_path() -> Path:
    config = os.environ.get("CLAUDE_CONFIG_DIR", "").split(",")[0].strip()
    return (Path(config).expanduser() if config else Path.home() / ".claude") / "settings.json"


@hook.command("install")
@click.option("--settings", "settings_path", type=click.Path(dir_okay=False),
              help="Claude Code settings file [default: $CLAUDE_CONFIG_DIR/settings.json or ~/.claude/settings.json].")
@click.pass_obj
def install(app: App, settings_path: str | None) -> None:
    """Add `spendtag hook claude-code` to Claude Code's SessionStart and UserPromptSubmit hooks."""
    from spendtag.guard import hook as agent_hook

    path = Path(settings_path) if settings_path else claude_settings_path()
    try:
        changed = agent_hook.install(path)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise click.UsageError(f"cannot update {str(path)[:200]}: {exc.strerror or exc}") from None
    app.console.out(f"{'installed in' if changed else 'already installed in'} {path}")


COMMANDS = [hook]
