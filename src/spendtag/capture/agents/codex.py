"""Codex CLI rollouts (``sessions/YYYY/MM/DD/rollout-*.jsonl``) into usage events.

Usage is in ``event_msg`` lines with ``payload.type == "token_count"`` (FORMATS.md 5.2):
``info.last_token_usage`` is one model call, ``info.total_token_usage`` the session's
running total. One event per call, from ``last_token_usage``; the total is never summed. It
only tells calls apart: Codex emits the same ``token_count`` twice, milliseconds apart, and
an event whose total equals the previous one is that duplicate. ``info: null`` (a rate-limit
update) carries no usage.

**Event id.** ``codex:{session}:{total.total_tokens}:{last.total_tokens}``. The running total
strictly grows within a session (each call adds tokens), so it names the call, and it is
the same on every re-read and in every file that copies the line. The last call's total is
added so that a session whose total restarted (a resume that starts counting from zero)
cannot collide with its own earlier calls. A line hash would not survive forks, which
rewrite the timestamps of the lines they copy.

**Forks.** A forked rollout (``session_meta.forked_from_id``, or a sub-agent's
``source.subagent.thread_spawn.parent_thread_id``) starts by replaying its parent's history,
``token_count`` lines included, with their original timestamps or with the fork's creation
time. Those calls belong to the parent: a ``token_count`` that is not later than one second
after the fork's start is attributed to the most recent earlier session (an embedded parent
``session_meta``, else the parent id), so it gets the parent's own event id and the ledger
counts it once, even when the parent's file is gone.

The model is the most recent ``turn_context.model`` (it can change mid-session).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from spendtag.capture._fields import DECODE_FAILURES, loads_line, to_count
from spendtag.capture.agents import discovery, registry
from spendtag.capture.agents.jsonl import (
    LogFile,
    ReadResult,
    Tally,
    checked_start,
    feed_lines,
    parse_time,
    prompt_title,
)
from spendtag.capture.parsers import parse_usage
from spendtag.errors import UsageFormatError
from spendtag.usage import SessionTitle, Usage, UsageEvent

SOURCE = "codex"
UNKNOWN_MODEL = "unknown"          # priced as unpriced, never guessed
FORK_GRACE = timedelta(seconds=1)  # replayed parent lines may carry the fork's creation second
_TOTAL_FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens", "total_tokens")


def _usage_key(u: Mapping[str, Any]) -> list[Any]:
    return [u.get(name) for name in _TOTAL_FIELDS]


class _Reader:
    def __init__(self, log: LogFile, tally: Tally, state: dict[str, Any], line_no: int) -> None:
        self.log = log
        self.tally = tally
        self.line_no = line_no
        self.state = state
        self.events: list[UsageEvent] = []
        # {id, start (ISO), parent} of the file's own session; [id, start] of embedded ones.
        self.own: dict[str, Any] | None = state.get("own")
        self.metas: list[list[Any]] = [list(m) for m in state.get("metas", ())]
        self.titles: dict[str, SessionTitle] = {}

    def feed(self, start: int, line: bytes) -> None:
        self.line_no += 1
        if not self.tally.line(start):
            return
        try:
            if b"token_count" in line:
                self._decoded(start, line, self._token_count)
            elif b"turn_context" in line:
                self._decoded(start, line, self._turn_context)
            elif b"session_meta" in line:
                self._decoded(start, line, self._session_meta)
            elif b"user_message" in line and not self.state.get("titled"):
                self._decoded(start, line, self._user_message)
            else:
                self.tally.skip(start)
        except DECODE_FAILURES as exc:
            # What the checks below did not foresee in a line is that line's problem alone.
            self.tally.bad(start, self.line_no, f"unreadable ({type(exc).__name__}: {exc})")

    def _decoded(self, start: int, line: bytes, handler: Any) -> None:
        try:
            obj = loads_line(line)
        except ValueError as exc:
            self.tally.bad(start, self.line_no, f"not JSON ({exc})")
            return
        if not isinstance(obj, dict) or not isinstance(obj.get("payload"), Mapping):
            self.tally.bad(start, self.line_no, "not a {timestamp, type, payload} record")
            return
        handler(start, obj, obj["payload"])

    def _session_meta(self, start: int, obj: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
        session = _text(payload, "id")
        if obj.get("type") != "session_meta" or session is None:
            self.tally.skip(start)
            return
        began = parse_time(payload.get("timestamp")) or parse_time(obj.get("timestamp"))
        began_text = began.isoformat() if began else None
        if self.own is None:
            self.own = {"id": session, "start": began_text, "parent": _parent(payload)}
        elif session != self.own["id"] and all(m[0] != session for m in self.metas):
            self.metas.append([session, began_text])     # a parent's metadata, replayed by a fork
        if self.state.get("cwd") is None or session == self.own["id"]:
            self.state["cwd"] = _text(payload, "cwd") or self.state.get("cwd")
        self.tally.skip(start)

    def _user_message(self, start: int, obj: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
        """The first prompt of the session (``event_msg`` of type ``user_message``): its title."""
        self.tally.skip(start)
        if obj.get("type") != "event_msg" or payload.get("type") != "user_message":
            return
        title = prompt_title(payload.get("message"))
        ts = parse_time(obj.get("timestamp"))
        if title is None or ts is None:
            return
        session = self._producer(ts)
        self.titles.setdefault(session, SessionTitle(title, "prompt"))
        if self.own is None or session == self.own["id"]:
            self.state["titled"] = True     # (a fork's replayed prompts are its parent's)

    def _turn_context(self, start: int, obj: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
        if obj.get("type") == "turn_context":
            self.state["model"] = _text(payload, "model") or self.state.get("model")
            self.state["cwd"] = _text(payload, "cwd") or self.state.get("cwd")
        self.tally.skip(start)

    def _token_count(self, start: int, obj: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
        if obj.get("type") != "event_msg" or payload.get("type") != "token_count":
            self.tally.skip(start)
            return
        info = payload.get("info")
        if info is None:
            self.tally.skip(start)          # a rate-limit update
            return
        if not isinstance(info, Mapping):
            self.tally.bad(start, self.line_no, "token_count info is not an object")
            return
        total, last = info.get("total_token_usage"), info.get("last_token_usage")
        ts = parse_time(obj.get("timestamp"))
        if ts is None:
            self.tally.bad(start, self.line_no, "token_count without a readable timestamp within 2000-2100")
            return
        if not isinstance(total, Mapping):
            self.tally.bad(start, self.line_no, "token_count without total_token_usage: cannot tell calls apart")
            return
        if last is not None and not isinstance(last, Mapping):
            self.tally.bad(start, self.line_no, "token_count last_token_usage is not an object")
            return
        previous = self.state.get("total")
        # Both usages are checked whole before the line is compared with the one before: a
        # copy of the duplicate with one count corrupted (total_tokens -14691) is malformed,
        # never a new call.
        try:
            grand = _total_tokens(total, "total_token_usage")
            parse_usage("openai", total, api="codex")
            if isinstance(last, Mapping):
                usage, last_total = parse_usage("openai", last, api="codex"), _total_tokens(last, "last_token_usage")
            else:
                usage, last_total = None, None
        except UsageFormatError as exc:
            self.tally.bad(start, self.line_no, str(exc))
            return
        key = _usage_key(total)
        if key == previous:
            self.tally.skip(start)          # the duplicate Codex emits milliseconds later
            return
        if usage is None:
            try:
                usage = self._difference(total, previous)
            except UsageFormatError as exc:
                self.tally.bad(start, self.line_no, str(exc))
                return
        if previous is not None and grand == _previous_total(previous):
            # The running total did not move, yet the counts differ: a corrupted repeat of the
            # previous token_count (a new call always adds tokens to the total).
            self.tally.bad(start, self.line_no, "token_count repeats the previous running total with other counts")
            return
        self.state["total"] = key
        total_tokens = grand
        if last_total is None:
            last_total = usage.total_tokens
        session = self._producer(ts)
        model = self.state.get("model")
        if model is None:
            model = UNKNOWN_MODEL
            self.tally.note(self.line_no, "no turn_context model before this call: recorded as model 'unknown'")
        self.events.append(UsageEvent(
            event_id=f"{SOURCE}:{session}:{total_tokens}:{last_total}", ts=ts, provider="openai", model=model,
            usage=usage, project=self.state.get("cwd"), session=session, agent=SOURCE, source=SOURCE,
        ))

    def _difference(self, total: Mapping[str, Any], previous: list[Any] | None) -> Usage:
        """One call as the step between two running totals, when ``last_token_usage`` is missing."""
        before = dict(zip(_TOTAL_FIELDS, previous or [None] * len(_TOTAL_FIELDS), strict=True))
        step: dict[str, Any] = {}
        for name in _TOTAL_FIELDS:
            now = total.get(name)
            step[name] = (now or 0) - (before.get(name) or 0) if isinstance(now, int) else now
        return parse_usage("openai", step, api="codex")

    def _producer(self, ts: datetime) -> str:
        """The session a call was made in (a fork's replayed prefix belongs to its parent)."""
        own = self.own
        if own is None:
            return _file_session(self.log)
        parent, began = own.get("parent"), parse_time(own.get("start"))
        if parent is None or began is None or ts > began + FORK_GRACE:
            return str(own["id"])
        candidates = [(parse_time(when), sid) for sid, when in self.metas]
        earlier = [(when, sid) for when, sid in candidates if when is not None and when <= ts]
        return max(earlier)[1] if earlier else str(parent)


def _total_tokens(u: Mapping[str, Any], where: str) -> int:
    """``total_tokens``, which Codex keeps as input + output (FORMATS.md 5.2): a count that
    says otherwise was corrupted. Absent, it is that sum."""
    counted = (to_count(u.get("input_tokens"), f"{where}.input_tokens")
               + to_count(u.get("output_tokens"), f"{where}.output_tokens"))
    value = u.get("total_tokens")
    if value is None:
        return counted
    total = to_count(value, f"{where}.total_tokens")
    if total != counted:
        raise UsageFormatError(f"{where}.total_tokens ({total}) is not input_tokens + output_tokens ({counted})")
    return total


def _previous_total(previous: list[Any]) -> int | None:
    """The total_tokens of a stored running-total key (checked when it was stored), or None."""
    before = dict(zip(_TOTAL_FIELDS, previous, strict=False))
    value = before.get("total_tokens")
    if type(value) is int:
        return value
    inputs, outputs = before.get("input_tokens"), before.get("output_tokens")
    if type(inputs) is int and type(outputs) is int:
        return inputs + outputs
    return None


def _parent(payload: Mapping[str, Any]) -> str | None:
    forked = _text(payload, "forked_from_id")
    if forked:
        return forked
    source = payload.get("source")
    if isinstance(source, Mapping):
        spawn = source.get("subagent")
        spawn = spawn.get("thread_spawn") if isinstance(spawn, Mapping) else None
        if isinstance(spawn, Mapping):
            return _text(spawn, "parent_thread_id")
    return None


def _file_session(log: LogFile) -> str:
    """The session id in a rollout's name (``rollout-<time>-<uuid>``), for files without session_meta."""
    stem = log.path.stem
    parts = stem.split("-")
    return "-".join(parts[-5:]) if len(parts) >= 6 else stem


def _text(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def read(log: LogFile, offset: int = 0, *, state: dict[str, Any] | None = None) -> ReadResult:
    """Complete lines of a rollout from ``offset``.

    ``state`` (updated in place) carries what later lines depend on: the session, the
    current model and cwd, and the last running total seen.
    """
    caller_state = state
    with open(log.path, "rb") as f:
        offset, state, restart = checked_start(f, log.path, offset, state)
        tally = Tally(log.path, offset)
        reader = _Reader(log, tally, state, int(state.get("line", 0)))
        if restart:
            tally.problems.append(restart)
        end = feed_lines(f, offset, reader.feed)
    state["own"] = reader.own
    state["metas"] = reader.metas
    state["line"] = reader.line_no
    if caller_state is not None:
        caller_state.clear()
        caller_state.update(state)
    result = tally.result(reader.events, end)
    result.titles = reader.titles
    return result


def _read(log: LogFile, offset: int, *, state: dict[str, Any], final: bool, compact: bool) -> ReadResult:
    return read(log, offset, state=state)


AGENT = registry.Agent(
    name="codex", title="Codex CLI",
    places=discovery.codex_places, files=discovery.codex_files, read=_read, sniff=discovery.codex_sniff,
    patterns=("rollout-*.jsonl",), notes="session rollouts ($CODEX_HOME, ~/.codex/sessions)",
)
