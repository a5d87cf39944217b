"""OpenCode sessions into usage events: its SQLite database, and the JSON message files of older versions.

OpenCode (sst/opencode, now anomalyco/opencode) keeps its data in ``$XDG_DATA_HOME/opencode``
(``~/.local/share/opencode`` on every platform: it uses xdg-basedir, also on macOS and
Windows). Since 1.2 it is ``opencode.db`` (``opencode-<channel>.db`` for other channels),
table ``message`` (``id``, ``session_id``, ``time_created``, ``time_updated``, ``data``: the
message as JSON without its id and session id) and table ``session`` (``parent_id``,
``directory``). Earlier versions wrote one JSON file per message,
``storage/message/<sessionID>/msg_<id>.json``, and one per session,
``storage/session/<projectID>/<sessionID>.json``.

An assistant message is one model call (``tokens``: ``input`` without cache, ``output``
without reasoning, ``reasoning``, ``cache.read``, ``cache.write``; ``cost`` in USD as OpenCode
priced it). Billed output is ``output + reasoning``, as OpenCode bills it. The event id is
``opencode:<message id>``: the same message in the database and in a JSON file (OpenCode
migrated its files into the database) counts once. A message is written while it streams
and completed later; a row read again as it grows is recorded as a revised copy (the ledger
keeps the one with the most usage). A message of a sub-agent's session (``parent_id``) goes
to its parent session, as agent ``opencode/<agent>``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from spendtag.capture._fields import DECODE_FAILURES
from spendtag.capture.agents import registry
from spendtag.capture.agents.jsonl import AgentCall, LogFile, ReadResult, Tally
from spendtag.capture.agents.records import SQLITE_ERRORS, call, columns, connect, count, ms_time, usd
from spendtag.errors import UsageFormatError

SOURCE = "opencode"


class _Cache(msgspec.Struct):
    read: Any = None
    write: Any = None


class _Tokens(msgspec.Struct):
    input: Any = None
    output: Any = None
    reasoning: Any = None
    cache: _Cache | None = None


class _Time(msgspec.Struct):
    created: Any = None
    completed: Any = None


class _Path(msgspec.Struct):
    cwd: Any = None
    root: Any = None


class _Message(msgspec.Struct):
    """The fields of a message the reader uses (the rest is skipped unread)."""

    id: Any = None
    sessionID: Any = None          # (OpenCode's own names)
    role: Any = None
    time: _Time | None = None
    modelID: Any = None
    providerID: Any = None
    agent: Any = None
    mode: Any = None
    path: _Path | None = None
    cost: Any = None
    tokens: _Tokens | None = None


_DECODE = msgspec.json.Decoder(_Message).decode
_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, RecursionError, UnicodeDecodeError)


def _call(msg: _Message, msg_id: object, session: object, parent: object,
          directory: object) -> tuple[AgentCall, Decimal | None] | None:
    """The call an assistant message stands for, and the cost OpenCode logged for it; None
    without usage (a user message, one still streaming)."""
    if msg.role != "assistant":
        return None
    tokens = msg.tokens
    if tokens is None:
        return None
    if not isinstance(msg_id, str) or not msg_id:
        raise UsageFormatError("assistant message without an id")
    cache = tokens.cache or _Cache()
    inp, out = count(tokens.input, "tokens.input"), count(tokens.output, "tokens.output")
    reasoning = count(tokens.reasoning, "tokens.reasoning")
    read, write = count(cache.read, "tokens.cache.read"), count(cache.write, "tokens.cache.write")
    if not (inp or out or reasoning or read or write):
        return None
    ts = ms_time(msg.time.created if msg.time else None)
    if ts is None:
        raise UsageFormatError(f"message {msg_id}: no readable time.created")
    model = msg.modelID
    if not isinstance(model, str) or not model:
        raise UsageFormatError(f"message {msg_id}: no modelID")
    provider = msg.providerID if isinstance(msg.providerID, str) else None
    cwd = msg.path.cwd if msg.path is not None else None
    project = cwd if isinstance(cwd, str) and cwd else directory if isinstance(directory, str) else None
    name = msg.agent if isinstance(msg.agent, str) and msg.agent else msg.mode if isinstance(msg.mode, str) else ""
    sub = isinstance(parent, str) and parent != ""
    own = session if isinstance(session, str) else None
    found = call(f"{SOURCE}:{msg_id}", ts, provider, model, input=inp, cache_read=read, cache_write=write,
                 output=out + reasoning, reasoning=reasoning, project=project,
                 session=parent if isinstance(parent, str) and sub else own,
                 agent=f"{SOURCE}/{name or 'subagent'}" if sub else SOURCE, source=SOURCE)
    return found, usd(msg.cost)


class _Found:
    """The calls of one read, its counters and the cost OpenCode logged for them."""

    __slots__ = ("tally", "calls", "logged")

    def __init__(self, path: Path) -> None:
        self.tally = Tally(path, 0)
        self.calls: list[AgentCall] = []
        self.logged = Decimal(0)

    def add(self, raw: bytes, number: int, msg_id: object, session: object, parent: object,
            directory: object) -> None:
        tally = self.tally
        tally.lines += 1
        try:
            msg = _DECODE(raw)
            if msg_id is None:
                msg_id, session = msg.id, msg.sessionID
            found = _call(msg, msg_id, session, parent, directory)
        except _DECODE_ERRORS as exc:
            tally.bad(0, number, f"not a message object ({exc})")
            return
        except DECODE_FAILURES as exc:   # UsageFormatError, and whatever else a record's values raise
            tally.bad(0, number, str(exc))
            return
        if found is None:
            tally.skipped += 1
            return
        self.calls.append(found[0])
        if found[1]:
            self.logged += found[1]

    def result(self, offset: int, compact: bool) -> ReadResult:
        if compact:
            return self.tally.result([], offset, self.logged, self.calls)
        return self.tally.result([c.event() for c in self.calls], offset, self.logged)


# -- the database -------------------------------------------------------------------------

def _query(con: Any) -> str | None:
    have = columns(con, "message")
    if not {"id", "session_id", "data"} <= have:
        return None
    session = columns(con, "session")
    parent = "s.parent_id" if "parent_id" in session else "NULL"
    directory = "s.directory" if "directory" in session else "NULL"
    join = "LEFT JOIN session s ON s.id = m.session_id " if session else ""
    updated = "m.time_updated" if "time_updated" in have else "0"
    # (the JSON is written compact: an assistant message has "role":"assistant")
    return (f"SELECT m.id, m.session_id, {updated}, m.data, {parent}, {directory} FROM message m {join}"
            f"WHERE {updated} >= ? AND instr(m.data, '\"assistant\"') > 0")


def read_db(log: LogFile, *, state: dict[str, Any], compact: bool = True) -> ReadResult:
    """The assistant messages changed since the last read (``state["since"]``: the newest
    ``time_updated`` seen, in ms; rows updated at that ms are read again)."""
    found = _Found(log.path)
    since = state.get("since", 0)
    newest = since = since if type(since) is int else 0
    try:
        size = os.stat(log.path).st_size
        con = connect(log.path)
        try:
            query = _query(con)
            if query is None:
                found.tally.note(0, "no OpenCode message table here (not an OpenCode database?)")
                return found.result(size, compact)
            for number, (msg_id, session, changed, data, parent, cwd) in enumerate(con.execute(query, (since,)), 1):
                if type(changed) is int and changed > newest:
                    newest = changed
                found.add(data.encode() if isinstance(data, str) else data, number, msg_id, session, parent, cwd)
        finally:
            con.close()
    except SQLITE_ERRORS as exc:
        found.tally.malformed += 1
        found.tally.note(0, f"cannot read the database ({type(exc).__name__}: {exc})")
        return found.result(0, compact)
    state["since"] = newest
    return found.result(size, compact)


# -- the JSON files of earlier versions ---------------------------------------------------

_PARENTS: dict[Path, dict[str, tuple[str | None, str | None]]] = {}


def _sessions(storage: Path) -> dict[str, tuple[str | None, str | None]]:
    """sessionID -> (parentID, directory), from ``storage/session/*/*.json`` (read once per process)."""
    known = _PARENTS.get(storage)
    if known is None:
        known = _PARENTS[storage] = {}
        for path in storage.glob("session/*/*.json"):
            try:
                info = msgspec.json.decode(path.read_bytes())
            except (OSError, *_DECODE_ERRORS):
                continue
            if isinstance(info, dict) and isinstance(info.get("id"), str):
                parent, directory = info.get("parentID"), info.get("directory")
                known[info["id"]] = (parent if isinstance(parent, str) else None,
                                     directory if isinstance(directory, str) else None)
    return known


