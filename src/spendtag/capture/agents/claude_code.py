"""Claude Code transcripts (``projects/<encoded-cwd>/<session>.jsonl``) into usage events.

One API call is written as several lines (one per content block), each with the call's
usage; in streamed calls the earlier lines carry a placeholder ``output_tokens`` and a later
one the final count (FORMATS.md 5.0). Each copy is checked on its own (its time, its
counts): a broken one is counted as malformed and changes nothing else. A call's event is
the valid copy with the largest token total (the later one on ties), and a call is
*closed* once no later copy can come:

* a line of the call has a non-null ``message.stop_reason``, or
* a later line of the same conversation thread belongs to another message (the next call,
  a tool result, a new prompt). Real transcripts often have ``stop_reason: null`` on every
  line, so this rule closes most calls. Threads matter because parallel sub-agents
  interleave their ``progress`` lines in the parent file.

A call still open at the end of what was read (the newest call of a live session) is
emitted at once with the copy it has, and remembered in the state with that copy's total
and line. The returned offset stays at its first line, so the next read sees the call
whole; if by then a larger copy (or a later one of the same total) has been written, that
copy comes back in ``revised``: the ledger replaces the event it recorded with it. Reading
in increments thus gives the events of one read once the revisions are applied, and
re-reading gives nothing new. ``final=True`` (a file no longer written) closes open calls
with the copy they have.

The event id is ``claude-code:{message.id}:{requestId}`` (``claude-code:{sessionId}:{message.id}``
without a request id): resumed sessions copy lines verbatim into a new file, and the ledger
ignores an id it already has. Sidechain replays repeat a call with the same ``message.id``
under another ``requestId``; within a file they are dropped here.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import msgspec
from msgspec import UNSET, UnsetType

from spendtag.bounds import MAX_COUNT, clean_optional, clean_text
from spendtag.capture._fields import DECODE_FAILURES, loads_line
from spendtag.capture.agents import discovery, registry
from spendtag.capture.agents.jsonl import (
    AgentCall,
    LogFile,
    ReadResult,
    Tally,
    blocks,
    checked_start,
    prompt_title,
    time_of,
)
from spendtag.capture.parsers import parse_usage
from spendtag.errors import UsageFormatError
from spendtag.usage import SessionTitle, Usage

SOURCE = "claude-code"
_MAIN = "m"                        # the thread of the file's own conversation


class _Message(msgspec.Struct):
    """The fields of ``message`` the reader uses; the rest (content: most of the bytes) is skipped unread."""

    id: Any = None
    model: Any = None
    stop_reason: Any = None
    usage: Any = None


class _Line(msgspec.Struct):
    """The fields of a transcript line the reader uses."""

    type: Any = None
    message: _Message | None = None
    requestId: Any = None            # (the transcript's own names)
    sessionId: Any = None
    timestamp: Any = None
    cwd: Any = None
    costUSD: Any = None
    isSidechain: Any = None
    agentId: Any = None
    isApiErrorMessage: Any = None


_Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]   # out of bounds: the full parser says why


class _Split(msgspec.Struct, forbid_unknown_fields=True):
    ephemeral_5m_input_tokens: _Count | None | UnsetType = UNSET
    ephemeral_1h_input_tokens: _Count | None | UnsetType = UNSET


class _ServerTools(msgspec.Struct, forbid_unknown_fields=True):
    web_search_requests: _Count | None | UnsetType = UNSET
    web_fetch_requests: _Count | None | UnsetType = UNSET


class _Counts(msgspec.Struct, forbid_unknown_fields=True):
    """The usage shape Claude Code writes on nearly every line, checked while decoding.

    Plain non-negative counts (null is 0), the cache TTL split, a tier, and the server-tool
    counts, modifiers and so on that current versions add (zero or absent on most lines).
    Absent fields stay UNSET, so the usage can be given back to the full parser exactly as
    it was written (``_usage_dict``), and a usage without any count is told from one with
    null counts as the full parser tells them. Other shapes (numeric strings, iterations...)
    fail the fast decode and take the full path.
    """

    input_tokens: _Count | None | UnsetType = UNSET
    cache_creation_input_tokens: _Count | None | UnsetType = UNSET
    cache_read_input_tokens: _Count | None | UnsetType = UNSET
    output_tokens: _Count | None | UnsetType = UNSET
    cache_creation: _Split | None | UnsetType = UNSET
    service_tier: str | None | UnsetType = UNSET
    server_tool_use: _ServerTools | None | UnsetType = UNSET
    inference_geo: str | None | UnsetType = UNSET
    speed: str | None | UnsetType = UNSET


class _FastMessage(_Message):
    usage: _Counts | None = None


class _FastLine(_Line):
    """``_Line`` with the usage decoded as ``_Counts`` and the time as a datetime (RFC 3339)."""

    message: _FastMessage | None = None
    timestamp: datetime | None = None


# Decodes only the fields above, at C speed. A line it cannot take as such (bad JSON, a
# ``message`` that is not an object...) goes through ``json.loads`` and the checks below,
# which say what is wrong with it; so both ways give the same outcome for every line.
_DECODE_LINE = msgspec.json.Decoder(_FastLine).decode
_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)


def _line_of(rec: Mapping[str, Any]) -> _Line:
    """A line decoded by ``json.loads`` (an odd one, or a sub-agent record), as the fast decoder gives it."""
    m = rec.get("message")
    get = rec.get
    message = (_Message(id=m.get("id"), model=m.get("model"), stop_reason=m.get("stop_reason"), usage=m.get("usage"))
               if isinstance(m, Mapping) else None)
    return _Line(type=get("type"), message=message, requestId=get("requestId"), sessionId=get("sessionId"),
                 timestamp=get("timestamp"), cwd=get("cwd"), costUSD=get("costUSD"), isSidechain=get("isSidechain"),
                 agentId=get("agentId"), isApiErrorMessage=get("isApiErrorMessage"))


@dataclass(slots=True)
class _Call:
    key: str
    msg_id: str
    thread: str
    start: int                     # byte offset of its first line: where to re-read it from
    line_no: int
    total: int
    record: _Line                  # the valid copy with the largest total (the later one on ties)
    record_line: int
    agent: str
    usage: Usage | None            # that copy's usage when it is more than text counts (else None)


class _Context:
    """What a file's location says about its records."""

    __slots__ = ("session", "agent", "project")

    def __init__(self, path: Path) -> None:
        if path.parent.name == "subagents":
            # projects/<encoded-cwd>/<parent session>/subagents/<agent>.jsonl: the usage
            # belongs to the parent session.
            self.session: str | None = path.parent.parent.name
            self.agent = f"{SOURCE}/{path.stem}"
            folder = path.parent.parent.parent.name
        else:
            self.session = None
            self.agent = SOURCE
            folder = path.parent.name
        # (a file name that is not UTF-8 reaches here with surrogate escapes)
        self.project = clean_optional(decode_folder(folder))
        self.session = clean_optional(self.session)
        self.agent = clean_text(self.agent)


