"""What the readers of rewritten agent stores share: read-only SQLite, counts, times and calls.

These readers (OpenCode, Goose, Crush, Amp, Droid, Cursor) take each record as a whole
value, check its fields here, and hand back :class:`AgentCall` values. A record that fails
a check raises :class:`UsageFormatError`, which the reader counts as malformed; nothing
here stops a read.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from spendtag.bounds import MAX_COUNT, MAX_TIME_US, MIN_TIME_US, clean_optional
from spendtag.capture._fields import DECODE_FAILURES
from spendtag.capture.agents.jsonl import AgentCall, LogFile, ReadResult, Tally, time_us
from spendtag.capture.agents.models import priceable
from spendtag.errors import UsageFormatError
from spendtag.usage import Usage

# What a locked, corrupt or foreign database raises; counted and reported, never fatal.
SQLITE_ERRORS = (sqlite3.Error, OSError)

# A record's call and the cost the agent logged for it (None: none logged); None: no billable usage.
Found = tuple[AgentCall, Decimal | None] | None


class Calls:
    """The calls one read of a rewritten store found, with the costs the agent logged beside them."""

    __slots__ = ("tally", "calls", "logged")

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.calls: list[AgentCall] = []
        self.logged = Decimal(0)

    def add(self, number: int, make: Callable[[], Found], what: str = "",
            failures: tuple[type[BaseException], ...] = DECODE_FAILURES) -> None:
        """Record ``number`` (counted as read): its call, or a malformed or a skipped record."""
        self.tally.lines += 1
        try:
            found = make()
        except failures as exc:
            self.tally.bad(0, number, f"{what}{exc}")
            return
        if found is None:
            self.tally.skipped += 1
            return
        self.calls.append(found[0])
        self.logged += found[1] or 0

    def result(self, size: int, compact: bool) -> ReadResult:
        """What was read (``size``: the offset to store, the whole file); events unless ``compact``."""
        if compact:
            return self.tally.result([], size, self.logged, self.calls)
        return self.tally.result([c.event() for c in self.calls], size, self.logged)


def read_sqlite(log: LogFile, compact: bool, body: Callable[[sqlite3.Connection, Calls], None]) -> ReadResult:
    """``body`` over the database ``log`` opened read-only; a locked, corrupt or foreign one is
    counted as malformed and said, never fatal (and nothing of it is recorded)."""
    tally = Tally(log.path, 0)
    found = Calls(tally)
    try:
        size = os.stat(log.path).st_size
        con = connect(log.path)
        try:
            body(con, found)
        finally:
            con.close()
    except SQLITE_ERRORS as exc:
        tally.malformed += 1
        tally.note(0, f"cannot read the database ({type(exc).__name__}: {exc})")
        return tally.result([], 0, Decimal(0), [])
    return found.result(size, compact)


def connect(path: Path) -> sqlite3.Connection:
    """``path`` opened read-only: the agent's database is never written (nor its -wal checkpointed)."""
    uri = "file:" + str(path.resolve()).replace("?", "%3f").replace("#", "%23") + "?mode=ro"
    con = sqlite3.connect(uri, uri=True, timeout=2.0, check_same_thread=False)
    con.execute("PRAGMA query_only = ON")
    return con


def columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in con.execute(f"PRAGMA table_info({table})")}


def rows(con: sqlite3.Connection, query: str, params: tuple[Any, ...] = ()) -> Iterator[sqlite3.Row]:
    con.row_factory = sqlite3.Row
    yield from con.execute(query, params)


def count(value: object, name: str) -> int:
    """A token count: a non-negative whole number (an integral float or digit string too); null is 0."""
    if value is None:
        return 0
    if type(value) is int:
        n = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        n = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        n = int(value.strip())
    else:
        raise UsageFormatError(f"{name} is not a token count: {str(value)[:40]!r}")
    if not 0 <= n <= MAX_COUNT:
        raise UsageFormatError(f"{name} is out of bounds: {n}")
    return n


def usd(value: object) -> Decimal | None:
    """A cost the agent logged, in USD (``"$0.50"`` too); None when absent or unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.replace("$", "").replace(",", "").strip()
        if not value:
            return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() and 0 <= amount < 100_000 else None


def ms_time(value: object) -> int | None:
    """µs since the epoch from Unix ms (OpenCode, Crush), seconds, or ISO text; None when unreadable."""
    if type(value) is int and 10**11 < value < 10**14:     # ms: the usual case, without a datetime
        us = value * 1000
        return us if MIN_TIME_US <= us < MAX_TIME_US else None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, str) and " " in value and "T" not in value:
        value = value.replace(" ", "T", 1)                # SQLite's CURRENT_TIMESTAMP: UTC
    return time_us(value)


def call(event_id: str, ts_us: int, provider: str | None, model: str, *, input: int = 0, cache_read: int = 0,
         cache_write: int = 0, output: int = 0, reasoning: int = 0, reported: int | None = None,
         project: str | None = None, session: str | None = None, agent: str, source: str) -> AgentCall:
    """One call as the importer takes it: ``output`` includes ``reasoning`` (kept beside as info)."""
    provider, model = priceable(provider, model)
    usage = None
    counts: tuple[int, int, int, int, int] | None = (input, cache_read, cache_write, 0, output)
    if reasoning:
        reasoning = min(reasoning, output)
        values = (input, cache_read, cache_write, output, reasoning)
        if min(values) < 0 or max(values) > MAX_COUNT:
            # The Usage the calls stand for raises the error (reasoning <= output, within bounds too).
            Usage(input_tokens=input, cache_read_tokens=cache_read, cache_write_5m_tokens=cache_write,
                  output_tokens=output, reasoning_tokens=reasoning).checked()
    if reported is not None:
        usage = Usage(input_tokens=input, cache_read_tokens=cache_read, cache_write_5m_tokens=cache_write,
                      output_tokens=output, reasoning_tokens=reasoning, reported_cost=reported).checked()
        counts, reasoning = None, 0
    return AgentCall(event_id, ts_us, provider, model, counts, None, usage, clean_optional(project),
                     clean_optional(session), agent, source, None, reasoning)