def read_file(log: LogFile, *, compact: bool = True) -> ReadResult:
    found = _Found(log.path)
    try:
        raw = log.path.read_bytes()
    except OSError as exc:
        found.tally.malformed += 1
        found.tally.note(0, f"unreadable ({exc})")
        return found.result(0, compact)
    session = log.path.parent.name
    parent, directory = None, None
    storage = log.path.parent.parent.parent
    if log.path.parent.parent.name == "message":
        parent, directory = _sessions(storage).get(session, (None, None))
    found.add(raw, 1, None, None, parent, directory)
    return found.result(len(raw), compact)


def _read(log: LogFile, offset: int, *, state: dict[str, Any], final: bool, compact: bool) -> ReadResult:
    if log.path.suffix == ".db":
        return read_db(log, state=state, compact=compact)
    return read_file(log, compact=compact)


# -- where -------------------------------------------------------------------------------

def places(env: Mapping[str, str], home: Path, plat: str) -> list[Path]:
    configured = [e.strip() for e in env.get("OPENCODE_DATA_DIR", "").split(",") if e.strip()]
    if configured:
        return [registry.expand(e, home) for e in configured]
    data = env.get("XDG_DATA_HOME", "").strip()   # xdg-basedir: the same on macOS and Windows
    return [(registry.expand(data, home) if data else home / ".local" / "share") / "opencode"]