def decode_folder(name: str) -> str | None:
    """The working directory a project folder stands for (lossy: every non-alphanumeric was ``-``)."""
    if not name or name in (".", "/"):
        return None
    return name.replace("-", "/") if name.startswith("-") else name


class _Reader:
    def __init__(self, log: LogFile, tally: Tally, state: dict[str, Any], line_no: int) -> None:
        self.log = log
        self.tally = tally
        self.ctx = _Context(log.path)
        self.line_no = line_no
        # Calls whose final copy is not known yet, by key; and the one open call of each
        # conversation thread (a record of one call closes the others of its thread, so a
        # thread never has two).
        self.pending: dict[str, _Call] = {}
        self.open: dict[str, _Call] = {}
        self.emitted: set[str] = set(state.get("emitted", ()))
        self.emitted_msgs = {key.split(" ", 1)[0] for key in self.emitted}
        # Calls emitted while still open, by key: [total, line] of the copy emitted.
        self.recorded: dict[str, list[int]] = {key: list(copy) for key, copy in state.get("open", {}).items()}
        self.calls: list[AgentCall] = []
        self.revised: list[AgentCall] = []
        self.same: dict[str, str] = {}
        self.logged = Decimal(0)
        self.new_keys: list[str] = []
        # Session titles (ReadResult.titles): a sub-agent's prompt is its task, not the session's.
        self.titles: dict[str, SessionTitle] = {}
        self.want_prompt = self.ctx.agent == SOURCE and not state.get("titled")

    # -- per line -------------------------------------------------------------------------

    def feed(self, f: BinaryIO, offset: int) -> int:
        """Every complete line from ``offset`` (see ``jsonl.blocks``); the offset after the last."""
        tally = self.tally
        seen_to = tally.seen_to
        assistant, progress, user = self._assistant_line, self._progress_line, self._user_line
        open_calls = self.open
        end = offset
        for pos, lines in blocks(f, offset):
            for line in lines:
                # Tally.line(), inlined: this runs for every line.
                self.line_no += 1
                counted = pos >= seen_to
                if counted:
                    tally.lines += 1
                try:
                    if b'"assistant"' in line:
                        assistant(pos, line)
                    elif b'"progress"' in line and (b'"usage"' in line or self._pending_outside_main()):
                        progress(pos, line)
                    elif (open_calls or self.want_prompt) and b'"user"' in line:
                        user(pos, line)
                    elif b'"summary"' in line:
                        self._summary_line(pos, line)
                    elif counted:
                        tally.skipped += 1
                except DECODE_FAILURES as exc:
                    # What the checks below did not foresee in a line is that line's problem alone.
                    tally.bad(pos, self.line_no, f"unreadable ({type(exc).__name__}: {exc})")
                pos += len(line) + 1
            end = pos
        return end

    def _decode(self, start: int, line: bytes) -> dict[str, Any] | None:
        try:
            obj = loads_line(line)
        except ValueError as exc:   # not JSON, or nested too deep
            self.tally.bad(start, self.line_no, f"not JSON ({exc})")
            return None
        if not isinstance(obj, dict):
            self.tally.bad(start, self.line_no, "not a JSON object")
            return None
        return obj

    def _assistant_line(self, start: int, line: bytes) -> None:
        try:
            fast = _DECODE_LINE(line)
        except _DECODE_ERRORS:
            fast = None
        if fast is not None and fast.type == "assistant" and (line.isascii() or _utf8(line)):
            self._record(start, fast, self.ctx.agent)
            return
        rec = self._decode(start, line)
        if rec is None:
            return
        kind = rec.get("type")
        if kind == "assistant":
            self._record(start, _line_of(rec), self.ctx.agent)
        elif kind == "progress":
            self._progress(start, rec)
        elif kind == "user":
            self._close_thread(_thread(rec))
            self.tally.skip(start)
        else:
            self.tally.skip(start)

    def _progress_line(self, start: int, line: bytes) -> None:
        rec = self._decode(start, line)
        if rec is not None:
            self._progress(start, rec)

    def _summary_line(self, start: int, line: bytes) -> None:
        """``{"type":"summary","summary":"...","leafUuid":...}``: Claude Code's own title for the session."""
        try:
            rec = loads_line(line)
        except ValueError:
            rec = None
        text = rec.get("summary") if isinstance(rec, dict) and rec.get("type") == "summary" else None
        title = " ".join(text.split())[:200] if isinstance(text, str) else ""
        if title and self.ctx.agent == SOURCE:
            self.titles[self._file_session(rec)] = SessionTitle(clean_text(title), "summary")
        self.tally.skip(start)

    def _file_session(self, rec: Mapping[str, Any]) -> str:
        """The session a main transcript's line belongs to: its sessionId, else the file's name."""
        session = rec.get("sessionId")
        return clean_text(session) if isinstance(session, str) and session else clean_text(self.log.path.stem)

    def _first_prompt(self, line: bytes) -> None:
        try:
            rec = loads_line(line)
        except ValueError:
            return   # (judged as a line by the caller)
        if (not isinstance(rec, dict) or rec.get("type") != "user" or rec.get("isSidechain") is True
                or rec.get("isMeta") is True):
            return
        message = rec.get("message")
        title = prompt_title(message.get("content")) if isinstance(message, dict) else None
        if title is None:
            return
        self.want_prompt = False
        session = self._file_session(rec)
        if session not in self.titles:
            self.titles[session] = SessionTitle(title, "prompt")

    def _user_line(self, start: int, line: bytes) -> None:
        if self.want_prompt:
            self._first_prompt(line)
        if b'"type":"user"' in line and b'"isSidechain":true' not in line and not self._pending_outside_main():
            # The usual case, decided from the bytes alone: a main-thread user line (a tool
            # result or a prompt) closes the main thread's open call.
            self._close_thread(_MAIN)
            self.tally.skip(start)
            return
        rec = self._decode(start, line)
        if rec is None:
            return
        if rec.get("type") == "user":
            self._close_thread(_thread(rec))
        elif rec.get("type") == "progress":
            self._progress(start, rec)
            return
        self.tally.skip(start)

    def _progress(self, start: int, rec: Mapping[str, Any]) -> None:
        """A sub-agent ``progress`` line: its record sits under ``data.message``."""
        data = rec.get("data")
        inner = data.get("message") if isinstance(data, Mapping) else None
        if not isinstance(inner, Mapping) or not isinstance(data, Mapping):
            self.tally.skip(start)
            return
        agent_id = data.get("agentId") or rec.get("agentId")
        thread_id = agent_id or rec.get("parentToolUseID") or data.get("parentToolUseID") or ""
        thread = f"p:{thread_id}"
        agent = f"{SOURCE}/agent-{agent_id}" if isinstance(agent_id, str) and agent_id else f"{SOURCE}/subagent"
        if "message" not in inner and "usage" in inner:
            inner = {"type": "assistant", "message": inner}   # the bare API message, wrapped
        kind = inner.get("type")
        if kind == "user":
            self._close_thread(thread)
            self.tally.skip(start)
            return
        if kind != "assistant":
            self.tally.skip(start)
            return
        merged = dict(inner)
        for name in ("sessionId", "cwd", "timestamp", "requestId"):
            if merged.get(name) is None and rec.get(name) is not None:
                merged[name] = rec[name]
        self._record(start, _line_of(merged), agent, thread)

    def _record(self, start: int, rec: _Line, agent: str, thread: str | None = None) -> None:
        message = rec.message
        if message is None:
            self.tally.bad(start, self.line_no, "assistant line without a message object")
            return
        if rec.isApiErrorMessage or message.model == "<synthetic>":
            self.tally.skip(start)
            return
        if thread is None:
            thread = f"s:{rec.agentId or ''}" if rec.isSidechain is True else _MAIN
        msg_id = message.id
        raw_usage = message.usage
        if not isinstance(msg_id, str) or not msg_id:
            # Without an id the copies of one call cannot be told apart from separate calls.
            self.tally.bad(start, self.line_no, "assistant line without message.id: cannot de-duplicate it")
            return
        if type(raw_usage) is not _Counts and not isinstance(raw_usage, Mapping):
            self.tally.bad(start, self.line_no, f"message {msg_id} has no usage object")
            return
        model = message.model
        if not isinstance(model, str) or not model:
            self.tally.bad(start, self.line_no, f"message {msg_id} has no model")
            return
        request_id = rec.requestId
        if isinstance(request_id, str) and request_id:
            key = f"{msg_id} {request_id}"
        else:
            session = self.ctx.session or rec.sessionId or ""
            key = f"{msg_id}  {session}"     # an empty request id, then the session
        # Each copy is checked on its own, before it is compared with its siblings: a bad
        # copy is counted as malformed and changes nothing, and the call is made of its
        # valid copies (one broken line never takes its siblings with it). The usual copy
        # (plain counts, checked while decoding) needs only its time read here.
        stamp = rec.timestamp   # (decoded as a datetime by the fast decoder: its range is all to check)
        if not (2000 <= stamp.year < 2100 if type(stamp) is datetime and stamp.tzinfo is UTC
                else time_of(stamp) is not None):
            self.tally.bad(start, self.line_no, f"message {msg_id}: no readable timestamp within 2000-2100")
            return
        usage: Usage | None = None
        if type(raw_usage) is not _Counts or (
                (raw_usage.server_tool_use is not UNSET or raw_usage.inference_geo is not UNSET
                 or raw_usage.speed is not UNSET or raw_usage.input_tokens is UNSET)
                and _text_counts(raw_usage) is None):
            try:
                usage = fast_usage(raw_usage) or parse_usage("anthropic", _usage_dict(raw_usage))
            except UsageFormatError as exc:
                self.tally.bad(start, self.line_no, f"message {msg_id}: {exc}")
                return
        if key in self.emitted:
            self.tally.skip(start)        # a copy of a call already emitted (resumed, re-read)
            return
        if rec.isSidechain is True and self._known_under_other_key(msg_id, key):
            self.tally.skip(start)        # a sidechain replay of a call counted under its own request id
            return
        if type(raw_usage) is _Counts:
            total = ((raw_usage.input_tokens or 0) + (raw_usage.cache_creation_input_tokens or 0)
                     + (raw_usage.cache_read_input_tokens or 0) + (raw_usage.output_tokens or 0))
        else:
            assert isinstance(raw_usage, Mapping)
            plain = _raw_total(raw_usage)
            if plain is None:
                assert usage is not None   # not plain counts: what the full parser read (numeric strings)
                plain = usage.total_tokens
            total = plain
        other = self.open.get(thread)
        if other is not None and other.key != key:
            self._close(other)
        call = self.pending.get(key)
        if call is None:
            call = self.pending[key] = _Call(key, msg_id, thread, start, self.line_no, total, rec, self.line_no,
                                             agent, usage)
            self.open[thread] = call
        elif total >= call.total:
            call.total, call.record, call.record_line, call.usage = total, rec, self.line_no, usage
        if message.stop_reason is not None:
            self._close(call)

    # -- calls ----------------------------------------------------------------------------

    def _known_under_other_key(self, msg_id: str, key: str) -> bool:
        if msg_id in self.emitted_msgs:
            return True
        return any(c.msg_id == msg_id and c.key != key for c in self.pending.values())

    def _pending_outside_main(self) -> bool:
        return len(self.open) > (_MAIN in self.open)

    def _close_thread(self, thread: str) -> None:
        call = self.open.get(thread)
        if call is not None:
            self._close(call)

    def _close(self, call: _Call) -> None:
        """The call's final copy is known: emit it (or, if it was emitted while open, a copy that grew since)."""
        del self.pending[call.key]
        if self.open.get(call.thread) is call:
            del self.open[call.thread]
        self.emitted.add(call.key)
        self.emitted_msgs.add(call.msg_id)
        self.new_keys.append(call.key)
        recorded = self.recorded.pop(call.key, None)
        if recorded is None:
            self._emit(call, self.calls)
        elif (call.total, call.record_line) > (recorded[0], recorded[1]):
            self._emit(call, self.revised)

    def close_all(self) -> None:
        for call in list(self.pending.values()):
            self._close(call)

    def emit_open(self) -> None:
        """Calls still open at the end of what was read: emit each with the copy it has now.

        A call emitted so by an earlier read comes back (in ``revised``) only when its copy
        has grown since, or a later copy of the same total was written.
        """
        for call in self.pending.values():
            recorded = self.recorded.get(call.key)
            if recorded is None:
                self._emit(call, self.calls)
            elif (call.total, call.record_line) > (recorded[0], recorded[1]):
                self._emit(call, self.revised)
            else:
                continue
            self.recorded[call.key] = [call.total, call.record_line]

    def _emit(self, call: _Call, into: list[AgentCall]) -> None:
        rec = call.record
        message = rec.message
        assert message is not None
        msg_id, _, request = call.key.partition(" ")
        ts, usage = time_of(rec.timestamp), call.usage
        assert ts is not None   # (checked when the copy was read)
        counts: tuple[int, int, int, int, int] | None = None
        if usage is None:
            found = _text_counts(message.usage)   # (plain counts: checked when the copy was read)
            assert found is not None
            counts, tier = found
        else:
            tier = usage.service_tier
        # "msg req" -> message id + request id; "msg  session" (no request id) -> session-scoped.
        event_id = f"{SOURCE}:{request[1:]}:{msg_id}" if request.startswith(" ") else f"{SOURCE}:{msg_id}:{request}"
        # One object per distinct value: every line decodes its own copy, and the calls are
        # pickled from import workers, where a repeated object is written once.
        same = self.same
        session = self.ctx.session or _str(rec.sessionId)
        session = same.setdefault(session, session) if session else session
        tier = same.setdefault(tier, tier) if tier else tier
        model, project, agent = message.model, _str(rec.cwd) or self.ctx.project, call.agent
        if type(rec) is not _FastLine:
            # Read by json.loads: its text may hold lone surrogates (a JSON escape such as
            # "\ud800"), which cannot be stored: U+FFFD instead. (The fast decoder refuses them.)
            event_id, model, msg_id = clean_text(event_id), clean_text(model), clean_text(msg_id)
            agent = clean_text(agent)
            project, session = clean_optional(project), clean_optional(session)
        into.append(AgentCall(event_id, ts, "anthropic", model, counts, tier, usage,
                              project, session, agent, SOURCE, msg_id))
        if into is self.revised:
            return   # its logged cost was counted with the copy first emitted
        cost = rec.costUSD
        if isinstance(cost, int | float) and not isinstance(cost, bool):
            with suppress(InvalidOperation):   # nan/inf: nothing to compare against
                self.logged += Decimal(str(cost))


