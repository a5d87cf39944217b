"""Qwen Code chat recordings (``~/.qwen/projects/<project>/chats/<session>.jsonl``) into calls.

Qwen Code appends one JSON record per line: ``{uuid, parentUuid, sessionId, timestamp, type,
cwd, version, model, message, usageMetadata, ...}``. A model response is a record of
``type: "assistant"`` with ``usageMetadata`` in Gemini's shape; the other records (user
turns, tool results, ``system`` records such as ``ui_telemetry``, which repeat a call's
counts) are not calls.

Counts. ``promptTokenCount`` includes ``cachedContentTokenCount``. Qwen Code talks to most
providers through OpenAI's API and copies ``completion_tokens`` (reasoning included) into
``candidatesTokenCount`` with the reasoning also in ``thoughtsTokenCount``; its Gemini path
keeps Gemini's meaning (thoughts on top of candidates). ``totalTokenCount`` tells them
apart: prompt + candidates + thoughts is Gemini's, otherwise the reasoning is inside.

The event id is ``qwen-code:<sessionId>:<uuid>``; a record copied by ``/branch`` carries
``forkedFrom {sessionId, messageUuid}`` and keeps the original's id, so a branch adds
nothing twice. A sub-agent's records (``isSidechain``, ``agentId``/``agentName``) are the
agent ``qwen-code/<agentName>``; files nested under ``chats/<parent session>/`` belong to
that session.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from spendtag.bounds import MAX_COUNT, clean_optional
from spendtag.capture.agents import registry
from spendtag.capture.agents.jsonl import (
    AgentCall,
    LogFile,
    ReadResult,
    Tally,
    read_lines,
    time_us,
)
from spendtag.capture.agents.models import UNKNOWN, priceable

SOURCE = "qwen-code"


class _Record(msgspec.Struct):
    uuid: Any = None
    sessionId: Any = None
    timestamp: Any = None
    type: Any = None
    cwd: Any = None
    model: Any = None
    usageMetadata: Any = None
    isSidechain: Any = None
    agentId: Any = None
    agentName: Any = None
    forkedFrom: Any = None


_DECODE = msgspec.json.Decoder(_Record).decode
_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError)


def qwen_home(env: Mapping[str, str], home: Path) -> list[Path]:
    """Where chats are kept: ``$QWEN_RUNTIME_DIR``, ``$QWEN_HOME``, and ``~/.qwen``."""
    found = [registry.expand(env[name].strip(), home) for name in ("QWEN_RUNTIME_DIR", "QWEN_HOME")
             if env.get(name, "").strip()]
    return [*found, home / ".qwen"]


def places(env: Mapping[str, str], home: Path, plat: str) -> list[Path]:
    return [base / "projects" for base in qwen_home(env, home)]


def files(place: Path) -> list[LogFile]:
    root = place / "projects" if (place / "projects").is_dir() else place
    found = [*root.glob("*/chats/*.jsonl"), *root.glob("*/chats/*/**/*.jsonl")]
    return [LogFile(SOURCE, f, root) for f in sorted(found) if f.is_file()]


def sniff(path: Path, head: bytes) -> bool:
    return b'"usageMetadata"' in head and b'"sessionId"' in head and b'"parentUuid"' in head \
        or (path.parent.name == "chats" and ".qwen" in path.parts)


def _count(usage: Mapping[str, Any], name: str) -> int:
    value = usage.get(name)
    if value is None:
        return 0
    if type(value) is not int or not 0 <= value <= MAX_COUNT:
        raise ValueError(f"usageMetadata.{name} must be a whole number of tokens, got {value!r}")
    return value


def counts(usage: object) -> tuple[int, int, int, int, int]:
    """(input, cache read, cache write 5m, cache write 1h, output) of a ``usageMetadata``."""
    if not isinstance(usage, Mapping):
        raise ValueError("usageMetadata is not an object")
    prompt, cached = _count(usage, "promptTokenCount"), _count(usage, "cachedContentTokenCount")
    candidates, thoughts = _count(usage, "candidatesTokenCount"), _count(usage, "thoughtsTokenCount")
    if cached > prompt:
        raise ValueError(f"cachedContentTokenCount ({cached}) exceeds promptTokenCount ({prompt})")
    total = usage.get("totalTokenCount")
    gemini = type(total) is int and thoughts > 0 and total == prompt + candidates + thoughts
    return prompt - cached, cached, 0, 0, candidates + thoughts if gemini else candidates


class _Reader:
    def __init__(self, log: LogFile, tally: Tally, line_no: int) -> None:
        self.log = log
        self.tally = tally
        self.line_no = line_no
        self.calls: list[AgentCall] = []
        # chats/<parent session>/.../<agent>.jsonl: a sub-agent's file, its parent's session.
        chats = next((p for p in log.path.parents if p.name == "chats"), None)
        self.parent = log.path.relative_to(chats).parts[0] if chats and log.path.parent != chats else None

    def feed(self, start: int, line: bytes) -> None:
        self.line_no += 1
        if not self.tally.line(start):
            return
        if b'"usageMetadata"' not in line or b'"assistant"' not in line:
            if line.strip():
                self.tally.skip(start)
            return
        try:
            rec = _DECODE(line)
        except _ERRORS as exc:
            self.tally.bad(start, self.line_no, f"not a chat record ({exc})")
            return
        if rec.type != "assistant" or rec.usageMetadata is None:
            self.tally.skip(start)
            return
        try:
            self._call(start, rec)
        except (ValueError, TypeError) as exc:
            self.tally.bad(start, self.line_no, str(exc))

    def _call(self, start: int, rec: _Record) -> None:
        ts = time_us(rec.timestamp)
        if ts is None:
            raise ValueError(f"assistant record without a readable timestamp: {rec.timestamp!r}")
        session = rec.sessionId if isinstance(rec.sessionId, str) and rec.sessionId else None
        uid = rec.uuid if isinstance(rec.uuid, str) and rec.uuid else None
        if session is None or uid is None:
            raise ValueError("assistant record without its sessionId and uuid")
        c = counts(rec.usageMetadata)
        if not any(c):
            self.tally.skip(start)
            return
        forked = rec.forkedFrom
        if isinstance(forked, Mapping) and isinstance(forked.get("sessionId"), str) and \
                isinstance(forked.get("messageUuid"), str):
            event_id = f"{SOURCE}:{forked['sessionId']}:{forked['messageUuid']}"
        else:
            event_id = f"{SOURCE}:{session}:{uid}"
        agent = SOURCE
        name = rec.agentName if isinstance(rec.agentName, str) and rec.agentName else rec.agentId
        if (rec.isSidechain is True or self.parent) and isinstance(name, str) and name:
            agent = f"{SOURCE}/{name}"
        elif self.parent:
            agent = f"{SOURCE}/subagent"
        model = rec.model.strip() if isinstance(rec.model, str) and rec.model.strip() else UNKNOWN
        provider, model = priceable(None, model)
        cwd = clean_optional(rec.cwd) if isinstance(rec.cwd, str) and rec.cwd else None
        self.calls.append(AgentCall(event_id, ts, provider, model, c, None, None, cwd,
                                    clean_optional(self.parent or session), clean_optional(agent) or SOURCE, SOURCE,
                                    None))


def read(log: LogFile, offset: int = 0, *, state: dict[str, Any] | None = None, compact: bool = False) -> ReadResult:
    """Complete lines from ``offset``; ``state`` keeps the line number reached."""
    return read_lines(log, offset, state, compact, lambda tally, st: _Reader(log, tally, int(st.get("line", 0))))


def _read(log: LogFile, offset: int, *, state: dict[str, Any], final: bool, compact: bool) -> ReadResult:
    return read(log, offset, state=state, compact=compact)


AGENT = registry.Agent(
    name="qwen-code", title="Qwen Code",
    places=places, files=files, read=_read, sniff=sniff, patterns=("*.jsonl",),
    notes="chat recordings (~/.qwen/projects/*/chats)",
)
