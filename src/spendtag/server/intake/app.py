"""The intake server: OTLP/HTTP (``/v1/traces``, ``/v1/logs``, ``/v1/metrics``) and ``/v1/events``.

A raw ASGI app. A request is answered only once its events are committed to the ledger
(an exporter that gets an error retries, and event ids make the retry harmless), so the
writes go through one thread that owns the ledger connection; requests wait on it
without blocking the event loop. (The proxy's ``LedgerWriter`` batches without telling
the caller when a batch is durable, which an acknowledgement needs.)

With a token, every request needs ``Authorization: Bearer <token>``. Every request names a
Host the server answers, and a write comes from no other site with a type no page can send
unasked (:mod:`spendtag.server.sites`). A body is read within ``MAX_BODY`` bytes, decompressed
or not (:mod:`.body`). Whatever is refused or cannot be read is a 4xx in the API's shape:
``google.rpc.Status`` for OTLP, ``{"error": ...}`` for ``/v1/events``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from spendtag.errors import SpendtagError
from spendtag.server.asgi import INPUT_ERRORS, Receive, Scope, Send, lifespan
from spendtag.server.intake import otlp
from spendtag.server.intake.body import MAX_BODY, BodyError
from spendtag.server.intake.body import read as read_body
from spendtag.server.intake.events import parse_batch
from spendtag.server.sites import Sites
from spendtag.usage import UsageEvent

if TYPE_CHECKING:
    from spendtag.pricing.pricer import Pricer
    from spendtag.recording import Recorder


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
    def __init__(self, writer: Writer, *, token: str | None = None, max_body: int = MAX_BODY,
                 sites: Sites | None = None) -> None:
        self.writer = writer
        self.token = token.encode() if token else None
        self.max_body = max_body
        self.sites = sites or Sites()
        self._ticker: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                await self.http(scope, receive, send)
            except Exception as exc:  # noqa: BLE001 - the last resort: a JSON answer, never a bare 500
                await _last_resort(scope, send, exc)
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
        signal = _SIGNALS.get(path)
        headers = {k.lower(): v for k, v in scope["headers"]}
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        reply = _Reply(send, signal, content_type)
        if not self.sites.host_ok(scope):
            await reply.error(403, self.sites.host_refusal(scope).message)
            return
        if path == "/healthz" and method == "GET":
            await _reply(send, 200, {"status": "ok", "recorded": self.writer.recorded,
                                     "pending_metrics": self.writer.pending})
            return
        if signal is None and path != "/v1/events":
            await reply.error(404, f"no route {path}; POST /v1/traces, /v1/logs, /v1/metrics, /v1/events")
            return
        if method != "POST":
            await reply.error(405, "use POST")
            return
        if not self._authorised(headers.get(b"authorization", b"")):
            await reply.error(401, "missing or wrong bearer token")
            return
        refused = self.sites.write_refusal(scope, origin=headers.get(b"origin"),
                                           content_type=headers.get(b"content-type"),
                                           credentialed=self.token is not None,
                                           fetch_site=headers.get(b"sec-fetch-site"))
        if refused is not None:
            await reply.error(refused.status, refused.message)
            return
        try:
            body = await read_body(receive, headers.get(b"content-encoding", b"").decode("latin-1"),
                                   self.max_body)
        except BodyError as exc:
            await reply.error(exc.status, exc.message)
            return
        try:
            record = self._events(body, content_type) if signal is None else self._otlp(signal, body, content_type)
        except SpendtagError as exc:
            await reply.error(400, str(exc))
            return
        except RecursionError:
            await reply.error(400, "the body is nested too deeply to read")
            return
        except INPUT_ERRORS as exc:
            await reply.error(400, f"cannot read this body: {type(exc).__name__}: {exc}"[:500])
            return
        await record(reply)

    def _authorised(self, header: bytes) -> bool:
        if self.token is None:
            return True
        scheme, _, given = header.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token)

    def _otlp(self, signal: str, body: bytes, content_type: str) -> Callable[[_Reply], Awaitable[None]]:
        """Read the payload (a bad one raises here); the returned step records it and answers."""
        data = otlp.decode(signal, body, content_type)
        top = data.get(_TOP[signal])
        if top is not None and not isinstance(top, list):
            raise SpendtagError(f"{_TOP[signal]} must be a list, not {type(top).__name__}")
        writer = self.writer
        rejected = otlp.Rejected()   # what could not be read is skipped alone, and said in the answer
        if signal == "metrics":
            calls = otlp.claude_code_metric_calls(data, rejected)
            step: Callable[[], Any] = lambda: writer.hold(calls)  # noqa: E731
        else:
            events = list(otlp.events_from_traces(data, rejected) if signal == "traces"
                          else otlp.events_from_logs(data, rejected))
            step = lambda: writer.record(events)  # noqa: E731

        async def record(reply: _Reply) -> None:
            await writer.run(step)
            if "protobuf" in content_type:
                await _raw(reply.send, 200, b"application/x-protobuf", otlp.response_protobuf(signal, rejected))
            else:
                await _reply(reply.send, 200, otlp.response_json(signal, rejected))

        return record

    def _events(self, body: bytes, content_type: str) -> Callable[[_Reply], Awaitable[None]]:
        events, problems = parse_batch(body, content_type)
        writer = self.writer

        async def record(reply: _Reply) -> None:
            inserted, duplicates = await writer.run(lambda: writer.record(events))
            await _reply(reply.send, 200, {"inserted": inserted, "duplicates": duplicates,
                                           "rejected": len(problems), "problems": problems[:20]})

        return record


_TOP = {"traces": "resourceSpans", "logs": "resourceLogs", "metrics": "resourceMetrics"}
# google.rpc.Code for the statuses the intake answers: OTLP/HTTP errors are a google.rpc.Status.
_RPC_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 413: 8, 415: 3, 500: 13}


class _Reply:
    """Errors in the shape of the API asked: OTLP's ``google.rpc.Status`` (protobuf or JSON, as the
    request was), ``{"error": ...}`` for ``/v1/events`` and anything else."""

    def __init__(self, send: Send, signal: str | None, content_type: str) -> None:
        self.send = send
        self.signal = signal
        self.protobuf = "protobuf" in content_type

    async def error(self, status: int, message: str) -> None:
        if self.signal is None:
            await _reply(self.send, status, {"error": message})
        elif self.protobuf:
            await _raw(self.send, status, b"application/x-protobuf", _status_protobuf(_RPC_CODE[status], message))
        else:
            await _reply(self.send, status, {"code": _RPC_CODE[status], "message": message})


def _status_protobuf(code: int, message: str) -> bytes:
    """A ``google.rpc.Status`` message: field 1 the code (varint), field 2 the message (string)."""
    text = message.encode("utf-8", "replace")
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


async def _last_resort(scope: Scope, send: Send, exc: Exception) -> None:
    """Whatever escaped: logged with its traceback, answered in the API's shape (400 for what reading
    a request raises, else 500), unless the answer had already begun."""
    traceback.print_exception(exc, file=sys.stderr)
    status = 400 if isinstance(exc, INPUT_ERRORS) else 500
    what = "cannot read this request" if status == 400 else "the intake failed"
    path = scope.get("path", "").rstrip("/")
    content_type = next((v for k, v in scope.get("headers", ()) if k.lower() == b"content-type"), b"")
    with contextlib.suppress(Exception):   # the response had begun: the server drops the connection
        await _Reply(send, _SIGNALS.get(path), content_type.decode("latin-1").lower()).error(
            status, f"{what}: {type(exc).__name__}")


async def _reply(send: Send, status: int, obj: Any) -> None:
    await _raw(send, status, b"application/json", json.dumps(obj, separators=(",", ":")).encode())


async def _raw(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(store_url: str, *, token: str | None = None, pricer: Pricer | None = None,
               metrics_grace: float = METRICS_GRACE, sites: Sites | None = None) -> IntakeApp:
    """The intake ASGI app over the ledger at ``store_url``, answering the Host names of ``sites``
    (by default those of a server on 127.0.0.1)."""
    return IntakeApp(Writer(store_url, pricer, metrics_grace=metrics_grace), token=token, sites=sites)


LOOPBACK = ("127.0.0.1", "::1", "localhost")


def run(app: IntakeApp, host: str, port: int) -> None:
    """Serve on uvicorn until SIGINT/SIGTERM; refuses a non-loopback address without a token."""
    if host not in LOOPBACK and not host.startswith("127.") and app.token is None:
        raise SpendtagError(f"refusing to listen on {host} without a token: anyone who can reach it could write "
                            "to the ledger; pass --token (or SPENDTAG_SERVER_TOKEN), or use --host 127.0.0.1")
    import uvicorn

    app.sites = app.sites.also(host)
    config = uvicorn.Config(app, host=host, port=port, lifespan="on", access_log=False, log_level="warning",
                            server_header=False)
    print(f"spendtag serve listening on http://{host}:{port} (OTLP/HTTP: /v1/traces /v1/logs /v1/metrics; "
          "events: /v1/events; /healthz)", flush=True)
    uvicorn.Server(config).run()