def _text_counts(u: _Counts) -> tuple[tuple[int, int, int, int, int], str | None] | None:
    """``fast_usage`` of a decoded ``_Counts``, as text counts and a tier.

    None when the full parser must judge it: no count at all, server-tool counts that are
    not plainly 0, a geography or a speed (they change the price).
    """
    flat = u.cache_creation_input_tokens
    split = u.cache_creation
    if (u.input_tokens is UNSET and u.output_tokens is UNSET and u.cache_read_input_tokens is UNSET
            and flat is UNSET and split is UNSET):
        return None   # the full parser says what is wrong with it
    tools = u.server_tool_use
    if tools is not UNSET and (tools is None or tools.web_search_requests not in (0, UNSET)
                               or tools.web_fetch_requests not in (0, UNSET)):
        return None
    if u.inference_geo is not UNSET or u.speed is not UNSET:
        return None
    flat = flat or 0
    if split is None or split is UNSET:
        w5, w1 = flat, 0
    else:
        w5 = split.ephemeral_5m_input_tokens or 0
        w1 = split.ephemeral_1h_input_tokens or 0
        w5 += max(0, flat - w5 - w1)
    return (u.input_tokens or 0, u.cache_read_input_tokens or 0, w5, w1, u.output_tokens or 0), u.service_tier or None


