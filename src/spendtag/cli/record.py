"""``spendtag record`` and ``spendtag ingest``: usage into the ledger."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from spendtag.capture.lines import event_from_line
from spendtag.cli.app import App
from spendtag.errors import SpendtagError, UsageFormatError
from spendtag.money import format_usd
from spendtag.periods import parse_instant
from spendtag.recording import IngestStats, build_event
from spendtag.tags import parse_pairs
from spendtag.usage import UsageEvent


@click.command()
@click.option("--provider", required=True, help="Provider: anthropic, openai, google, deepseek, groq, mistral, ...")
@click.option("--model", help="Model as the response reported it (optional when --usage is a whole response).")
@click.option("--usage", "usage_json", required=True, metavar="JSON",
              help="The provider's own usage object (or whole response body) as JSON; '-' reads stdin.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag, e.g. client=acme. Repeatable.")
@click.option("--project", help="Project path or name.")
@click.option("--session", help="Session id.")
@click.option("--agent", help="Agent name.")
@click.option("--user", help="End user id.")
@click.option("--event-id", help="Idempotency key: recording the same id again changes nothing.")
@click.option("--ts", help="When the call happened (default: now), e.g. 2026-03-14T10:00:00Z.")
@click.pass_obj
def record(app: App, provider: str, model: str | None, usage_json: str, tags: tuple[str, ...],
           project: str | None, session: str | None, agent: str | None, user: str | None,
           event_id: str | None, ts: str | None) -> None:
    """Record one call from the provider's own usage JSON."""
    text = sys.stdin.read() if usage_json == "-" else usage_json
    try:
        usage = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageFormatError(f"--usage is not valid JSON: {exc.msg} at character {exc.pos}") from None
    except RecursionError:
        raise UsageFormatError("--usage is nested too deep to be a usage object") from None
    if not isinstance(usage, dict):
        raise UsageFormatError("--usage must be a JSON object")
    event = build_event(
        provider, model, usage, tags=parse_pairs(tags), project=project, session=session, agent=agent,
        user=user, event_id=event_id, ts=parse_instant(ts, app.tz) if ts else None, source="cli",
    )
    priced, new = app.recorder.record_one(event)
    cost = format_usd(priced.cost.total, places=6) if priced.cost.priced else "unpriced"
    state = "recorded" if new else "already recorded (unchanged)"
    app.console.out(f"{state}: {event.event_id} · {event.provider}/{event.model} · {cost}")
    ref = priced.cost.price
    if not priced.cost.priced and ref is not None and ref.source == "bounds":
        app.err.print(f"[yellow]warning:[/] recorded as unpriced: {ref.note.removeprefix('unpriced: ')}; "
                      "check the token counts (and any price override)", markup=True)
    elif not priced.cost.priced:
        app.err.print(f"[yellow]warning:[/] no price known for {event.provider}/{event.model}; "
                      "add one with `spendtag prices override`")
    if new:
        app.fire_alerts()


@click.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--provider", help="Provider of bare response bodies when it cannot be told from their shape.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Tags added to every event. Repeatable.")
@click.option("--source", default="ingest", show_default=True, help="Source name recorded on the events.")
@click.pass_obj
def ingest(app: App, files: tuple[str, ...], provider: str | None, tags: tuple[str, ...], source: str) -> None:
    """Record a JSONL file of provider responses or normalised events ('-' or nothing: stdin).

    Each line's event_id, or else a hash of the line, is its identity: ingesting a file
    twice records nothing new. Malformed lines are skipped and counted.
    """
    extra = parse_pairs(tags)
    stats = IngestStats()
    now = datetime.now(UTC)
    paths = list(files) or ["-"]
    for path in paths:
        _check_readable(path)

    def events(progress: Progress | None) -> Iterator[UsageEvent]:
        for path in paths:
            # Bytes that are not UTF-8 are replaced (U+FFFD): such a line is read like any other.
            handle: IO[str] = (sys.stdin if path == "-"
                               else open(path, encoding="utf-8", errors="replace"))  # noqa: SIM115
            size = 0 if path == "-" else Path(path).stat().st_size
            task = progress.add_task(Path(path).name if path != "-" else "stdin", total=size or None) \
                if progress else None
            try:
                for number, line in enumerate(handle, 1):
                    if progress is not None and task is not None:
                        progress.advance(task, len(line.encode("utf-8")))
                    try:
                        event = event_from_line(line, source=source, now=now, default_provider=provider)
                    except SpendtagError as exc:
                        stats.note(f"{path}:{number}", str(exc))
                        continue
                    if event is None:
                        if line.strip():
                            stats.skipped += 1
                        continue
                    if extra:
                        event.tags = {**event.tags, **extra}
                    yield event
            finally:
                if handle is not sys.stdin:
                    handle.close()

    show_progress = app.err.is_terminal
    if show_progress:
        columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn())
        with Progress(*columns, console=app.err, transient=True) as progress:
            result = app.recorder.record(events(progress))
    else:
        result = app.recorder.record(events(None))
    stats.inserted, stats.duplicates = result.inserted, result.duplicates
    app.console.out(f"recorded {stats.inserted:,} new events, {stats.duplicates:,} already recorded, "
                    f"{stats.skipped:,} lines without usage, {stats.malformed:,} malformed lines skipped")
    for problem in stats.problems:
        app.err.print(f"  skipped {problem}", markup=False, soft_wrap=True)
    if stats.malformed > len(stats.problems):
        app.err.print(f"  ... and {stats.malformed - len(stats.problems)} more", markup=False)
    if stats.inserted:
        app.fire_alerts()


def _check_readable(path: str) -> None:
    """Every file is checked before any is read: a wrong path records nothing."""
    if path == "-":
        return
    try:
        with open(path, "rb"):
            pass
    except FileNotFoundError:
        raise SpendtagError(f"{path}: no such file (give a JSONL file, or '-' to read stdin)") from None
    except OSError as exc:
        raise SpendtagError(f"{path}: cannot read it ({exc.strerror or exc})") from None


COMMANDS = [record, ingest]