def files(place: Path) -> list[LogFile]:
    if place.is_file():
        return [LogFile(SOURCE, place, place.parent)]
    if not place.is_dir():
        return []
    dbs = sorted(p for p in place.glob("opencode*.db") if p.is_file())
    found = [LogFile(SOURCE, p, place) for p in dbs]
    messages = place / "storage" / "message"
    if messages.is_dir():
        for folder in sorted(os.scandir(messages), key=lambda e: e.name):
            if folder.is_dir():
                found.extend(LogFile(SOURCE, Path(e.path), place) for e in sorted(os.scandir(folder.path),
                                                                                  key=lambda e: e.name)
                             if e.name.endswith(".json") and e.is_file())
    return found


def sniff(path: Path, head: bytes) -> bool:
    if path.suffix == ".db":
        return path.name.startswith("opencode") and head.startswith(b"SQLite format 3")
    return b'"providerID"' in head and b'"modelID"' in head and b'"sessionID"' in head


def _stamp(path: str) -> tuple[int, int]:
    return registry.sqlite_stamp(path) if os.path.splitext(path)[1] == ".db" else registry.file_stamp(path)


AGENT = registry.Agent(
    name="opencode", title="OpenCode", places=places, files=files, read=_read, sniff=sniff, whole=True,
    logs_cost=True, stamp=_stamp, patterns=("opencode*.db", "msg_*.json"),
    notes="opencode.db and storage/message (~/.local/share/opencode)",
)
