"""Durable, batched recording for the proxy.

Two parts:

* :class:`Journal`: an append-only file beside the ledger. A call's ``begin`` line is written
  before it is forwarded and its ``end`` line (the whole event) as soon as it completes;
  each is one ``write`` on an O_APPEND descriptor, so a killed process (SIGKILL) loses
  nothing the kernel was handed. On start, :func:`recover` records every journal that no
  live proxy holds: ended calls exactly, calls that never ended as ``aborted`` with an
  estimated usage. ``record`` is idempotent on the event id, so replaying is always safe.
* :class:`LedgerWriter`: a thread with its own ledger connection that records queued events
  in batches (every ``interval`` seconds or ``batch_max`` events), so the event loop never
  waits for SQLite. A journal file is deleted only once every event in it is committed.
"""

from __future__ import annotations

import fcntl
import json
import mmap
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

import msgspec

from spendtag.ledger.store import Store
from spendtag.pricing.pricer import Pricer
from spendtag.usage import PricedEvent, Usage, UsageEvent

ROTATE_BYTES = 64 * 1024 * 1024
WINDOW_BYTES = 1 << 20    # how much of the journal is mapped at a time
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def _us(ts: datetime) -> int:
    return (ts - _EPOCH) // _ONE_US


def journal_dir(db_url: str) -> Path:
    """Beside a SQLite ledger; for a server ledger, in this machine's data directory (one per ledger).

    Replicas on one machine share the directory, so one that outlives another records what
    the other left (its journal is no longer locked)."""
    if "://" in db_url and not db_url.startswith("sqlite:"):
        import hashlib

        import platformdirs

        digest = hashlib.sha256(db_url.encode()).hexdigest()[:16]   # the URL may hold a password: never in clear
        return Path(platformdirs.user_data_dir("spendtag", appauthor=False)) / f"proxy-journal-{digest}"
    from spendtag.ledger.sqlite import path_from_url

    path = path_from_url(db_url)
    return path.with_name(path.name + ".proxy-journal")


_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_encode_line = msgspec.json.Encoder().encode     # compact JSON as UTF-8 bytes, as _encode(...).encode() gives
_text = encode_basestring        # one JSON string, quoted


def _dumps(obj: Mapping[str, Any]) -> bytes:
    return (_encode(obj) + "\n").encode()


def event_line(event: UsageEvent) -> bytes:
    """The end of a call: what the response said. Who the call was for is on its begin line."""
    return _encode_line({"e": event.event_id, "ts": _us(event.ts), "p": event.provider, "m": event.model,
                         "u": event.usage.as_dict(), "st": event.status, "r": event.response_id}) + b"\n"


class Journal:
    """This process's journal file, locked while it lives.

    Lines are copied into a shared memory mapping of the file (``MAP_SHARED``): the pages
    belong to the kernel's page cache, so a killed process loses nothing it copied, exactly
    as with ``write(2)``, without a system call per line (two per call were a twentieth of
    the proxy's CPU). Only a window of the file is mapped at a time, so the process's memory
    does not grow with the file; a line that crosses a window's end continues in the next,
    so the file's lines stay contiguous. The unwritten rest is zeros, which no JSON line
    contains: a reader stops at the first.
    """

    def __init__(self, directory: Path, window: int = WINDOW_BYTES) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.window = window
        self._in_flight: dict[str, bytes] = {}
        # (provider, model, id(tags), project, session, agent, key) -> (tags, their JSON members):
        # a begin line encodes only what changes from call to call.
        self._who: dict[tuple[Any, ...], tuple[Mapping[str, str], str]] = {}
        self._open()

    def _open(self) -> None:
        self.path = self.directory / f"journal-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._size = 0           # bytes written to the file
        self._base = 0           # where the mapped window starts
        self._pos = 0            # where the next byte goes in the window
        self._map = self._mapping()

    def _mapping(self) -> mmap.mmap:
        # The window's blocks are reserved first: a full disk is then an OSError here, as a
        # write(2) would give, never a SIGBUS when a line is copied into the mapping.
        os.posix_fallocate(self._fd, self._base, self.window)
        return mmap.mmap(self._fd, self.window, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE,
                         offset=self._base)

    def _map_next(self) -> None:
        self._map.close()        # its pages stay in the file
        self._base += self.window
        self._pos = 0
        self._map = self._mapping()

    def begin(self, event_id: str, ts: datetime, provider: str, model: str, tags: Mapping[str, str],
              project: str | None, session: str | None, agent: str | None, key: str | None,
              input_tokens: int) -> None:
        ck = (provider, model, id(tags), project, session, agent, key)
        who = self._who.get(ck)
        if who is None or who[0] is not tags:
            members = _encode({"p": provider, "m": model, "t": tags, "pr": project, "s": session, "a": agent,
                               "k": key})[1:-1]
            if len(self._who) > 10_000:
                self._who.clear()
            who = self._who[ck] = (tags, members)
        line = f'{{"b":{_text(event_id)},"ts":{_us(ts)},"in":{int(input_tokens)},{who[1]}}}\n'.encode()
        self._in_flight[event_id] = line
        self._write(line)

    def end(self, event: UsageEvent) -> None:
        self._in_flight.pop(event.event_id, None)
        self._write(event_line(event))

    def _write(self, line: bytes) -> None:
        pos, n = self._pos, len(line)
        self._size += n
        if pos + n <= self.window:
            self._map[pos:pos + n] = line
            self._pos = pos + n
            return
        view = memoryview(line)
        while view:
            if self._pos == self.window:
                self._map_next()
            part = min(self.window - self._pos, len(view))
            self._map[self._pos:self._pos + part] = view[:part]
            self._pos += part
            view = view[part:]

    def should_rotate(self) -> bool:
        return self._size > ROTATE_BYTES

    def rotate(self) -> tuple[Path, int]:
        """Start a new file (carrying the calls still in flight); the old one is returned to retire."""
        old_path, old_fd = self.path, self._fd
        self._map.close()
        self._open()
        for line in self._in_flight.values():
            self._write(line)
        return old_path, old_fd

    def close(self, *, remove: bool) -> None:
        self._map.close()
        if remove and not self._in_flight:
            self.path.unlink(missing_ok=True)
        else:
            os.ftruncate(self._fd, self._size)     # what is left for the next start: the lines only
        os.close(self._fd)


