"""The intake server: OTLP/HTTP (``/v1/traces``, ``/v1/logs``, ``/v1/metrics``) and ``/v1/events``.

A raw ASGI app. A request is answered only once its events are committed to the ledger
(an exporter that gets an error retries, and event ids make the retry harmless), so the
writes go through one thread that owns the ledger connection; requests wait on it
without blocking the event loop. (The proxy's ``LedgerWriter`` batches without telling
the caller when a batch is durable, which an acknowledgement needs.)

With a token, every request needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import gzip
import hmac
import json
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from spendtag.errors import SpendtagError
from spendtag.server.asgi import Receive, Scope, Send, lifespan
from spendtag.server.intake import otlp
from spendtag.server.intake.events import parse_batch
from spendtag.usage import UsageEvent

if TYPE_CHECKING:
    from spendtag.pricing.pricer import Pricer
    from spendtag.recording import Recorder


MAX_BODY = 32 * 1024 * 1024
METRICS_GRACE = 180.0      # seconds a Claude Code metric interval waits for its session's events
_SIGNALS = {"/v1/traces": "traces", "/v1/logs": "logs", "/v1/metrics": "metrics"}


class Writer:
    """Owns the ledger connection on one thread; holds Claude Code metric intervals for their grace period."""

    def __init__(self, store_url: str, pricer: Pricer | None = None, *, metrics_grace: float = METRICS_GRACE) -> None:
        self.store_url = store_url
        self.pricer = pricer
        self.metrics_grace = metrics_grace
        self.recorded = 0
        self.duplicates = 0
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="spendtag-intake-writer")
        self._recorder: Recorder | None = None
        self._pending: list[otlp.MetricCall] = []
        self._sessions: set[str] = set()     # sessions with Claude Code api_request events seen here
        self._cc_events = False
        self._lock = threading.Lock()

    def _open(self) -> Recorder:
        if self._recorder is None:
            from spendtag import settings
            from spendtag.ledger import open_store
            from spendtag.pricing.pricer import Pricer
            from spendtag.recording import Recorder, price_book

            store = open_store(self.store_url)
            self._recorder = Recorder(store, self.pricer or Pricer(price_book(store, settings.load())))
        return self._recorder

    async def run(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the writer thread and wait (for code outside the event loop: tests, tools)."""
        return self._executor.submit(fn).result()

    def record(self, events: Iterable[UsageEvent]) -> tuple[int, int]:
        """On the writer thread: record, remember sessions that have Claude Code events."""
        batch = list(events)
        for e in batch:
            if e.agent == "claude-code" and e.source == "otlp" and not e.event_id.startswith(otlp.METRIC_ID):
                self._cc_events = True
                if e.session:
                    self._sessions.add(e.session)
        if not batch:
            return 0, 0
        result = self._open().record(batch)
        self.recorded += result.inserted
        self.duplicates += result.duplicates
        return result.inserted, result.duplicates

    def hold(self, calls: list[otlp.MetricCall]) -> tuple[int, int]:
        """On the writer thread: keep metric intervals for their grace period; record those now due."""
        now = time.monotonic()
        for c in calls:
            c.received = now
        self._pending.extend(calls)
        return self.flush_metrics(now)

    def flush_metrics(self, now: float | None = None) -> tuple[int, int]:
        """On the writer thread: record the metric intervals whose grace is over and whose session has no events."""
        now = time.monotonic() if now is None else now
        due = [c for c in self._pending if now - c.received >= self.metrics_grace]
        if not due:
            return 0, 0
        self._pending = [c for c in self._pending if now - c.received < self.metrics_grace]
        keep = [c.event for c in due if not self._has_events(c.event.session)]
        return self.record(keep) if keep else (0, 0)

    def _has_events(self, session: str | None) -> bool:
        if session is None:
            return self._cc_events
        if session in self._sessions:
            return True
        from spendtag.ledger.query import Filters

        return any(a.totals.requests for a in self._open().store.aggregate(Filters(dims={"session": (session,)})))

    @property
    def pending(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        def last() -> None:
            if self._recorder is not None:
                self._recorder.store.close()
                self._recorder = None

        self._executor.submit(last)
        self._executor.shutdown(wait=True)


class IntakeApp:
    def __init__(self, writer: Writer, *, token: str | None = None, max_body: int = MAX_BODY) -> None:
        self.writer = writer
        self.token = token.encode() if token else None
        self.max_body = max_body
        self._ticker: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(receive, send)

    async def startup(self) -> None:
        self._ticker = asyncio.create_task(self._tick())

    async def shutdown(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        await asyncio.get_running_loop().run_in_executor(None, self.writer.close)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        await lifespan(self, receive, send)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(min(10.0, max(self.writer.metrics_grace / 4, 0.5)))
            if self.writer.pending:
                try:
                    await self.writer.run(self.writer.flush_metrics)
                except Exception as exc:  # noqa: BLE001 - the next tick tries again
                    print(f"spendtag serve: recording metrics failed: {exc}", flush=True)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"].rstrip("/") or "/"
        method: str = scope["method"]
        if path == "/healthz" and method == "GET":
            await _reply(send, 200, {"status": "ok", "recorded": self.writer.recorded,
                                     "pending_metrics": self.writer.pending})
            return
        signal = _SIGNALS.get(path)
        if signal is None and path != "/v1/events":
            await _reply(send, 404, {"error": f"no route {path}; POST /v1/traces, /v1/logs, /v1/metrics, /v1/events"})
            return
        if method != "POST":
            await _reply(send, 405, {"error": "use POST"})
            return
        headers = {k.lower(): v for k, v in scope["headers"]}
        if not self._authorised(headers.get(b"authorization", b"")):
            await _reply(send, 401, {"error": "missing or wrong bearer token"})
            return
        try:
            body = await _body(receive, self.max_body, headers.get(b"content-encoding", b"").decode("latin-1"))
        except ValueError as exc:
            await _reply(send, 413 if "large" in str(exc) else 400, {"error": str(exc)})
            return
        content_type = headers.get(b"content-type", b"application/json").decode("latin-1").lower()
        try:
            if signal is None:
                await self._events(body, content_type, send)
            else:
                await self._otlp(signal, body, content_type, send)
        except SpendtagError as exc:
            await _reply(send, 400, {"error": str(exc)})

    def _authorised(self, header: bytes) -> bool:
        if self.token is None:
            return True
        scheme, _, given = header.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token)

    async def _otlp(self, signal: str, body: bytes, content_type: str, send: Send) -> None:
        data = otlp.decode(signal, body, content_type)
        writer = self.writer
        rejected = otlp.Rejected()   # what could not be read is skipped alone, and said in the answer
        if signal == "traces":
            events = list(otlp.events_from_traces(data, rejected))
            await writer.run(lambda: writer.record(events))
        elif signal == "logs":
            events = list(otlp.events_from_logs(data, rejected))
            await writer.run(lambda: writer.record(events))
        else:
            calls = otlp.claude_code_metric_calls(data, rejected)
            await writer.run(lambda: writer.hold(calls))
        if "protobuf" in content_type:
            await _raw(send, 200, b"application/x-protobuf", otlp.response_protobuf(signal, rejected))
        else:
            await _reply(send, 200, otlp.response_json(signal, rejected))

    async def _events(self, body: bytes, content_type: str, send: Send) -> None:
        events, problems = parse_batch(body, content_type)
        inserted, duplicates = await self.writer.run(lambda: self.writer.record(events))
        await _reply(send, 200, {"inserted": inserted, "duplicates": duplicates, "rejected": len(problems),
                                 "problems": problems[:20]})


async def _body(receive: Receive, limit: int, encoding: str) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ValueError("client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ValueError(f"body too large (limit {limit} bytes)")
        parts.append(chunk)
        if not message.get("more_body"):
            break
    body = b"".join(parts)
    encoding = encoding.strip().lower()
    try:
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding not in ("", "identity"):
            raise ValueError(f"unsupported content-encoding {encoding!r}; use gzip or none")
    except (OSError, zlib.error) as exc:
        raise ValueError(f"cannot decompress the body: {exc}") from None
    if len(body) > limit:
        raise ValueError(f"body too large (limit {limit} bytes)")
    return body


async def _reply(send: Send, status: int, obj: Any) -> None:
    await _raw(send, status, b"application/json", json.dumps(obj, separators=(",", ":")).encode())


async def _raw(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(store_url: str, *, token: str | None = None, pricer: Pricer | None = None,
               metrics_grace: float = METRICS_GRACE) -> IntakeApp:
    """The intake ASGI app over the ledger at ``store_url``."""
    return IntakeApp(Writer(store_url, pricer, metrics_grace=metrics_grace), token=token)


LOOPBACK = ("127.0.0.1", "::1", "localhost")


def run(app: IntakeApp, host: str, port: int) -> None:
    """Serve on uvicorn until SIGINT/SIGTERM; refuses a non-loopback address without a token."""
    if host not in LOOPBACK and not host.startswith("127.") and app.token is None:
        raise SpendtagError(f"refusing to listen on {host} without a token: anyone who can reach it could write "
                            "to the ledger; pass --token (or SPENDTAG_SERVER_TOKEN), or use --host 127.0.0.1")
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, lifespan="on", access_log=False, log_level="warning",
                            server_header=False)
    print(f"spendtag serve listening on http://{host}:{port} (OTLP/HTTP: /v1/traces /v1/logs /v1/metrics; "
          "events: /v1/events; /healthz)", flush=True)
    uvicorn.Server(config).run()
