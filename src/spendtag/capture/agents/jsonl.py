"""What every agent-log reader shares: the result types and incremental line reading.

A log is read from a byte offset the caller stored last time. Only complete lines are
consumed: a last line without its newline is still being written and is left for the next
read. Reading is plain ``bytes.split(b"\\n")`` over large blocks, so a reader can test each
line's bytes and decode only the few that can carry usage.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, Protocol

from spendtag.bounds import MAX_TIME, MAX_TIME_US, MIN_TIME, MIN_TIME_US, clean_text
from spendtag.periods import from_us, to_us
from spendtag.usage import SessionTitle, Usage, UsageEvent, title_from_prompt

BLOCK = 1 << 22          # 4 MiB reads: few syscalls, bounded memory on multi-GB trees
MAX_PROBLEMS = 20        # "first few" messages; the counters carry the full story


class LogFile:
    """One log file: the agent that wrote it, the file, and the root it was found under.

    ``key`` is the path as text (the ledger's key for the file); ``path`` is made from it when
    first asked for: an unchanged import of 100k files never needs the ``Path`` objects.
    """

    __slots__ = ("agent", "key", "root", "_path")

    def __init__(self, agent: str, path: Path | str, root: Path) -> None:
        self.agent = agent            # an agent's name in the registry: "claude-code", "codex", ...
        self.root = root              # the root it was found under (e.g. ~/.claude/projects)
        if isinstance(path, str):
            self.key, self._path = path, None
        else:
            self.key, self._path = str(path), path

    @property
    def path(self) -> Path:
        if self._path is None:
            self._path = Path(self.key)
        return self._path

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LogFile):
            return NotImplemented
        return (self.agent, self.key, self.root) == (other.agent, other.key, other.root)

    def __hash__(self) -> int:
        return hash((self.agent, self.key, self.root))

    def __repr__(self) -> str:
        return f"LogFile(agent={self.agent!r}, path={self.path!r}, root={self.root!r})"


_EPOCH_ORDINAL = datetime(1970, 1, 1).toordinal()
_DAY_US = 86_400_000_000


class AgentCall(NamedTuple):
    """One call as a reader found it, before pricing: a :class:`UsageEvent` in plain values.

    Bulk import works on these (making a UsageEvent and a Usage per call costs more than
    reading it); :meth:`event` is the UsageEvent they stand for.
    """

    event_id: str
    ts_us: int                    # µs since the epoch, UTC
    provider: str
    model: str
    counts: tuple[int, int, int, int, int] | None   # text tokens (Pricer.text_cost's order), or None: see usage
    service_tier: str | None
    usage: Usage | None           # the usage, when it is more than text counts (else None)
    project: str | None
    session: str | None
    agent: str
    source: str
    response_id: str | None
    reasoning: int = 0            # reasoning tokens, inside counts' output (kept as info), with counts

    def event(self) -> UsageEvent:
        usage = self.usage
        if usage is None:
            assert self.counts is not None
            i, r, w5, w1, o = self.counts
            usage = Usage(input_tokens=i, cache_read_tokens=r, cache_write_5m_tokens=w5, cache_write_1h_tokens=w1,
                          output_tokens=o, reasoning_tokens=self.reasoning, service_tier=self.service_tier)
        return UsageEvent(event_id=self.event_id, ts=from_us(self.ts_us), provider=self.provider,
                          model=self.model, usage=usage, project=self.project, session=self.session,
                          agent=self.agent, source=self.source, response_id=self.response_id)


@dataclass
class ReadResult:
    events: list[UsageEvent]
    offset: int           # bytes fully consumed: store it and pass it back with ``state``
    lines: int            # lines (records, for Gemini CLI) consumed for the first time
    malformed: int        # skipped as malformed: bad JSON, wrong shape, negative counts
    skipped: int          # without billable usage: user lines, summaries, <synthetic>, info:null...
    problems: list[str]   # the first few "path:line: what" messages
    logged_cost_usd: Decimal = field(default_factory=Decimal)  # costUSD in the logs: compared, never billed
    calls: list[AgentCall] = field(default_factory=list)      # instead of events, when read with compact=True
    # Calls an earlier read emitted while they were still being written, now with a copy that
    # grew: each replaces the event recorded under its id (Claude Code only).
    revised: list[UsageEvent] = field(default_factory=list)
    revised_calls: list[AgentCall] = field(default_factory=list)  # instead of revised, with compact=True
    # What sessions are about, found in what was read (session id -> title): the agent's own
    # title (kind "summary") or the opening words of a session's first user prompt (kind
    # "prompt"; see usage.SessionTitle). A reader reports what it finds; the importer saves
    # it with the file's offset and the ledger keeps the best one per session, so a reader
    # need not remember what earlier reads found (it may, to skip the search: Claude Code
    # keeps "titled" in its state). The importer drops them when titles are turned off.
    titles: dict[str, SessionTitle] = field(default_factory=dict)


class Tally:
    """Counters and the first problems of one read.

    Lines before ``seen_to`` (a byte offset) were counted by an earlier read: a reader that
    re-reads them (Claude Code re-reads a call still open) does not count them again, so the
    counts of successive reads add up to those of one read of the whole file.
    """

    __slots__ = ("path", "seen_to", "lines", "malformed", "skipped", "problems")

    def __init__(self, path: Path | str, seen_to: int) -> None:
        self.path = path            # shown in the problems' messages
        self.seen_to = seen_to
        self.lines = 0
        self.malformed = 0
        self.skipped = 0
        self.problems: list[str] = []

    def line(self, start: int) -> bool:
        """Count a line starting at byte ``start``; False when an earlier read already did."""
        if start < self.seen_to:
            return False
        self.lines += 1
        return True

    def bad(self, start: int, line_no: int, reason: str) -> None:
        if start < self.seen_to:
            return
        self.malformed += 1
        self.note(line_no, reason)

    def skip(self, start: int) -> None:
        if start >= self.seen_to:
            self.skipped += 1

    def note(self, line_no: int, reason: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{self.path}:{line_no}: {reason}")

    def result(self, events: list[UsageEvent], offset: int, logged: Decimal | None = None,
               calls: list[AgentCall] | None = None) -> ReadResult:
        return ReadResult(events, offset, self.lines, self.malformed, self.skipped, self.problems,
                          logged if logged is not None else Decimal(0), calls if calls is not None else [])


def prompt_title(content: Any) -> str | None:
    """A title from a user message's content (text, or a list of text blocks), or None.

    None for what a person did not type: tool results, and text that opens with a tag
    (slash commands, hook and system reminders such as ``<command-name>``).
    """
    if isinstance(content, list):
        texts = []
        for block in content:
            if not isinstance(block, dict) or block.get("type") in ("tool_result", "function_call_output"):
                return None
            text = block.get("text")
            if isinstance(text, str) and block.get("type") in ("text", "input_text", None):
                texts.append(text)
        content = " ".join(texts)
    if not isinstance(content, str) or content.lstrip().startswith("<"):
        return None
    title = title_from_prompt(content)
    return None if title is None else clean_text(title)


def feed_lines(f: BinaryIO, offset: int, feed: Callable[[int, bytes], None]) -> int:
    """Hand every complete line from ``offset`` to ``feed(start, line)``; return the offset after the last."""
    end = offset
    for pos, lines in blocks(f, offset):
        for line in lines:
            feed(pos, line)
            pos += len(line) + 1
        end = pos
    return end


def blocks(f: BinaryIO, offset: int) -> Iterator[tuple[int, list[bytes]]]:
    """(byte offset of the first line, complete lines without their newline) per block read.

    The unterminated tail of the file is never yielded. A line longer than a block is
    gathered across reads without re-copying what was already read.
    """
    f.seek(offset)
    pos = offset
    carry: list[bytes] = []
    while True:
        block = f.read(BLOCK)
        if not block:
            return
        cut = block.rfind(b"\n")
        if cut < 0:
            carry.append(block)
            continue
        if carry:
            carry.append(block[:cut])
            data = b"".join(carry)
            carry = []
        else:
            data = block[:cut]
        if cut + 1 < len(block):
            carry.append(block[cut + 1:])
        lines = data.split(b"\n")
        yield pos, lines
        pos += len(data) + 1


def checked_start(f: BinaryIO, path: Path, offset: int,
                  state: dict[str, Any] | None) -> tuple[int, dict[str, Any], str | None]:
    """The offset and state to read from, restarting at 0 when the file no longer fits them.

    A stored offset beyond the end, or one that is not just after a newline, means the file
    was truncated or rewritten: it is re-read from the start with fresh state (the event ids
    are stable, so what was already recorded is not recorded twice).
    """
    fresh: dict[str, Any] = {}
    if offset < 0:
        return 0, fresh, f"{path}: negative offset {offset}: reading from the start"
    if offset == 0:
        return 0, dict(state or {}), None
    size = f.seek(0, 2)
    if offset > size:
        return 0, fresh, f"{path}: the file is shorter ({size} bytes) than the stored offset {offset}: re-read"
    f.seek(offset - 1)
    if f.read(1) != b"\n":
        return 0, fresh, f"{path}: the stored offset {offset} is not at a line start (rewritten?): re-read"
    return offset, dict(state or {}), None


class LineReader(Protocol):
    """A reader of one agent's lines: fed each complete line, it keeps the calls it found."""

    line_no: int
    calls: list[AgentCall]

    def feed(self, start: int, line: bytes) -> None: ...


def read_lines(log: LogFile, offset: int, state: dict[str, Any] | None, compact: bool,
               make: Callable[[Tally, dict[str, Any]], LineReader]) -> ReadResult:
    """The complete lines of ``log`` from ``offset``, fed to the reader ``make(tally, state)`` gives.

    ``state`` (updated in place) keeps what the reader keeps in it and the line number reached;
    a file that no longer fits the stored offset is read again from the start. A reader with a
    ``logged`` amount (costs the agent wrote) has it compared, never billed.
    """
    caller_state = state
    with open(log.path, "rb") as f:
        offset, state, restart = checked_start(f, log.path, offset, state)
        tally = Tally(log.path, offset)
        if restart:
            tally.problems.append(restart)
        reader = make(tally, state)
        end = feed_lines(f, offset, reader.feed)
    state["line"] = reader.line_no
    if caller_state is not None:
        caller_state.clear()
        caller_state.update(state)
    logged: Decimal | None = getattr(reader, "logged", None)
    if compact:
        return tally.result([], end, logged, reader.calls)
    return tally.result([call.event() for call in reader.calls], end, logged)


def time_us(value: object) -> int | None:
    """``parse_time`` as µs since the epoch (UTC): the usual ``...Z`` text without a datetime subtraction."""
    if type(value) is str and value.endswith("Z") and "Z" not in value[:-1]:
        try:
            t = datetime.fromisoformat(value[:-1] + "+00:00")   # what parse_time reads, in UTC fields
        except ValueError:
            return None
        us = ((t.toordinal() - _EPOCH_ORDINAL) * _DAY_US
              + ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond)
        return us if MIN_TIME_US <= us < MAX_TIME_US else None
    ts = parse_time(value)
    return None if ts is None else to_us(ts)


def time_of(value: object) -> int | None:
    """``time_us``, for a time already decoded as a datetime too (the fast decoders do that)."""
    if type(value) is not datetime:
        return time_us(value)
    t = value
    if t.tzinfo is not UTC:
        try:
            t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
        except OverflowError:
            return None
    us = ((t.toordinal() - _EPOCH_ORDINAL) * _DAY_US
          + ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond)
    return us if MIN_TIME_US <= us < MAX_TIME_US else None


def parse_time(value: object) -> datetime | None:
    """ISO 8601 text (``Z`` allowed), or Unix seconds/ms/ns; None when missing, unreadable or
    outside 2000-2100 (see :mod:`spendtag.bounds`)."""
    if isinstance(value, str) and value:
        try:
            ts = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
            ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
            return ts if MIN_TIME <= ts < MAX_TIME else None
        except (ValueError, OverflowError):   # (an offset that moves the time past year 9999)
            return None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        try:
            seconds = float(value)
            if not math.isfinite(seconds):
                return None              # Infinity (json accepts it) would never shrink below
            if seconds >= 1e20:          # beyond nanoseconds in 2100: not a time
                return None
            while seconds > 1e11:        # ms, us or ns since the epoch
                seconds /= 1000
            ts = datetime.fromtimestamp(seconds, UTC)
            return ts if MIN_TIME <= ts < MAX_TIME else None
        except (OverflowError, ValueError, OSError):
            return None
    return None