def journal_lines(data: bytes) -> list[bytes]:
    """The lines of a journal file: up to the mapped file's unwritten zeros."""
    end = data.find(b"\0")
    return (data if end < 0 else data[:end]).splitlines()


def _event_from(obj: Mapping[str, Any], begin: Mapping[str, Any] | None) -> UsageEvent:
    """The event of an ended call (``obj`` its end line, ``begin`` its begin line), or of a call
    that never ended (``obj`` its begin line, ``begin`` None): an estimate, marked aborted."""
    if "e" not in obj:
        return UsageEvent(event_id=obj["b"], ts=_EPOCH + obj["ts"] * _ONE_US, provider=obj["p"], model=obj["m"],
                          usage=Usage(input_tokens=int(obj.get("in") or 0), estimated=True),
                          tags=dict(obj.get("t") or {}), project=obj.get("pr"), session=obj.get("s"),
                          agent=obj.get("a"), key=obj.get("k"), source="proxy", status="aborted")
    who = obj if "t" in obj else (begin or {})     # end lines of earlier versions carried everything
    return UsageEvent(event_id=obj["e"], ts=_EPOCH + obj["ts"] * _ONE_US, provider=obj["p"], model=obj["m"],
                      usage=Usage.from_dict(obj["u"]), tags=dict(who.get("t") or {}), project=who.get("pr"),
                      session=who.get("s"), agent=who.get("a"), key=who.get("k"), source="proxy",
                      status=obj["st"], response_id=obj.get("r"))


def recover(directory: Path, store: Store, pricer: Pricer) -> int:
    """Record the journals of proxies that are gone; returns how many events were new to the ledger."""
    if not directory.is_dir():
        return 0
    begins: dict[str, Mapping[str, Any]] = {}
    ends: dict[str, Mapping[str, Any]] = {}
    taken: list[tuple[Path, int]] = []
    for path in sorted(directory.glob("journal-*.jsonl")):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)    # a live proxy's journal
            continue
        taken.append((path, fd))
        for raw in journal_lines(path.read_bytes()):
            try:
                obj = json.loads(raw)
            except ValueError:
                continue    # a line cut by a crash mid-write: its call has another line or none
            if "e" in obj:
                ends[obj["e"]] = obj
            elif "b" in obj:
                begins.setdefault(obj["b"], obj)
    events = [_event_from(obj, begins.get(eid)) for eid, obj in ends.items()]
    events += [_event_from(obj, None) for eid, obj in begins.items() if eid not in ends]
    inserted = 0
    for i in range(0, len(events), 5000):
        part = events[i:i + 5000]
        inserted += store.record(pricer.price_many(part)).inserted
        # A dead proxy's budget reservations (held under the calls' event ids) now stand in the ledger.
        store.release_reservations([e.event_id for e in part])
    for path, fd in taken:
        path.unlink(missing_ok=True)
        os.close(fd)
    return inserted


