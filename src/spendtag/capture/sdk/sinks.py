"""Where an instrumented client's events go: the local ledger, a JSONL file, or a spendtag server.

Every sink takes events with :meth:`Sink.put`, which only appends to a list: a background
thread writes them in batches, so the application's calls never wait for a disk or a
network. What is still buffered is written when the process exits normally (``atexit``)
or on :meth:`Sink.flush`. The buffer is bounded: past ``max_buffer`` events (a sink that is
down for long) new events are dropped and counted in :attr:`Sink.dropped`.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spendtag.usage import UsageEvent

if TYPE_CHECKING:
    from spendtag.recording import Recorder

TOKEN_ENV = "SPENDTAG_SERVER_TOKEN"
# What a sink queues: an event, or a function that reads it from a response on the writer thread.
Item = UsageEvent | Callable[[], UsageEvent | None]


def event_json(event: UsageEvent) -> dict[str, Any]:
    """An event as a normalised line for ``spendtag ingest`` and ``POST /v1/events``."""
    out: dict[str, Any] = {
        "event_id": event.event_id, "ts": event.ts.isoformat().replace("+00:00", "Z"),
        "provider": event.provider, "model": event.model, "usage": event.usage.as_dict(), "normalised": True,
        "tags": event.tags, "source": event.source, "status": event.status,
    }
    for name in ("project", "session", "agent", "key", "user", "response_id"):
        value = getattr(event, name)
        if value is not None:
            out[name] = value
    return out


class Refused(Exception):
    """Raised by :meth:`Sink.write` when the destination refuses the events for good."""


class Sink:
    """Batches events in memory and writes them from one daemon thread (started on first use)."""

    def __init__(self, *, interval: float = 0.2, max_buffer: int = 100_000, batch_max: int = 5_000) -> None:
        self.interval = interval
        self.max_buffer = max_buffer
        self.batch_max = batch_max
        self.dropped = 0
        self.written = 0
        self._buf: list[Item] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._busy = False
        self._closed = False
        self._pid = 0
        self._thread: threading.Thread | None = None

    # -- the caller's side: cheap ---------------------------------------------------------------

    def put(self, event: Item) -> None:
        """Queue an event, or a function that makes it (run on the writer thread; None: nothing to record)."""
        if self._pid != os.getpid():
            self._start()     # first use, or a forked child (threads do not survive fork)
        with self._lock:
            if len(self._buf) >= self.max_buffer:
                self.dropped += 1
                return
            self._buf.append(event)

    def flush(self, timeout: float = 30.0) -> bool:
        """Write everything put so far; False if that did not happen within ``timeout``."""
        if self._thread is None:
            return True
        deadline = time.monotonic() + timeout
        with self._lock:
            self._wake.set()
            while self._buf or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._idle.wait(min(left, 0.05))
                self._wake.set()
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Flush and stop the thread (also run at exit)."""
        if self._closed:
            return
        self._closed = True
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._wake.set()
            thread.join(timeout)
        with self._lock:
            left = len(self._buf)
        if left:
            print(f"spendtag: {left} usage event(s) could not be written by {type(self).__name__}",
                  file=sys.stderr, flush=True)

    # -- the writer thread ------------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            first = self._pid == 0
            self._pid = os.getpid()
            self._closed = False
            self._thread = threading.Thread(target=self._run, name=f"spendtag-{type(self).__name__}", daemon=True)
            self._thread.start()
        if first:
            atexit.register(self.close)

    def _run(self) -> None:
        failures = 0
        while True:
            self._wake.wait(self.interval if failures == 0 else min(30.0, 0.5 * 2 ** failures))
            self._wake.clear()
            with self._lock:
                batch, self._buf = self._buf[:self.batch_max], self._buf[self.batch_max:]
                self._busy = bool(batch)
            ok = True
            events = _resolve(batch) if batch else []
            if events:
                try:
                    self.write(events)
                    self.written += len(events)
                except Refused as exc:
                    self.dropped += len(events)     # retrying cannot help (a bad token, bad events)
                    print(f"spendtag: {type(self).__name__} dropped {len(events)} event(s): {exc}", file=sys.stderr,
                          flush=True)
                except Exception as exc:  # noqa: BLE001 - keep the events and try again later
                    ok = False
                    print(f"spendtag: {type(self).__name__} write failed, will retry: {exc}", file=sys.stderr,
                          flush=True)
            with self._lock:
                if not ok:
                    self._buf[:0] = events
                    over = len(self._buf) - self.max_buffer
                    if over > 0:
                        del self._buf[self.max_buffer:]
                        self.dropped += over
                self._busy = False
                more = bool(self._buf)
                self._idle.notify_all()
            failures = 0 if ok else failures + 1
            if more and ok:
                self._wake.set()
            if self._closed and (not more or failures >= 3):
                self.stop()
                return

    def write(self, events: Sequence[UsageEvent]) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Release what the writer thread holds (called on it, last)."""


def _resolve(items: list[Item]) -> list[UsageEvent]:
    out: list[UsageEvent] = []
    for item in items:
        if isinstance(item, UsageEvent):
            out.append(item)
            continue
        try:
            event = item()
        except Exception as exc:  # noqa: BLE001 - one unreadable body must not stop the others
            print(f"spendtag: could not read a response's usage: {exc}", file=sys.stderr, flush=True)
            continue
        if event is not None:
            out.append(event)
    return out


class LedgerSink(Sink):
    """The local ledger (``SPENDTAG_DB``, the config file, or the default path), priced with its price book."""

    def __init__(self, db: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.db = db
        self._recorder: Recorder | None = None

    def write(self, events: Sequence[UsageEvent]) -> None:
        if self._recorder is None:
            from spendtag import settings
            from spendtag.ledger import open_store
            from spendtag.pricing.pricer import Pricer
            from spendtag.recording import Recorder, price_book

            resolved = settings.load({"db": self.db})
            store = open_store(resolved.db)
            self._recorder = Recorder(store, Pricer(price_book(store, resolved)))
        self._recorder.record(events)

    def stop(self) -> None:
        if self._recorder is not None:
            self._recorder.store.close()
            self._recorder = None


class FileSink(Sink):
    """Appends normalised JSON lines to ``path``, for a later ``spendtag ingest PATH``."""

    def __init__(self, path: str | os.PathLike[str], **options: Any) -> None:
        super().__init__(**options)
        self.path = Path(path).expanduser()

    def write(self, events: Sequence[UsageEvent]) -> None:
        data = "".join(json.dumps(event_json(e), separators=(",", ":"), ensure_ascii=False) + "\n" for e in events)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


class HttpSink(Sink):
    """POSTs batches to a spendtag server's ``/v1/events`` with a bearer token; retries with backoff."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 10.0, max_buffer: int = 10_000,
                 batch_max: int = 1_000, **options: Any) -> None:
        super().__init__(max_buffer=max_buffer, batch_max=batch_max, **options)
        url = url.rstrip("/")
        self.url = url if url.endswith("/v1/events") else url + "/v1/events"
        self.token = token if token is not None else os.environ.get(TOKEN_ENV)
        self.timeout = timeout

    def write(self, events: Sequence[UsageEvent]) -> None:
        body = json.dumps({"events": [event_json(e) for e in events]}, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                resp.read()
        except urllib.error.HTTPError as exc:
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                raise Refused(f"{self.url} answered HTTP {exc.code}") from None
            raise


_default: Sink | None = None
_default_lock = threading.Lock()


def default_sink() -> Sink:
    """One process-wide :class:`LedgerSink`, shared by every instrumented client that names no sink."""
    global _default
    with _default_lock:
        if _default is None:
            _default = LedgerSink()
        return _default
