"""Coding agents: ``agents``, ``import``, ``retag``, ``tag session``, ``sessions``, ``session``, ``blocks``, ``quota``,
``statusline`` and ``watch``."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from spendtag.capture.agents import registry
from spendtag.cli.app import App
from spendtag.cli.catalog import HelpGroup
from spendtag.cli.options import filter_options, selection
from spendtag.cli.params import AMOUNT, DAYS, ROWS, SECONDS

AGENT_NAMES = registry.names()


def _money(pico: int | None) -> str:
    from spendtag.money import screen

    return "-" if pico is None else screen(pico)


def _cost_of(totals: Any) -> str:
    """A cost for people, unpriced calls counted beside it (never $0.00): as report tables show it."""
    from spendtag.cli.render import cost_of as shown

    return shown(totals)


def _tokens(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 1_000:
        return f"{n / 1_000:.0f}K"
    return str(n)


@click.command("agents")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per agent, in a list.")
@click.pass_obj
def agents_(app: App, as_json: bool) -> None:
    """Every supported coding agent: found on this machine or not, where, calls imported and when last.

    An agent not found lists the places looked at; `spendtag import AGENT PATH` reads one
    kept elsewhere.
    """
    import os

    from spendtag.report.agents import statuses

    rows = statuses(app.store, os.environ, Path.home(), registry.platform())
    if as_json:
        click.echo(json.dumps([r.as_json() for r in rows], indent=2))
        return
    from rich import box
    from rich.table import Table

    # No side borders and dates on two lines: the table fits 60 columns; a path folds onto
    # as many lines as it needs and is never cut short.
    t = Table(title="Coding agents", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("agent", overflow="fold", max_width=14)
    t.add_column("found")
    t.add_column("calls", justify="right")
    t.add_column("last")
    t.add_column("where", overflow="fold")
    for r in rows:
        shown = r.found or r.places
        last = f"{r.last_call.astimezone(app.tz):%Y-%m-%d\n%H:%M}" if r.last_call else "-"
        t.add_row(r.title, "yes" if r.found else "no", f"{r.calls:,}" if r.calls else "-", last,
                  "\n".join(str(p) for p in shown))
    app.console.print(t, soft_wrap=False)
    missing = sum(not r.found for r in rows)
    if missing:
        app.console.print(f"{len(rows) - missing} of {len(rows)} found ('where' lists the places looked in for the "
                          "others); import logs kept elsewhere with `spendtag import AGENT PATH`",
                          soft_wrap=True, markup=False)


@click.command("import")
@click.argument("agent", required=False, type=click.Choice(AGENT_NAMES))
@click.argument("path", required=False, type=click.Path(exists=True))
@click.option("--compare-logged-cost", is_flag=True, help="Show where costs written in the logs (costUSD) differ "
              "from spendtag's own prices.")
@click.option("--workers", type=click.IntRange(min=0, max=1024), default=None, metavar="N",
              help="Processes that read the logs (default: one per core when there is much to read; 0: none).")
@click.pass_obj
def import_(app: App, agent: str | None, path: str | None, compare_logged_cost: bool, workers: int | None) -> None:
    """Import coding agents' usage (Claude Code, Codex, Gemini CLI, OpenCode, Cursor and 11 more:
    `spendtag agents`): all found, or one agent [PATH].

    Incremental: only what was appended since the last import is read; a rewritten or
    truncated file is read again from the top; records repeated across files count once.
    """
    from spendtag.capture.agents import discover
    from spendtag.importing import import_files

    logs = discover(agent, Path(path) if path else None)
    if not logs:
        app.console.out("no agent logs found" + (f" for {agent}" if agent else "")
                        + " (`spendtag agents` shows where each agent was looked for)")
        return
    total = sum(log.path.stat().st_size for log in logs if log.path.exists()) if sys.stderr.isatty() else 0
    if total > 5_000_000:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        with Progress(TextColumn("importing"), BarColumn(), DownloadColumn(), console=app.err,
                      transient=True) as progress:
            task = progress.add_task("import", total=total)
            report = import_files(app.store, lambda: app.recorder, logs, app.rules, compare=compare_logged_cost,
                                  progress=lambda n: progress.advance(task, n), workers=workers,
                                  titles=app.settings["session_titles"] == "on")
    else:
        report = import_files(app.store, lambda: app.recorder, logs, app.rules, compare=compare_logged_cost,
                              workers=workers, titles=app.settings["session_titles"] == "on")
    # click.echo, not the rich console: an unchanged import should not pay for importing rich.
    updated = report.total("updated")
    click.echo(f"{len(logs):,} files ({report.unchanged:,} unchanged): {report.total('inserted'):,} new calls, "
               + (f"{updated:,} updated as they grew, " if updated else "")
               + f"{report.total('duplicates'):,} already recorded, {report.total('malformed'):,} malformed "
               f"lines skipped")
    shown = report.problems[:20]
    for problem in shown:   # soft_wrap: a path stays whole, to be copied
        app.err.print(f"  skipped {problem}", markup=False, highlight=False, soft_wrap=True)
    if report.total("malformed") > len(shown):
        app.err.print(f"  ... and {report.total('malformed') - len(shown):,} more", markup=False, soft_wrap=True)
    restarted = [f.path for f in report.files if f.restarted]
    if restarted:
        app.err.print(f"  {len(restarted)} rewritten files read again from the top", markup=False)
    if compare_logged_cost:
        _compare(app, report)
    if report.total("inserted") or updated:
        app.fire_alerts()


def _compare(app: App, report: Any) -> None:
    from spendtag.money import from_decimal

    rows = [f for f in report.files if f.logged_cost_usd]
    if not rows:
        app.console.out("no costs written in these logs (Claude Code stopped writing costUSD in 2025)")
        return
    for f in rows:
        logged = from_decimal(f.logged_cost_usd)
        diff = f.priced_cost - logged
        app.console.out(f"{f.path}: logged {_money(logged)}, spendtag {_money(f.priced_cost)}, "
                        f"difference {_money(diff)}")


@click.command()
@click.option("--dry-run", is_flag=True, help="Say how many calls would change, change nothing.")
@filter_options
@click.pass_obj
def retag(app: App, /, dry_run: bool, **kwargs: Any) -> None:
    """Apply the [attribution] rules of the config file to calls already recorded."""
    from spendtag.report import matching

    sel = selection(app.tz, kwargs)
    matching.check(app.store, sel.filters)
    rules = app.rules
    if not rules:
        raise click.UsageError("no [attribution] rules in the config file; see the README")

    def change(dims: Any, tags: Any) -> dict[str, str] | None:
        new = rules.apply(dims["project"] or None, tags)
        return None if new == dict(tags) else new

    if dry_run:
        n = sum(a.totals.requests for a in app.store.aggregate(sel.filters, ["project"], app.tz)
                if rules.tags_for(a.key[0]) and any(v != "" for v in rules.tags_for(a.key[0]).values()))
        app.console.out(f"up to {n:,} calls are under a rule's paths (nothing changed)")
        return
    moved = app.store.retag(sel.filters, change, "retag by attribution rules")
    app.console.out(f"retagged {moved:,} calls")


@click.group(cls=HelpGroup)
def tag() -> None:
    """Tag calls after the fact."""


@tag.command("session")
@click.argument("session_id")
@click.argument("tags", nargs=-1, required=True, metavar="KEY=VALUE...")
@click.pass_obj
def tag_session(app: App, session_id: str, tags: tuple[str, ...]) -> None:
    """Tag every call of SESSION_ID (or the one session it begins), e.g. `spendtag tag session 4f1c client=acme`."""
    from spendtag.ledger.query import Filters
    from spendtag.report.sessions import resolve
    from spendtag.tags import parse_pairs

    extra = parse_pairs(tags)
    session_id = resolve(app.store, session_id)
    moved = app.store.retag(Filters(dims={"session": (session_id,)}), lambda d, t: {**t, **extra},
                            f"tag session {session_id} {' '.join(tags)}")
    app.console.out(f"tagged {moved:,} calls of session {session_id}")


def _session_columns() -> tuple[Any, ...]:
    from spendtag.cli.tables import Column

    # Dropped first on a narrow terminal: tags, models, agent, tokens, duration, start; the
    # project and title are cut instead; the id (as `spendtag session` takes it) and cost stay.
    return (Column("session", keep=None), Column("project", shrink=True, keep=7, least=16),
            Column("title", shrink=True, keep=6, least=24), Column("start", keep=5),
            Column("duration", "right", keep=4, short="time"), Column("agent", shrink=True, keep=2),
            Column("models", shrink=True, keep=1), Column("tokens", "right", keep=3, short="tok"),
            Column("cost", "right", money=True), Column("tags", shrink=True, keep=0))


@click.command()
@click.option("--min-cost", type=AMOUNT, metavar="USD", help="Only sessions that cost at least this.")
@click.option("--limit", type=ROWS, default=30, show_default=True)
@click.option("--by-cost", is_flag=True, help="Costliest first (default: most recent first).")
@filter_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_obj
def sessions(app: App, /, min_cost: int | None, limit: int, by_cost: bool, fmt: str, **kwargs: Any) -> None:
    """Sessions with start, end, duration, project, agent, models, tokens, cost and tags."""
    from spendtag.report import matching
    from spendtag.report.sessions import list_sessions

    sel = selection(app.tz, kwargs)
    matching.check(app.store, sel.filters)
    titles = app.settings["session_titles"] == "on"
    rows = list_sessions(app.store, sel.filters, limit=limit, min_cost=min_cost or 0,
                         by_cost=by_cost, titles=titles)
    if not rows and matching.filtered(sel.filters) and not min_cost:
        note = matching.explain_empty(app.store, sel.filters, sel.range, sel.tz)
        if fmt != "json":
            click.echo(str(note))
            return
        click.echo(f"note: {note}", err=True)
    if fmt == "json":
        from spendtag.report.sessions import view_json

        app.console.out(json.dumps([view_json(r) for r in rows], indent=2))
        return
    from spendtag.cli.tables import build
    from spendtag.periods import duration_text

    table = [[r.session[:8], r.project, r.title or "", f"{r.start.astimezone(app.tz):%Y-%m-%d %H:%M}",
              duration_text(r.duration.total_seconds()), ", ".join(r.agent_labels), ", ".join(r.models),
              _tokens(r.totals.tokens), _cost_of(r.totals), " ".join(f"{k}={v}" for k, v in sorted(r.tags.items()))]
             for r in rows]
    columns = list(_session_columns())
    if not titles:   # (titles off: no column for them at all)
        del columns[2]
        table = [row[:2] + row[3:] for row in table]
    app.console.print(build(app.console, columns, table, title="Sessions"))


@click.command()
@click.argument("session_id")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_obj
def session(app: App, session_id: str, fmt: str) -> None:
    """One session in detail: tokens and cost per bucket and model, calls, average per call, cost per minute.

    SESSION_ID may be the start of an id, as `spendtag sessions` shows it, when only one session begins so.
    """
    from spendtag.report.sessions import detail, resolve

    d = detail(app.store, resolve(app.store, session_id), titles=app.settings["session_titles"] == "on")
    if d is None:
        raise click.UsageError(f"no calls recorded for session {session_id!r}")
    v = d.view
    if fmt == "json":
        from spendtag.report.sessions import detail_json

        app.console.out(json.dumps(detail_json(d), indent=2))
        return
    from spendtag.periods import duration_text

    def out(text: str) -> None:   # wrapped to the terminal (a long project path folds), never cut
        app.console.print(text, markup=False, highlight=False)

    out(f"session {v.session}")
    if v.project or v.title:
        out(" · ".join(x for x in (", ".join(v.projects), v.title) if x))
    out(f"{v.start.astimezone(app.tz):%Y-%m-%d %H:%M} – {v.end.astimezone(app.tz):%H:%M} "
        f"({duration_text(v.duration.total_seconds())}) · {', '.join(v.agent_labels) or '-'}")
    if v.tags:
        out("tags: " + " ".join(f"{k}={val}" for k, val in sorted(v.tags.items())))
    out(f"cost {_cost_of(v.totals)} · {v.totals.requests:,} calls")
    out(f"{_money(d.average_per_call)} per call · {_money(v.cost_per_minute)} per minute")
    for bucket, n in d.tokens.items():
        cost = d.costs.get(bucket)
        out(f"  {bucket:<24} {n:>14,}" + (f"  {_money(cost)}" if cost else ""))
    for comp, cost in d.costs.items():
        if comp not in d.tokens:
            out(f"  {comp:<24} {'':>14}  {_money(cost)}")
    for model, t in sorted(d.by_model.items(), key=lambda kv: (-kv[1].cost, kv[0])):
        ids = [m for m in d.model_ids.get(model, ()) if m != model]
        out(f"  model {model}: {_cost_of(t)} ({t.requests:,} calls)" + (f" as {', '.join(ids)}" if ids else ""))


@click.command()
@click.option("--days", type=DAYS, help="How far back from now.  [default: 3]")
@click.option("--since", help="The blocks from this time on instead: 2026-09-01 or 2026-09-01T10:00:00Z.")
@click.option("--until", help="... and before this time.")
@click.option("--active", is_flag=True, help="Only the active block.")
@click.option("--agent", "agents", multiple=True, type=click.Choice(AGENT_NAMES),
              help="Only this coding agent's calls (repeat for several).  [default: claude-code]")
@click.option("--all-agents", is_flag=True, help="The calls of every coding agent imported.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_obj
def blocks(app: App, days: int | None, since: str | None, until: str | None, active: bool,
           agents: tuple[str, ...], all_agents: bool, fmt: str) -> None:
    """Claude's 5-hour usage windows: cost, tokens, and the active block's burn rate and projection.

    Other agents with 5-hour limits (Codex) are read with --agent; --all-agents takes every agent's calls.
    """
    from spendtag.money import exact_str
    from spendtag.periods import parse_instant
    from spendtag.report.sessions import blocks as find_blocks

    if days is not None and (since or until):
        raise click.UsageError("give --days, or --since/--until, not both")
    now = datetime.now(UTC)
    start = parse_instant(since, app.tz) if since else now - timedelta(days=3 if days is None else days)
    end = parse_instant(until, app.tz) if until else None
    # A block's start depends on the calls before it: begin a day early, show those that reach the range.
    if agents and all_agents:
        raise click.UsageError("give --agent, or --all-agents, not both")
    sources = AGENT_NAMES if all_agents else agents or ("claude-code",)
    found = [b for b in find_blocks(app.store, since=start - timedelta(days=1), until=end, sources=sources)
             if b.end > start]
    if active:
        found = [b for b in found if b.active(now)]
    if fmt == "json":
        app.console.out(json.dumps([{
            "start": b.start.isoformat(), "end": b.end.isoformat(), "active": b.active(now),
            "requests": b.totals.requests, "tokens": b.totals.tokens, "cost_usd": exact_str(b.totals.cost),
            "burn_rate_usd_per_hour": exact_str(b.burn_rate) if b.active(now) else None,
            "projected_usd": exact_str(b.projected(now)) if b.active(now) else None, "models": sorted(b.models),
        } for b in found], indent=2))
        return
    if not found:
        names = ", ".join(sources)
        app.console.out(f"no {names} usage in that time (import it with `spendtag import`)")
    from spendtag.periods import duration_text

    for b in found:
        app.console.out(f"{b.start.astimezone(app.tz):%Y-%m-%d %H:%M} – {b.end.astimezone(app.tz):%H:%M}  "
                        f"{_tokens(b.totals.tokens):>7} tok  {_cost_of(b.totals):>10}  {b.totals.requests:,} calls")
        if b.active(now):   # on a line of its own: the block's line stays within 60 columns
            app.console.out(f"  ACTIVE: {_money(b.burn_rate)}/h, projected {_money(b.projected(now))}, "
                            f"{duration_text((b.end - now).total_seconds())} left")


@click.command()
@click.pass_obj
def quota(app: App) -> None:
    """Subscription use in the current 5-hour block (tokens, messages, per project) against [quota] limits."""
    from spendtag.report.sessions import Quota, current_block, percent

    q = Quota.from_config(app.settings.sections.get("quota"), path=str(app.settings.config_path))
    block = current_block(app.store)
    if block is None:
        app.console.out("no active 5-hour block")
        return
    tokens, messages = block.totals.tokens, block.totals.requests
    tp, mp = percent(tokens, q.tokens_per_block), percent(messages, q.messages_per_block)
    app.console.out(f"block {block.start.astimezone(app.tz):%H:%M} – {block.end.astimezone(app.tz):%H:%M} "
                    f"(plan {q.plan})")
    app.console.out(f"tokens: {tokens:,}" + (f" of {q.tokens_per_block:,} ({tp}%)" if tp is not None else ""))
    app.console.out(f"messages: {messages:,}" + (f" of {q.messages_per_block:,} ({mp}%)" if mp is not None else ""))
    for project, n in sorted(block.projects.items(), key=lambda kv: -kv[1]):
        app.console.out(f"  {project}: {n:,} tokens")
    if tp is None and mp is None:
        app.console.out("set limits in the config file: [quota] tokens_per_block = ..., messages_per_block = ...")


@click.command()
@click.pass_obj
def statusline(app: App) -> None:
    """One line for Claude Code's status line (reads its JSON on stdin): client · session · tokens · budget."""
    from spendtag.report.statusline import line

    try:
        payload = json.loads(sys.stdin.read() or "{}")
    except json.JSONDecodeError:
        payload = {}
    click.echo(line(payload if isinstance(payload, dict) else {}, app.store, app.budgets, app.rules, app.tz,
                    client_key=app.settings["client_key"]))


@click.command()
@click.option("--interval", type=SECONDS, default=5.0, show_default=True,
              help="Seconds between refreshes.")
@click.option("--once", is_flag=True, help="Import and draw once, then exit.")
@click.pass_obj
def watch(app: App, interval: float, once: bool) -> None:
    """A live view as logs grow: today's cost, the active session, burn rate, budgets left."""
    from rich.live import Live

    from spendtag.capture.agents import discover
    from spendtag.cli.live import dashboard
    from spendtag.importing import import_files

    def frame() -> Any:
        import_files(app.store, lambda: app.recorder, discover(), app.rules,
                     titles=app.settings["session_titles"] == "on")
        return dashboard(app.store, app.budgets, app.tz, datetime.now(UTC))

    if once:
        app.console.print(frame())
        return
    with Live(frame(), console=app.console, refresh_per_second=1, screen=False) as live:
        try:
            while True:
                time.sleep(interval)
                live.update(frame())
        except KeyboardInterrupt:
            pass


COMMANDS = [agents_, import_, retag, tag, sessions, session, blocks, quota, statusline, watch]
