"""Gemini CLI telemetry (its ``outfile``, e.g. ``~/.gemini/telemetry.log``) into usage events.

Each ``gemini_cli.api_response`` log record is one call (FORMATS.md 5.3). The file is read
leniently: an OTLP/JSON export (``resourceLogs`` > ``scopeLogs`` > ``logRecords`` with
``attributes`` as ``[{key, value: {stringValue|intValue...}}]``), the JS SDK's own records
(``attributes`` as a plain object, ``hrTime``), pretty-printed objects one after another, or
JSONL. A last object that does not parse yet is left for the next read (the file is being
written); garbage followed by a complete object is skipped as malformed.

Counts: ``input_token_count`` includes ``cached_content_token_count``; ``thoughts_token_count``
is billed as output on top of ``output_token_count``; ``tool_token_count`` is input. The
event id is ``gemini-cli:{session}:{prompt_id}:{time}``: one prompt can make several calls,
each at its own time; the record's own ``event.id``/``log.record.uid`` wins when present.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from spendtag.bounds import MAX_COUNT, clean_text
from spendtag.capture._fields import DECODE_FAILURES, subtract, to_count
from spendtag.capture.agents import discovery, registry
from spendtag.capture.agents.jsonl import AgentCall, LogFile, ReadResult, Tally, parse_time, prompt_title
from spendtag.errors import UsageFormatError
from spendtag.periods import to_us
from spendtag.usage import SessionTitle, Usage, UsageEvent

SOURCE = "gemini-cli"
EVENT = "gemini_cli.api_response"
PROMPT = "gemini_cli.user_prompt"   # its ``prompt`` attribute is there when prompt logging is on: a title
_DECODER = json.JSONDecoder()
_WS = " \t\r\n"
_OTLP_VALUE_KEYS = ("stringValue", "intValue", "doubleValue", "boolValue")
_PLAIN = frozenset({str, int, float, bool, type(None)})
# The record's counts, each with the usageMetadata field it stands for (named so in errors).
_COUNTS = (("input_token_count", "usageMetadata.prompt_token_count"),
           ("cached_content_token_count", "usageMetadata.cached_content_token_count"),
           ("output_token_count", "usageMetadata.candidates_token_count"),
           ("thoughts_token_count", "usageMetadata.thoughts_token_count"),
           ("tool_token_count", "usageMetadata.tool_use_prompt_token_count"))


def _value(v: object) -> object:
    """An OTLP ``AnyValue`` as a plain value (int64 arrives as a string; to_count reads both)."""
    if isinstance(v, Mapping):
        for key in _OTLP_VALUE_KEYS:
            if key in v:
                return v[key]
        return None
    return v


def _attributes(record: Mapping[str, Any]) -> dict[str, object]:
    raw = record.get("attributes")
    if type(raw) is dict:
        # The JS SDK's plain object (the usual case): text and numbers are taken as they are.
        return {str(k): v if type(v) in _PLAIN else _value(v) for k, v in raw.items()}
    if isinstance(raw, Mapping):
        return {str(k): _value(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return {str(a["key"]): _value(a.get("value")) for a in raw if isinstance(a, Mapping) and "key" in a}
    return {}


def _records(doc: object) -> Iterator[Mapping[str, Any]]:
    """Every log record in one top-level JSON value, whatever its wrapping."""
    if isinstance(doc, list):
        for item in doc:
            yield from _records(item)
    elif isinstance(doc, Mapping):
        if isinstance(doc.get("resourceLogs"), list):
            for resource in doc["resourceLogs"]:
                for scope in (resource.get("scopeLogs") or []) if isinstance(resource, Mapping) else []:
                    if isinstance(scope, Mapping):
                        yield from _records(scope.get("logRecords") or [])
        elif "attributes" in doc:
            yield doc


def _record_time(record: Mapping[str, Any], attrs: Mapping[str, object]) -> tuple[datetime | None, str]:
    """The call's time, and a text form of it that is stable for the event id."""
    for raw in (attrs.get("event.timestamp"), record.get("timeUnixNano"), record.get("observedTimeUnixNano"),
                record.get("timestamp")):
        if raw is None:
            continue
        if isinstance(raw, str) and raw.isdigit():
            raw = int(raw)
        ts = parse_time(raw)
        if ts is not None:
            return ts, str(raw)
    hr = record.get("hrTime")   # the JS SDK's [seconds, nanoseconds]
    if isinstance(hr, list) and len(hr) == 2 and all(isinstance(x, int) for x in hr):
        ts = parse_time(hr[0] + hr[1] / 1e9)
        return ts, f"{hr[0]}.{hr[1]:09d}"
    return None, ""