def _usage_dict(u: Any) -> Any:
    """The usage as the full parser takes it (a decoded ``_Counts`` back as the fields it had)."""
    if type(u) is not _Counts:
        return u
    return _fields(u)


def _fields(struct: Any) -> dict[str, Any]:
    """A decoded Struct as the dict it was decoded from (absent fields left out)."""
    out = {}
    for name, value in msgspec.structs.asdict(struct).items():
        if value is not UNSET:
            out[name] = _fields(value) if isinstance(value, msgspec.Struct) else value
    return out


_RAW_COUNTS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")


def _raw_total(u: Mapping[str, Any]) -> int | None:
    """The copy's token total when its counts are plain non-negative ints (None otherwise)."""
    total = 0
    for name in _RAW_COUNTS:
        value = u.get(name, 0)
        if value is None:
            continue
        if type(value) is not int or value < 0:
            return None
        total += value
    return total


def _thread(rec: Mapping[str, Any]) -> str:
    if rec.get("isSidechain") is True:
        return f"s:{rec.get('agentId') or ''}"
    return _MAIN


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _utf8(line: bytes) -> bool:
    """Whether the whole line is UTF-8 (the fast decoder does not look inside the fields it skips)."""
    try:
        line.decode()
    except UnicodeDecodeError:
        return False
    return True


