"""Aider chat histories (``<project>/.aider.chat.history.md``) into calls.

Aider appends its chat to a Markdown file in the folder it runs in. Each run starts with
``# aider chat started at YYYY-MM-DD HH:MM:SS`` (local time) and its announcements, quoted
(``> Main model: <name> with <format> edit format``; ``> Model:`` in older versions). After
each reply it quotes the usage of that message::

    > Tokens: 12k sent, 1.1k cache write, 8.2k cache hit, 150 received.
    > Cost: $0.0054 message, $0.12 session.

(on one line when there are not both cache counts; ``Cost`` only for models with a price).
One such report is one event: a message's calls (a reply and its reflections) summed by
Aider. ``sent`` is the whole prompt plus the cache writes (LiteLLM's ``prompt_tokens``
already holds the cache reads), so uncached input is ``sent - cache write - cache hit``.
Aider writes counts of 1000 and more rounded (``2.3k``, ``12k``): such a usage is marked
estimated, and the cost Aider wrote is kept beside spendtag's (``--compare-logged-cost``).
The history has no time per message: every call of a run has the run's start time.

Models are LiteLLM names (``anthropic/claude-sonnet-4-20250514``, ``openrouter/...``,
``gemini/...``, or bare): :func:`.models.litellm`. The project
is the folder holding the file; the session ``<start>@<folder name>``; the event id
``aider:<folder>:<start>:<n>``, n counting the reports of the run.

Discovery: ``~/.aider.chat.history.md``, ``$AIDER_CHAT_HISTORY_FILE``, the folders in
``$SPENDTAG_AIDER_DIRS`` (and their sub-folders), and the project folders other agents
recorded (Claude Code's project folders, Kimi CLI's work dirs) where they exist.
``spendtag import aider PATH`` searches PATH for histories.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from spendtag.bounds import MAX_COUNT, MAX_TIME, MIN_TIME, clean_optional
from spendtag.capture.agents import registry
from spendtag.capture.agents.jsonl import AgentCall, LogFile, ReadResult, Tally, read_lines
from spendtag.capture.agents.models import UNKNOWN, litellm
from spendtag.periods import to_us
from spendtag.usage import Usage

SOURCE = "aider"
HISTORY = ".aider.chat.history.md"

_STARTED = re.compile(rb"^# aider chat started at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s*$")
_MODEL = re.compile(rb"^> (?:Main model|Model): (\S+)(?: with |\s*$)")
_TOKENS = re.compile(rb"^> Tokens: (.*?) sent(?:, (.*?) cache write)?(?:, (.*?) cache hit)?, (.*?) received\.(.*)$")
_COST = re.compile(rb"Cost: \$(\d+(?:\.\d+)?) message")
_NUMBER = re.compile(r"^(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)([kKmM]?)$")


# -- where histories are --------------------------------------------------------------------


def _known_projects(env: Mapping[str, str], home: Path) -> list[Path]:
    """Project folders other agents recorded on this machine (cheap to list; kept where they exist)."""
    found: list[Path] = []
    try:
        from spendtag.capture.agents.claude_code import decode_folder
        from spendtag.capture.agents.discovery import claude_roots

        for root in claude_roots(env, home):
            for entry in os.scandir(root):
                decoded = decode_folder(entry.name) if entry.is_dir() else None
                if decoded:
                    found.append(Path(decoded))
    except OSError:
        pass
    kimi = env.get("KIMI_SHARE_DIR", "").strip()
    try:
        with open((registry.expand(kimi, home) if kimi else home / ".kimi") / "kimi.json", "rb") as f:
            doc = json.loads(f.read())
        found.extend(Path(wd["path"]) for wd in doc.get("work_dirs", [])
                     if isinstance(wd, dict) and isinstance(wd.get("path"), str))
    except (OSError, ValueError, AttributeError):
        pass
    return [p for p in dict.fromkeys(found) if (p / HISTORY).is_file()]


def places(env: Mapping[str, str], home: Path, plat: str) -> list[Path]:
    listed = [home / HISTORY]
    configured = env.get("AIDER_CHAT_HISTORY_FILE", "").strip()
    if configured:
        listed.append(registry.expand(configured, home))
    listed += [registry.expand(d.strip(), home) for d in env.get("SPENDTAG_AIDER_DIRS", "").split(os.pathsep)
               if d.strip()]
    return listed + [p / HISTORY for p in _known_projects(env, home)]


def files(place: Path) -> list[LogFile]:
    """A history file, or the histories in a folder and its sub-folders (one level down)."""
    if place.is_file():
        return [LogFile(SOURCE, place, place.parent)]
    found = [place / HISTORY] if (place / HISTORY).is_file() else []
    try:
        with os.scandir(place) as entries:
            found += [Path(e.path) / HISTORY for e in entries if e.is_dir() and (Path(e.path) / HISTORY).is_file()]
    except OSError:
        pass
    return [LogFile(SOURCE, f, place) for f in sorted(found)]


def sniff(path: Path, head: bytes) -> bool:
    return path.name.endswith(".md") and (b"# aider chat started at" in head or path.name == HISTORY)


# -- reading -------------------------------------------------------------------------------


def _tokens(raw: bytes | None) -> tuple[int, bool]:
    """A count as Aider prints it (``150``, ``2.3k``, ``12k``, ``1,234``) and whether it was rounded."""
    if raw is None:
        return 0, False
    found = _NUMBER.match(raw.decode("ascii", errors="replace").strip())
    if not found:
        raise ValueError(f"unreadable token count {raw.decode('utf-8', errors='replace')!r}")
    number, unit = found.groups()
    value = Decimal(number.replace(",", ""))
    scale = {"": 1, "k": 1000, "m": 1_000_000}[unit.lower()]
    count = int(value * scale)
    if count > MAX_COUNT:
        raise ValueError(f"token count {number}{unit} out of bounds")
    return count, scale > 1


def _local(text: str) -> int | None:
    """A local wall-clock time (Aider writes ``datetime.now()``) as µs since the epoch, UTC."""
    try:
        ts = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").astimezone()
    except (ValueError, OverflowError, OSError):
        return None
    return to_us(ts) if MIN_TIME <= ts < MAX_TIME else None


class _Reader:
    def __init__(self, log: LogFile, tally: Tally, state: dict[str, Any]) -> None:
        self.log = log
        self.tally = tally
        self.state = state
        self.line_no = int(state.get("line", 0))
        self.calls: list[AgentCall] = []
        self.logged = Decimal(0)
        folder = log.path.parent.absolute()
        self.project = clean_optional(str(folder))
        self.folder_name = folder.name or str(folder)
        self.pending: tuple[int, AgentCall] | None = None     # a report whose Cost may be on the next line

    def feed(self, start: int, line: bytes) -> None:
        self.line_no += 1
        if not self.tally.line(start):
            return
        line = line.rstrip(b"\r")
        if self.pending is not None and line.startswith(b"> Cost: "):
            self._cost(line)
            self.pending = None
            self.tally.skip(start)
            return
        self.pending = None
        if line.startswith(b"# aider chat started at "):
            found = _STARTED.match(line)
            ts = _local(found.group(1).decode()) if found else None
            if ts is None:
                self.tally.bad(start, self.line_no, "a chat start without a readable time")
                self.state["start"] = None
                return
            self.state.update(start=ts, started=found.group(1).decode() if found else "", n=0, model=None)
            self.tally.skip(start)
        elif line.startswith((b"> Main model: ", b"> Model: ")):
            found = _MODEL.match(line)
            if found:
                self.state["model"] = found.group(1).decode("utf-8", errors="replace")
            self.tally.skip(start)
        elif line.startswith(b"> Tokens: "):
            self._report(start, line)
        elif line.strip():
            self.tally.skip(start)

    def _report(self, start: int, line: bytes) -> None:
        found = _TOKENS.match(line.rstrip())
        if found is None:
            self.tally.bad(start, self.line_no, "a Tokens line in an unknown form")
            return
        try:
            (sent, r1), (write, r2), (hit, r3), (received, r4) = (_tokens(g) for g in found.groups()[:4])
        except ValueError as exc:
            self.tally.bad(start, self.line_no, str(exc))
            return
        ts = self.state.get("start")
        if ts is None:
            self.tally.bad(start, self.line_no, "a Tokens line before any '# aider chat started at'")
            return
        n = int(self.state.get("n", 0)) + 1
        self.state["n"] = n
        started = self.state.get("started", "")
        usage = Usage(input_tokens=max(0, sent - write - hit), cache_read_tokens=hit, cache_write_5m_tokens=write,
                      output_tokens=received, estimated=r1 or r2 or r3 or r4)
        provider, model = litellm(self.state.get("model") or UNKNOWN)
        session = f"{started.replace(' ', 'T')}@{self.folder_name}"
        call = AgentCall(f"{SOURCE}:{self.project}:{started}:{n}", ts, provider, model, None, None, usage,
                         self.project, clean_optional(session), SOURCE, SOURCE, None)
        self.calls.append(call)
        self.pending = (self.line_no, call)
        self._cost(found.group(5))

    def _cost(self, text: bytes) -> None:
        found = _COST.search(text)
        if found:   # (digits and a point: always a Decimal)
            self.logged += Decimal(found.group(1).decode())


def read(log: LogFile, offset: int = 0, *, state: dict[str, Any] | None = None, compact: bool = False) -> ReadResult:
    """Complete lines from ``offset``; ``state`` keeps the run being read (start, model, reports so far)."""
    return read_lines(log, offset, state, compact, lambda tally, st: _Reader(log, tally, st))


def _read(log: LogFile, offset: int, *, state: dict[str, Any], final: bool, compact: bool) -> ReadResult:
    return read(log, offset, state=state, compact=compact)


AGENT = registry.Agent(
    name="aider", title="Aider",
    places=places, files=files, read=_read, sniff=sniff, logs_cost=True, patterns=(HISTORY,),
    notes="chat histories in project folders (.aider.chat.history.md)",
)