def _counts(attrs: Mapping[str, object]) -> tuple[int, int, int, int]:
    """(input, cache read, output, reasoning): what ``parse_usage("google", ...)`` makes of the record's
    counts as usageMetadata fields, without the general parser's work per field (most of the
    reading time): the same values and the same errors."""
    prompt, cached, candidates, thoughts = (_tokens(attrs.get(name), shown) for name, shown in _COUNTS[:4])
    if cached > prompt:
        subtract(prompt, "usageMetadata.promptTokenCount", {"cachedContentTokenCount": cached,
                                                             "uncached AUDIO tokens": 0})   # raises
    tool = _tokens(attrs.get(_COUNTS[4][0]), _COUNTS[4][1])
    return prompt - cached + tool, cached, candidates + thoughts, thoughts


def _tokens(value: object, shown: str) -> int:
    if type(value) is int and 0 <= value <= MAX_COUNT:
        return value
    return 0 if value is None else to_count(value, shown)


def _event(record: Mapping[str, Any], attrs: Mapping[str, object], compact: bool = False) -> UsageEvent | AgentCall:
    """The record's call: a UsageEvent, or with ``compact`` an AgentCall when it succeeded (the
    same values: text made valid as UsageEvent makes it)."""
    ts, when = _record_time(record, attrs)
    if ts is None:
        raise UsageFormatError("no readable time")
    model = attrs.get("model")
    if not isinstance(model, str) or not model:
        raise UsageFormatError("no model")
    inp, cached, out, reasoning = _counts(attrs)
    session = attrs.get("session.id")
    session = session if isinstance(session, str) and session else None
    own_id = attrs.get("event.id") or attrs.get("log.record.uid")
    if isinstance(own_id, str) and own_id:
        event_id = f"{SOURCE}:{own_id}"
    else:
        prompt = attrs.get("prompt_id")
        event_id = f"{SOURCE}:{session or ''}:{prompt if isinstance(prompt, str) else ''}:{when}"
    status = attrs.get("status_code")
    failed = isinstance(status, int | str) and str(status).isdigit() and int(status) >= 400
    if compact and not failed:
        if not (event_id.isascii() and model.isascii() and (session is None or session.isascii())):
            event_id, model = clean_text(event_id), clean_text(model)
            session = None if session is None else clean_text(session)
        return AgentCall(event_id, to_us(ts), "google", model, (inp, cached, 0, 0, out), None, None, None, session,
                         SOURCE, SOURCE, None, reasoning)
    usage = Usage(input_tokens=inp, cache_read_tokens=cached, output_tokens=out, reasoning_tokens=reasoning)
    return UsageEvent(
        event_id=event_id, ts=ts, provider="google", model=model, usage=usage, session=session,
        agent=SOURCE, source=SOURCE, status="error" if failed else "ok",
    )


def _values(text: str, start: int) -> Iterator[tuple[int, int, object | None]]:
    """(start, end, value) of each top-level JSON value; value None for skipped garbage.

    Stops before a value that does not parse when nothing parsable follows it: that is the
    unfinished end of a file being written.
    """
    pos, size = start, len(text)
    while True:
        while pos < size and text[pos] in _WS:
            pos += 1
        if pos >= size:
            return
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except (ValueError, RecursionError):   # (nested too deep: garbage as well)
            resume = _next_start(text, pos + 1)
            if resume is None:
                return
            yield pos, resume, None
            pos = resume
            continue
        yield pos, end, value
        pos = end


