"""``spendtag --help``: every command under its job, each summary whole, without importing every command."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from spendtag.cli import catalog
from spendtag.cli.main import LAZY_COMMANDS, cli

# CliRunner formats help 80 columns wide, whatever the terminal.
SECTIONS = """\
Record:
  record       Record one call from the provider's own usage JSON.
  ingest       Record a JSONL file of provider responses or normalised events
               ('-' or nothing: stdin).
  import       Import coding agents' usage (Claude Code, Codex, Gemini CLI,
               OpenCode, Cursor and 11 more: `spendtag agents`): all found, or
               one agent [PATH].
  agents       Every supported coding agent: found on this machine or not,
               where, calls imported and when last.
  run          Run COMMAND (e.g. `-- claude`) with every LLM call it makes going
               through the proxy, tagged.
  tag          Tag calls after the fact.
  retag        Apply the [attribution] rules of the config file to calls already
               recorded.
  rules        Attribution rules (project path -> tags): list them, add one to
               the ledger, remove one.

Report:
  report       Spend grouped by a tag or dimension, with shares, tokens and
               request counts.
  top          The most expensive sessions (or agents, models, clients...).
  trends       Spend over time as a terminal bar chart (default: the last 30
               days by day).
  compare      Side by side: e.g. `spendtag compare client=acme client=globex`.
  recommend    Where to save: a cheaper model for the same tokens, and agents
               that barely use prompt caching.
  export       Every event that matches, with every tag, token bucket, cost
               component and the price used.
  sessions     Sessions with start, end, duration, project, agent, models,
               tokens, cost and tags.
  session      One session in detail: tokens and cost per bucket and model,
               calls, average per call, cost per minute.
  event        One recorded call: its dimensions, tags, tokens, cost and the
               price used, and every earlier cost.
  blocks       Claude's 5-hour usage windows: cost, tokens, and the active
               block's burn rate and projection.
  quota        Subscription use in the current 5-hour block (tokens, messages,
               per project) against [quota] limits.
  watch        A live view as logs grow: today's cost, the active session, burn
               rate, budgets left.
  statusline   One line for Claude Code's status line (reads its JSON on stdin):
               client · session · tokens · budget.

Bill:
  invoice      Invoice a client for a period: the document you send, with
               seller, bill-to, items, tax, total due.
  record-cost  Record a fixed AMOUNT in USD (a subscription, a tool fee,
               compute) against tags.
  prices       List prices (genai-prices, bundled), your overrides, and unpriced
               models.
  reprice      Recompute recorded costs with the current list prices and
               overrides.
  pull         Provider usage and cost reports (Anthropic, OpenAI admin APIs):
               pull, show, status.
  reconcile    The ledger's cost against the provider's cost report, per UTC
               day, model and API key, with likely causes.

Guard:
  budget       Spending limits per client, project, agent, key or everything,
               with alerts and hard stops.
  check        Check the budgets covering a scope (all budgets without one), for
               scripts, CI and cron.
  alerts       Alerts that fired (newest first); `spendtag alerts test CHANNEL`
               sends a test alert.
  forecast     Projected end-of-month spend (weekday-aware), its range, and when
               a limit runs out.
  anomalies    Scopes whose spend, cost per call or request rate left their own
               baseline (a runaway agent...).
  hook         Claude Code hook: warn and ask at notify thresholds, refuse at a
               blocking stop threshold.

Serve:
  serve        Open the dashboard and receive usage over HTTP, on one port.
  proxy        Serve the metering proxy: point a client's base URL at it and
               every call is tagged, priced and recorded.
  keys         Virtual keys for the proxy: a client gets a spendtag key, the
               provider key stays on the server.
  mcp          Serve the Model Context Protocol on stdio: agents ask their
               spend, budgets, forecast and sessions (read-only).
  tokens       Dashboard access: read-only tokens, and links that show one
               client only its own spend.

Admin:
  demo         Load a sample month of agency spend (March 2026) into a demo
               ledger and report it.
  db           The ledger database: apply migrations, copy a whole ledger
               (SQLite <-> PostgreSQL), remove the demo's sample calls.
"""


def help_text(*args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--help"], prog_name="spendtag", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def groups() -> list[tuple[str, click.Group]]:
    ctx = click.Context(cli)
    found = []
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        if isinstance(command, click.Group):
            found.append((name, command))
    return found


def test_every_command_is_in_the_catalog_once_under_a_known_job() -> None:
    names = [name for name, _, _ in catalog.COMMANDS]
    assert sorted(names) == sorted(cli.list_commands(click.Context(cli))) == sorted(LAZY_COMMANDS)
    assert len(names) == len(set(names))
    assert {job for _, job, _ in catalog.COMMANDS} == set(catalog.SECTIONS)


@pytest.mark.parametrize(("name", "job", "text"), catalog.COMMANDS, ids=[c[0] for c in catalog.COMMANDS])
def test_catalog_summary_is_the_commands_own(name: str, job: str, text: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    assert text == catalog.summary(command.help)


def test_top_level_help_lists_the_commands_by_job() -> None:
    out = help_text()
    assert out.startswith("Usage: spendtag [OPTIONS] COMMAND [ARGS]...\n\n"
                          "  What every LLM call cost, and whom to bill for it.")
    assert out[out.index("Record:"):] == SECTIONS
    assert "Commands:" not in out


def test_help_imports_no_command_module() -> None:
    code = ("import sys; sys.argv = ['spendtag', '--help']\n"
            "from spendtag.cli.entry import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted({m for m in sys.modules if m in " + repr(sorted(set(LAZY_COMMANDS.values()))) + "}),"
            " file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "[]"
    assert "Record:" in done.stdout


@pytest.mark.parametrize("path", [[]] + [[name] for name, _ in groups()], ids=lambda p: " ".join(p) or "spendtag")
def test_every_summary_is_shown_whole(path: list[str]) -> None:
    """Read back without line breaks, every subcommand's line is its whole summary (click cut them at "e.g.")."""
    group = cli if not path else dict(groups())[path[0]]
    flat = " ".join(help_text(*path).split())
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        assert f"{name} {catalog.summary(command.help)}" in flat


def test_compare_and_run_are_no_longer_cut_at_eg() -> None:
    flat = " ".join(help_text().split())
    assert "compare Side by side: e.g. `spendtag compare client=acme client=globex`." in flat
    assert "run Run COMMAND (e.g. `-- claude`) with every LLM call it makes going through the proxy, tagged." in flat
    assert "..." not in help_text("budget").split("Commands:")[1]