_PLAIN_KEYS = frozenset({"input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens",
                         "cache_creation", "service_tier"})


_COUNT_KEYS = frozenset(_PLAIN_KEYS - {"service_tier"})
_SPLIT_KEYS = frozenset({"ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"})


def fast_usage(u: Any) -> Usage | None:
    """``parse_usage("anthropic", u)`` for the usual shape (plain counts, the TTL split, a tier), else None.

    Claude Code writes this shape on nearly every line; anything else (numeric strings,
    server tools, iterations...) returns None and goes through the full parser.
    """
    if type(u) is not dict or not _PLAIN_KEYS.issuperset(u) or _COUNT_KEYS.isdisjoint(u):
        return None   # (with no count at all, the full parser says it is not a Messages usage)
    get = u.get
    inp, out, read, flat = (get("input_tokens", 0), get("output_tokens", 0), get("cache_read_input_tokens", 0),
                            get("cache_creation_input_tokens", 0))
    # Plain non-negative ints (a null is 0); anything else is for the full parser to judge.
    if type(inp) is not int or type(out) is not int or type(read) is not int or type(flat) is not int:
        inp, out, read, flat = (0 if v is None else v for v in (inp, out, read, flat))
        if type(inp) is not int or type(out) is not int or type(read) is not int or type(flat) is not int:
            return None
    if not (0 <= inp <= MAX_COUNT and 0 <= out <= MAX_COUNT and 0 <= read <= MAX_COUNT and 0 <= flat <= MAX_COUNT):
        return None   # (the full parser says which count is out of bounds)
    split = get("cache_creation")
    if split is None:
        w5, w1 = flat, 0
    elif type(split) is dict and _SPLIT_KEYS.issuperset(split):
        w5 = split.get("ephemeral_5m_input_tokens", 0)
        w1 = split.get("ephemeral_1h_input_tokens", 0)
        w5 = 0 if w5 is None else w5
        w1 = 0 if w1 is None else w1
        if type(w5) is not int or type(w1) is not int or not (0 <= w5 <= MAX_COUNT and 0 <= w1 <= MAX_COUNT):
            return None
        w5 += max(0, flat - w5 - w1)
    else:
        return None
    tier = get("service_tier")
    if tier is not None and type(tier) is not str:
        return None
    return Usage(input_tokens=inp, cache_read_tokens=read, cache_write_5m_tokens=w5, cache_write_1h_tokens=w1,
                 output_tokens=out, service_tier=tier or None)