def _next_start(text: str, pos: int) -> int | None:
    """The start of the next line that begins a JSON value which parses, if any."""
    while True:
        nl = text.find("\n", pos)
        if nl < 0:
            return None
        pos = nl + 1
        if text[pos:pos + 1] in ("{", "["):
            try:
                _DECODER.raw_decode(text, pos)
            except (ValueError, RecursionError):
                continue
            return pos


def read(log: LogFile, offset: int = 0, *, state: dict[str, Any] | None = None, compact: bool = False) -> ReadResult:
    """Complete records from ``offset``; ``lines`` counts top-level JSON values, not text lines.
    ``compact``: successful calls as ``ReadResult.calls``."""
    caller_state = state
    with open(log.path, "rb") as f:
        offset, state, restart = checked_offset(f, log, offset, state)
        data = f.read()
    tally = Tally(log.path, offset)
    if restart:
        tally.problems.append(restart)
    text = data.decode("utf-8", errors="surrogateescape")   # round-trips to the same bytes
    line_base = int(state.get("line", 0))
    events: list[UsageEvent] = []
    calls: list[AgentCall] = []
    titles: dict[str, SessionTitle] = {}
    consumed = 0
    counted_to = 0
    line_no = line_base
    for start, end, value in _values(text, 0):
        line_no += text.count("\n", counted_to, start)
        counted_to = start
        tally.line(offset)
        consumed = end
        if value is None:
            tally.bad(offset, line_no + 1, "not JSON: skipped up to the next record")
            continue
        found = False
        try:
            for record in _records(value):
                attrs = _attributes(record)
                if attrs.get("event.name") == PROMPT:
                    _title(attrs, titles)
                if attrs.get("event.name") != EVENT and record.get("body") != EVENT:
                    continue
                found = True
                try:
                    found_call = _event(record, attrs, compact)
                    if isinstance(found_call, AgentCall):
                        calls.append(found_call)
                    else:
                        events.append(found_call)
                except DECODE_FAILURES as exc:   # UsageFormatError, and whatever else a record's values raise
                    tally.bad(offset, line_no + 1, f"{EVENT}: {exc}")
        except RecursionError:
            tally.bad(offset, line_no + 1, "records nested too deep")
            continue
        if not found:
            tally.skip(offset)
    # Whitespace after the last value is consumed too, so that the offset lands on a line start.
    tail = consumed
    while tail < len(text) and text[tail] in _WS:
        tail += 1
    if tail > consumed and text[tail - 1] == "\n":
        consumed = text.rindex("\n", consumed, tail) + 1
    new_offset = offset + len(text[:consumed].encode("utf-8", errors="surrogateescape")) if consumed else offset
    state["line"] = line_base + text.count("\n", 0, consumed)
    if caller_state is not None:
        caller_state.clear()
        caller_state.update(state)
    result = tally.result(events, new_offset, None, calls)
    result.titles = titles
    return result


def _title(attrs: Mapping[str, object], titles: dict[str, SessionTitle]) -> None:
    session, prompt = attrs.get("session.id"), attrs.get("prompt")
    title = prompt_title(prompt) if isinstance(prompt, str) else None
    if isinstance(session, str) and session and title is not None:
        titles.setdefault(session, SessionTitle(title, "prompt"))


def checked_offset(f: Any, log: LogFile, offset: int,
                   state: dict[str, Any] | None) -> tuple[int, dict[str, Any], str | None]:
    """Like the JSONL readers' check, except that a value may end mid-line: only the size is checked."""
    if offset <= 0:
        return 0, dict(state or {}), None
    size = f.seek(0, 2)
    if offset > size:
        return 0, {}, f"{log.path}: the file is shorter ({size} bytes) than the stored offset {offset}: re-read"
    f.seek(offset)
    return offset, dict(state or {}), None


def _read(log: LogFile, offset: int, *, state: dict[str, Any], final: bool, compact: bool) -> ReadResult:
    return read(log, offset, state=state, compact=compact)


AGENT = registry.Agent(
    name="gemini-cli", title="Gemini CLI",
    places=discovery.gemini_places, files=discovery.gemini_files, read=_read, sniff=discovery.gemini_sniff,
    patterns=("*.log", "*.json", "*.jsonl"), notes="telemetry outfile (~/.gemini/telemetry.log)",
)
