"""``spendtag hook``: budgets enforced inside Claude Code, for users who only import its logs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from spendtag.cli.app import App
from spendtag.cli.catalog import HelpGroup
from spendtag.guard.agent_hooks import TARGETS, settings_path


@click.group(cls=HelpGroup)
def hook() -> None:
    """Claude Code hook: warn and ask at notify thresholds, refuse at a blocking stop threshold.

    Also Codex CLI, Gemini CLI, Qwen Code and Factory Droid: `spendtag hook install AGENT`.
    """


def _answer_command(agent: str, title: str) -> click.Command:
    @click.pass_obj
    def run(app: App) -> None:
        import platformdirs

        from spendtag.guard import hook as agent_hook

        try:
            payload = json.loads(sys.stdin.read() or "{}")
        except json.JSONDecodeError:
            payload = {}
        state = Path(platformdirs.user_state_dir("spendtag", appauthor=False)) / "hook-asked.json"
        answer = agent_hook.answer(payload if isinstance(payload, dict) else {}, app.store, app.budgets, app.rules,
                                   app.tz, state, agent=agent)
        if answer is not None:
            click.echo(json.dumps(answer))

    return click.Command(agent, callback=run,
                         help=f"Answer a {title} hook event (JSON on stdin). Installed by `spendtag hook install "
                              f"{agent}`.")


for _target in TARGETS.values():
    hook.add_command(_answer_command(_target.agent, _target.title))


def claude_settings_path() -> Path:
    return settings_path(TARGETS["claude-code"])


@hook.command("install")
@click.argument("agent", required=False, default="claude-code", type=click.Choice(list(TARGETS)))
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False),
              help="The agent's settings file [default: where the agent keeps it, e.g. ~/.claude/settings.json].")
@click.pass_obj
def install(app: App, agent: str, settings_file: str | None) -> None:
    """Add `spendtag hook AGENT` to the agent's session-start and prompt hooks (default: claude-code).

    Idempotent; every other setting is kept and the previous file is left as .bak.
    """
    from spendtag.guard import hook as agent_hook

    t = TARGETS[agent]
    path = Path(settings_file) if settings_file else settings_path(t)
    try:
        changed = agent_hook.install(path, t.command, t.events, t.timeout)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise click.UsageError(f"cannot update {str(path)[:200]}: {exc.strerror or exc}") from None
    app.console.out(f"{'installed in' if changed else 'already installed in'} {path}")


@hook.command("uninstall")
@click.argument("agent", required=False, default="claude-code", type=click.Choice(list(TARGETS)))
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False),
              help="The agent's settings file [default: where the agent keeps it].")
@click.pass_obj
def uninstall(app: App, agent: str, settings_file: str | None) -> None:
    """Remove `spendtag hook AGENT` from the agent's hooks (other hooks and settings are kept)."""
    from spendtag.guard import hook as agent_hook

    t = TARGETS[agent]
    path = Path(settings_file) if settings_file else settings_path(t)
    try:
        changed = agent_hook.uninstall(path, t.command, t.events)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise click.UsageError(f"cannot update {str(path)[:200]}: {exc.strerror or exc}") from None
    app.console.out(f"{'removed from' if changed else 'not installed in'} {path}")


COMMANDS = [hook]
