"""Importing coding-agent logs into the ledger, incrementally and crash-safely.

For each log file the ledger keeps how far it was read (a byte offset, plus the reader's
small state), the size and modification time it had, and a hash of its first 4 KiB. A
file that did not change is skipped without being opened; one that grew is read from the
offset; one that shrank or whose start changed was rewritten and is read from the top.
Events are recorded before the offsets are saved, so a crash in between only makes the
next import read a few files again, which the ledger ignores (event ids are the records'
own).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from spendtag.attribution import Rules
from spendtag.capture.agents import LogFile, ReadResult, read
from spendtag.ledger.store import ImportState, Store
from spendtag.recording import Recorder
from spendtag.usage import UsageEvent

HEAD_BYTES = 4096
# A log untouched this long is finished: calls still open at its end are closed as they are.
QUIET = 3600


@dataclass
class FileReport:
    path: str
    agent: str
    read: int = 0                 # calls read from the file this time
    malformed: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)
    logged_cost_usd: Decimal = Decimal(0)
    priced_cost: int = 0          # pico-USD spendtag computed for the calls read now
    restarted: bool = False       # the file was rewritten or truncated and read from the top


@dataclass
class ImportReport:
    files: list[FileReport] = field(default_factory=list)
    unchanged: int = 0
    inserted: int = 0
    duplicates: int = 0

    def total(self, name: str) -> int:
        if name in ("inserted", "duplicates"):
            return int(getattr(self, name))
        return sum(getattr(f, name) for f in self.files)

    @property
    def problems(self) -> list[str]:
        return [p for f in self.files for p in f.problems]


def head_hash(path: Path, length: int) -> str:
    """A fingerprint of the file's first ``length`` bytes (at most HEAD_BYTES): what was already read."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read(min(HEAD_BYTES, length))).hexdigest()


# Files are recorded in groups: one transaction for the calls of many files, then one for
# their offsets. A crash between the two only makes the next import read them again.
GROUP_CALLS = 5_000
GROUP_FILES = 500


def import_files(store: Store, recorder: Callable[[], Recorder], logs: Iterable[LogFile], rules: Rules | None = None,
                 *, progress: Callable[[int], None] | None = None, compare: bool = False) -> ImportReport:
    """Read every log from where the last import stopped and record what is new.

    ``recorder`` is called only when there is something to record (making one loads the
    price data, which an unchanged tree never needs).
    """
    report = ImportReport()
    # One read for every file's size, time and offset: an unchanged tree is checked without
    # decoding any file's reader state.
    summaries = store.import_summaries()
    pending_events: list[UsageEvent] = []
    pending_states: list[ImportState] = []

    def flush() -> None:
        if pending_events:
            result = recorder().record(pending_events)
            report.inserted += result.inserted
            report.duplicates += result.duplicates
        if pending_states:
            store.save_import_states(pending_states)
        pending_events.clear()
        pending_states.clear()

    for log in logs:
        key = str(log.path)
        try:
            stat = os.stat(log.path)
        except OSError:
            continue
        summary = summaries.get(key)
        quiet = time.time() - stat.st_mtime > QUIET
        if (summary is not None and summary[0] == stat.st_size and summary[1] == stat.st_mtime_ns
                and (summary[2] >= summary[0] or not quiet)):
            # Unchanged, and nothing is waiting to be closed (an open call at the end of a
            # file that has since gone quiet is closed by reading it once more, final).
            report.unchanged += 1
            if progress:
                progress(stat.st_size)
            continue
        offset, state, restarted = 0, {}, False
        saved = store.import_state(key) if summary is not None else None
        if saved is not None:
            if stat.st_size >= saved.offset and head_hash(log.path, saved.offset) == saved.head_hash:
                offset, state = saved.offset, dict(saved.state)
            else:
                restarted = True
        result: ReadResult = read(log, offset, state=state, final=quiet)
        events = _attributed(result.events, rules)
        priced_cost = sum(recorder().pricer.price(e).total for e in events) if compare else 0
        pending_events.extend(events)
        pending_states.append(ImportState(key, log.agent, result.offset, stat.st_size, stat.st_mtime_ns,
                                          head_hash(log.path, result.offset), state))
        report.files.append(FileReport(key, log.agent, len(events), result.malformed, result.skipped,
                                       list(result.problems), result.logged_cost_usd, priced_cost, restarted))
        if len(pending_events) >= GROUP_CALLS or len(pending_states) >= GROUP_FILES:
            flush()
        if progress:
            progress(stat.st_size)
    flush()
    return report


def _attributed(events: list[UsageEvent], rules: Rules | None) -> list[UsageEvent]:
    if not rules:
        return events
    for event in events:
        event.tags = rules.apply(event.project, event.tags)
    return events
