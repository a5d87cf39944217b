"""GitHub Copilot CLI sessions into usage events: ``~/.copilot/session-state/<session>/events.jsonl``.

Copilot CLI appends one JSON event per line to its session's ``events.jsonl`` (older
versions: ``session-state/<session>.jsonl``), under ``$COPILOT_HOME`` or ``~/.copilot``
(``%USERPROFILE%\\.copilot`` on Windows). Each model call is an ``assistant.usage`` event:
``data.model``, ``inputTokens`` (uncached), ``cacheReadTokens``, ``cacheWriteTokens``,
``outputTokens``, and ``cost``, the premium-request multiplier (not money: not compared).
The working directory is in the ``session.start`` event (``data.context.cwd``), else in
``workspace.yaml`` beside the file. The event id is ``copilot-cli:<event id>`` (each event's
own uuid), so a copy of a session adds nothing. Calls are priced at the model vendor's list
price (Copilot bills premium requests, not tokens).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spendtag.capture._fields import DECODE_FAILURES, loads_line
from spendtag.capture.agents import registry
from spendtag.capture.agents.jsonl import AgentCall, LogFile, ReadResult, Tally, read_lines, time_us
from spendtag.capture.agents.records import call, count
from spendtag.errors import UsageFormatError

SOURCE = "copilot-cli"


def _workspace_cwd(folder: Path) -> str | None:
    try:
        text = (folder / "workspace.yaml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    for line in text.splitlines():
        if line.startswith("cwd:"):
            value = line[4:].strip().strip("'\"")
            return value or None
    return None


class _Reader:
    def __init__(self, log: LogFile, tally: Tally, state: dict[str, Any]) -> None:
        self.log = log
        self.tally = tally
        self.state = state
        self.line_no = int(state.get("line", 0))
        self.calls: list[AgentCall] = []
        nested = log.path.name == "events.jsonl"
        self.session: str = state.get("session") or (log.path.parent.name if nested else log.path.stem)
        self.cwd: str | None = state.get("cwd") or (_workspace_cwd(log.path.parent) if nested else None)

    def feed(self, start: int, line: bytes) -> None:
        self.line_no += 1
        if not self.tally.line(start):
            return
        usage = b'"assistant.usage"' in line
        if not usage and b'"session.start"' not in line:
            self.tally.skip(start)
            return
        try:
            rec = loads_line(line)
            if not isinstance(rec, dict):
                raise UsageFormatError("not a JSON object")
            data = rec.get("data")
            if not isinstance(data, Mapping):
                raise UsageFormatError(f"{rec.get('type')} without a data object")
            if rec.get("type") == "session.start":
                self._start(data)
                self.tally.skip(start)
            elif rec.get("type") == "assistant.usage":
                self._usage(start, rec, data)
            else:
                self.tally.skip(start)
        except DECODE_FAILURES as exc:   # bad JSON, UsageFormatError, odd values
            self.tally.bad(start, self.line_no, str(exc))

    def _start(self, data: Mapping[str, Any]) -> None:
        context = data.get("context")
        cwd = context.get("cwd") if isinstance(context, Mapping) else None
        if isinstance(cwd, str) and cwd:
            self.cwd = self.state["cwd"] = cwd
        sid = data.get("sessionId")
        if isinstance(sid, str) and sid:
            self.session = self.state["session"] = sid

    def _usage(self, start: int, rec: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        own = rec.get("id") or data.get("apiCallId")
        if not isinstance(own, str) or not own:
            raise UsageFormatError("assistant.usage without an id")
        inp, out = count(data.get("inputTokens"), "inputTokens"), count(data.get("outputTokens"), "outputTokens")
        read = count(data.get("cacheReadTokens"), "cacheReadTokens")
        write = count(data.get("cacheWriteTokens"), "cacheWriteTokens")
        if not (inp or out or read or write):
            self.tally.skip(start)
            return
        model = data.get("model")
        if not isinstance(model, str) or not model:
            raise UsageFormatError("assistant.usage without a model")
        ts = time_us(rec.get("timestamp"))
        if ts is None:
            raise UsageFormatError("assistant.usage without a readable timestamp")
        self.calls.append(call(f"{SOURCE}:{own}", ts, "github-copilot", model, input=inp, cache_read=read,
                               cache_write=write, output=out, project=self.cwd, session=self.session, agent=SOURCE,
                               source=SOURCE))


def read(log: LogFile, offset: int = 0, *, state: dict[str, Any] | None = None, compact: bool = True) -> ReadResult:
    return read_lines(log, offset, state, compact, lambda tally, st: _Reader(log, tally, st))


def _read(log: LogFile, offset: int, *, state: dict[str, Any], final: bool, compact: bool) -> ReadResult:
    return read(log, offset, state=state, compact=compact)


def places(env: Mapping[str, str], home: Path, plat: str) -> list[Path]:
    configured = env.get("COPILOT_HOME", "").strip()
    base = registry.expand(configured, home) if configured else home / ".copilot"
    return [base / "session-state"]


def files(place: Path) -> list[LogFile]:
    if place.is_file():
        return [LogFile(SOURCE, place, place.parent)]
    if not place.is_dir():
        return []
    found = [*place.glob("*/events.jsonl"), *place.glob("*.jsonl")]
    return [LogFile(SOURCE, p, place) for p in sorted(found) if p.is_file()]


def sniff(path: Path, head: bytes) -> bool:
    return b'"type":"session.start"' in head or b'"type":"assistant.usage"' in head


AGENT = registry.Agent(
    name="copilot-cli", title="GitHub Copilot CLI", places=places, files=files, read=_read, sniff=sniff,
    patterns=("events.jsonl", "*.jsonl"), notes="~/.copilot/session-state/*/events.jsonl",
)
