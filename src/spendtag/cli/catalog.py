"""What ``spendtag --help`` lists: every command under the job it does, with its summary whole.

Commands load lazily (``main.LAZY_COMMANDS``), so the top-level help reads this table rather
than importing every command's module. A summary is the first paragraph of the command's
docstring; ``tests/test_cli_help.py`` checks each one against its command, so they cannot drift.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import click

SECTIONS: tuple[str, ...] = ("Record", "Report", "Bill", "Guard", "Serve", "Admin")

# (command, section, summary), in the order --help shows them.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("record", "Record", "Record one call from the provider's own usage JSON."),
    ("ingest", "Record", "Record a JSONL file of provider responses or normalised events ('-' or nothing: stdin)."),
    ("import", "Record",
     "Import coding agents' usage (Claude Code, Codex, Gemini CLI, OpenCode, Cursor and 11 more: "
     "`spendtag agents`): all found, or one agent [PATH]."),
    ("agents", "Record",
     "Every supported coding agent: found on this machine or not, where, calls imported and when last."),
    ("run", "Record", "Run COMMAND (e.g. `-- claude`) with every LLM call it makes going through the proxy, tagged."),
    ("tag", "Record", "Tag calls after the fact."),
    ("retag", "Record", "Apply the [attribution] rules of the config file to calls already recorded."),
    ("rules", "Record", "Attribution rules (project path -> tags): list them, add one to the ledger, remove one."),
    ("report", "Report", "Spend grouped by a tag or dimension, with shares, tokens and request counts."),
    ("top", "Report", "The most expensive sessions (or agents, models, clients...)."),
    ("trends", "Report", "Spend over time as a terminal bar chart (default: the last 30 days by day)."),
    ("compare", "Report", "Side by side: e.g. `spendtag compare client=acme client=globex`."),
    ("recommend", "Report",
     "Where to save: a cheaper model for the same tokens, and agents that barely use prompt caching."),
    ("export", "Report", "Every event that matches, with every tag, token bucket, cost component and the price used."),
    ("sessions", "Report", "Sessions with start, end, duration, project, agent, models, tokens, cost and tags."),
    ("session", "Report",
     "One session in detail: tokens and cost per bucket and model, calls, average per call, cost per minute."),
    ("event", "Report",
     "One recorded call: its dimensions, tags, tokens, cost and the price used, and every earlier cost."),
    ("blocks", "Report",
     "Claude's 5-hour usage windows: cost, tokens, and the active block's burn rate and projection."),
    ("quota", "Report",
     "Subscription use in the current 5-hour block (tokens, messages, per project) against [quota] limits."),
    ("watch", "Report", "A live view as logs grow: today's cost, the active session, burn rate, budgets left."),
    ("statusline", "Report",
     "One line for Claude Code's status line (reads its JSON on stdin): client · session · tokens · budget."),
    ("invoice", "Bill", "Invoice a client for a period: the document you send, with seller, bill-to, items, tax, "
                        "total due."),
    ("record-cost", "Bill", "Record a fixed AMOUNT in USD (a subscription, a tool fee, compute) against tags."),
    ("prices", "Bill", "List prices (genai-prices, bundled), your overrides, and unpriced models."),
    ("reprice", "Bill", "Recompute recorded costs with the current list prices and overrides."),
    ("pull", "Bill", "Provider usage and cost reports (Anthropic, OpenAI admin APIs): pull, show, status."),
    ("reconcile", "Bill",
     "The ledger's cost against the provider's cost report, per UTC day, model and API key, with likely causes."),
    ("budget", "Guard", "Spending limits per client, project, agent, key or everything, with alerts and hard stops."),
    ("check", "Guard",
     "Check the budgets covering a scope (all budgets without one), for scripts, CI and cron."),
    ("alerts", "Guard", "Alerts that fired (newest first); `spendtag alerts test CHANNEL` sends a test alert."),
    ("forecast", "Guard", "Projected end-of-month spend (weekday-aware), its range, and when a limit runs out."),
    ("anomalies", "Guard",
     "Scopes whose spend, cost per call or request rate left their own baseline (a runaway agent...)."),
    ("hook", "Guard", "Claude Code hook: warn and ask at notify thresholds, refuse at a blocking stop threshold."),
    ("serve", "Serve", "Open the dashboard and receive usage over HTTP, on one port."),
    ("proxy", "Serve",
     "Serve the metering proxy: point a client's base URL at it and every call is tagged, priced and recorded."),
    ("keys", "Serve",
     "Virtual keys for the proxy: a client gets a spendtag key, the provider key stays on the server."),
    ("mcp", "Serve", "Serve the Model Context Protocol on stdio: agents ask their spend, budgets, forecast and "
     "sessions (read-only)."),
    ("tokens", "Serve", "Dashboard access: read-only tokens, and links that show one client only its own spend."),
    ("demo", "Admin", "Load a sample month of agency spend (March 2026) into a demo ledger and report it."),
    ("db", "Admin",
     "The ledger database: apply migrations, copy a whole ledger (SQLite <-> PostgreSQL), remove the demo's "
     "sample calls."),
)


def summary(help_text: str | None) -> str:
    """A command's summary: the first paragraph of its help, on one line."""
    if not help_text:
        return ""
    return " ".join(inspect.cleandoc(help_text).split("\n\n", 1)[0].split())


class HelpGroup(click.Group):
    """A command group whose ``--help`` shows each subcommand's summary whole.

    click shortens a summary to ~45 characters and to its first sentence, which ends at
    the first period: "Side by side: e.g." was all ``compare`` said.
    """

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, inspect.cleandoc(command.short_help) if command.short_help
                             else summary(command.help)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def write_sections(formatter: click.HelpFormatter, others: Sequence[tuple[str, str]] = ()) -> None:
    """The top-level command list: one section per job, names in one column across all sections;
    ``others`` (commands missing from COMMANDS) last."""
    width = max(len(name) for name in (*(c[0] for c in COMMANDS), *(o[0] for o in others)))
    for section in SECTIONS:
        with formatter.section(section):
            formatter.write_dl([(name.ljust(width), text) for name, job, text in COMMANDS if job == section])
    if others:
        with formatter.section("Other"):
            formatter.write_dl([(name.ljust(width), text) for name, text in others])