@dataclass(slots=True)
class Done:
    """A completed call for the writer: the priced event plus what the access log shows."""

    priced: PricedEvent
    http_status: int
    upstream: str
    path: str
    ms: float
    hold_id: str | None = None      # a reservation in the ledger, released once the event is committed
    seq: int = 0                    # the call's number in the budget checks (Caps.settle), reported once committed


@dataclass(slots=True)
class _Retire:
    path: Path
    fd: int


class LedgerWriter:
    """Records what the event loop hands it, in batches, from its own thread.

    Handing over is a list append: no lock, no wake-up per event (waking a waiting thread
    for every call costs more CPU than the call's whole metering). The thread wakes every
    ``interval`` seconds, takes the list, and records it in one transaction.
    """

    def __init__(self, open_store: Callable[[], Store], *, interval: float = 0.05,
                 access_log: bool = True, after_write: Callable[[Store], None] | None = None,
                 on_tick: Callable[[Store], None] | None = None,
                 on_commit: Callable[[int], None] | None = None) -> None:
        self._open_store = open_store
        self.interval = interval
        self.access_log = access_log
        self.after_write = after_write
        self.on_tick = on_tick
        self.on_commit = on_commit
        self.written = 0
        self._buf: list[Done | _Retire] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spendtag-ledger-writer", daemon=True)
        self._thread.start()
        self._ready.wait()

    def put(self, done: Done) -> None:
        self._buf.append(done)

    def retire(self, path: Path, fd: int) -> None:
        """Delete a rotated journal once everything handed over before this call is committed."""
        self._buf.append(_Retire(path, fd))

    def close(self, timeout: float = 30.0) -> None:
        """Write what is left and stop."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        store = self._open_store()
        self._ready.set()
        try:
            while True:
                stopping = self._stop.wait(self.interval)
                items, self._buf = self._buf, []
                if items:
                    self._write(store, items)
                if self.on_tick is not None:
                    try:
                        self.on_tick(store)
                    except Exception as exc:  # noqa: BLE001 - housekeeping; the next tick tries again
                        print(f"spendtag proxy: {exc}", file=sys.stderr, flush=True)
                if stopping:
                    items, self._buf = self._buf, []
                    if items:
                        self._write(store, items)
                    return
        finally:
            store.close()

    def _write(self, store: Store, items: Iterable[Done | _Retire]) -> None:
        done = [i for i in items if isinstance(i, Done)]
        if done:
            while True:
                try:
                    store.record([d.priced for d in done])
                    break
                except Exception as exc:  # noqa: BLE001 - the journal keeps the events; keep trying
                    print(f"spendtag proxy: ledger write failed, retrying: {exc}", file=sys.stderr, flush=True)
                    time.sleep(0.5)
            self.written += len(done)
            if self.on_commit is not None:
                self.on_commit(max(d.seq for d in done))
            held = [d.hold_id for d in done if d.hold_id is not None]
            while held:
                try:   # only now: until the events are committed, their reservations stand for them
                    store.release_reservations(held)
                    break
                except Exception as exc:  # noqa: BLE001 - they would expire anyway; try again first
                    print(f"spendtag proxy: releasing reservations failed, retrying: {exc}", file=sys.stderr,
                          flush=True)
                    time.sleep(0.5)
            if self.access_log:
                sys.stderr.write("".join(access_line(d) for d in done))
                sys.stderr.flush()
            if self.after_write is not None:
                try:
                    self.after_write(store)
                except Exception as exc:  # noqa: BLE001 - recording succeeded; say why the hook did not
                    print(f"spendtag proxy: after-write hook failed: {exc}", file=sys.stderr, flush=True)
        for item in items:
            if isinstance(item, _Retire):
                item.path.unlink(missing_ok=True)
                os.close(item.fd)


def access_line(d: Done) -> str:
    """One structured access-log line. Keys never appear: only the virtual key's id."""
    e, c = d.priced.event, d.priced.cost
    return json.dumps({
        "ts": e.ts.isoformat(), "event_id": e.event_id, "upstream": d.upstream, "path": d.path,
        "http_status": d.http_status, "status": e.status, "provider": e.provider, "model": e.model,
        "input_tokens": e.usage.total_input_tokens, "output_tokens": e.usage.output_tokens,
        "estimated": e.usage.estimated, "cost_usd": _exact(c.total) if c.priced else None, "tags": e.tags,
        "key": e.key, "session": e.session, "ms": round(d.ms, 2),
    }, separators=(",", ":"), ensure_ascii=False) + "\n"


def _exact(pico: int) -> str:
    from spendtag.money import exact_str

    return exact_str(pico)