def read(log: LogFile, offset: int = 0, *, state: dict[str, Any] | None = None, final: bool = False,
         compact: bool = False) -> ReadResult:
    """Complete lines of a transcript from ``offset``; see the module docstring for the contract.

    ``state`` keeps the keys of the calls closed so far (a copy or a sidechain replay of one
    is not emitted again), the copies emitted of the calls still open, the line number at
    ``offset`` and how far lines were counted. ``compact=True`` gives the calls as
    :class:`AgentCall` in ``calls`` and ``revised_calls`` instead of ``events`` and ``revised``.
    """
    caller_state = state
    with open(log.path, "rb") as f:
        offset, state, restart = checked_start(f, log.path, offset, state)
        tally = Tally(log.path, int(state.get("seen_to", 0)))
        reader = _Reader(log, tally, state, int(state.get("line", 0)))
        if restart:
            tally.problems.append(restart)
        end = reader.feed(f, offset)
    if final:
        reader.close_all()
    else:
        reader.emit_open()
    if reader.pending:
        first = min(reader.pending.values(), key=lambda c: c.start)
        new_offset, line_no = first.start, first.line_no - 1
    else:
        new_offset, line_no = end, reader.line_no
    new_state: dict[str, Any] = {
        "emitted": [*state.get("emitted", ()), *reader.new_keys],
        "line": line_no,
        "seen_to": max(end, tally.seen_to),
    }
    if reader.recorded:
        new_state["open"] = reader.recorded
    if state.get("titled") or (reader.ctx.agent == SOURCE and not reader.want_prompt):
        new_state["titled"] = True
    if caller_state is not None:
        caller_state.clear()
        caller_state.update(new_state)
    if compact:
        result = tally.result([], new_offset, reader.logged, reader.calls)
        result.revised_calls = reader.revised
    else:
        result = tally.result([call.event() for call in reader.calls], new_offset, reader.logged)
        result.revised = [call.event() for call in reader.revised]
    result.titles = reader.titles
    return result


def _read(log: LogFile, offset: int, *, state: dict[str, Any], final: bool, compact: bool) -> ReadResult:
    return read(log, offset, state=state, final=final, compact=compact)


AGENT = registry.Agent(
    name="claude-code", title="Claude Code",
    places=discovery.claude_places, files=discovery.claude_files, read=_read, sniff=discovery.claude_sniff,
    logs_cost=True, patterns=("*.jsonl",), notes="transcripts ($CLAUDE_CONFIG_DIR, ~/.claude/projects)",
)
