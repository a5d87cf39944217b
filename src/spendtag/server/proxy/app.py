"""The proxy as a raw ASGI application: no framework in the hot path.

Per metered call: route (cached per path), read the body, split the headers (spendtag's
own are consumed, never forwarded), resolve a virtual key, parse tags (cached per header
value), reserve against blocking budgets, journal the call, forward with the upstream's
keep-alive connections (:mod:`.upstream`), pass the response through while reading its usage, then price,
settle, count and hand the event to the batched ledger writer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from spendtag.capture.estimate import body_output_tokens, prompt_tokens
from spendtag.capture.parsed import Parsed, normalise_provider
from spendtag.capture.parsers import parse_response
from spendtag.capture.stream import StreamReader
from spendtag.errors import TagError, UsageFormatError
from spendtag.ledger.store import VirtualKey
from spendtag.money import exact_str
from spendtag.pricing.pricer import Pricer
from spendtag.server.asgi import INPUT_ERRORS, Receive, Scope, Send, lifespan
from spendtag.server.proxy.caps import Caps, Hold, Refusal
from spendtag.server.proxy.config import ProxyConfig, Upstream
from spendtag.server.proxy.errors import error_body
from spendtag.server.proxy.keys import PREFIX, KeyCache
from spendtag.server.proxy.metrics import CONTENT_TYPE, Metrics
from spendtag.server.proxy.routes import Body, Target, inspect, resolve
from spendtag.server.proxy.streaming import UsageChunkStripper
from spendtag.server.proxy.upstream import Response, UpstreamClient, UpstreamError
from spendtag.server.proxy.watch import LedgerWatch
from spendtag.server.proxy.writer import Done, Journal, LedgerWriter
from spendtag.server.sites import SAFE_METHODS, Refused, Sites
from spendtag.tags import merge, parse_header
from spendtag.usage import PricedEvent, Usage, UsageEvent, new_event_id

# Request headers never forwarded: hop-by-hop ones, and the encoding (the proxy must read
# the response, so it asks for identity).
_DROP = frozenset({b"host", b"content-length", b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer",
                   b"upgrade", b"proxy-authorization", b"proxy-connection", b"accept-encoding", b"expect"})
_DROP_RESPONSE = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"server",
                            b"date"})
_AUTH = frozenset({b"authorization", b"x-api-key", b"x-goog-api-key"})
# What the write checks read (spendtag.server.sites).
_WATCH = _AUTH | {b"origin", b"content-type", b"sec-fetch-site"}
_JSON_TYPES = frozenset({b"application/json", b"application/json; charset=utf-8", b"application/json;charset=utf-8"})
_SECRET = PREFIX.encode()
_STREAM_APIS = frozenset({"chat", "responses", "messages", "gemini"})
_UPSTREAM_ERRORS = (TimeoutError, UpstreamError, OSError)
_IDENTITY = (b"accept-encoding", b"identity")
_JSON = [(b"content-type", b"application/json")]
GC_THRESHOLD = 20_000


@dataclass
class Proxy:
    """Everything the app uses; built by :func:`spendtag.server.proxy.serve.build`."""

    config: ProxyConfig
    pricer: Pricer
    caps: Caps
    keys: KeyCache
    journal: Journal
    writer: LedgerWriter
    metrics: Metrics
    on_key: Callable[[VirtualKey], None] | None = None


class ProxyApp:
    def __init__(self, proxy: Proxy) -> None:
        self.p = proxy
        self.upstreams = proxy.config.upstreams
        self.clients: dict[str, UpstreamClient] = {}
        self._auth: dict[str, tuple[bytes, bytes] | None] = {}
        self._routes: dict[tuple[str, str], Target | None] = {}
        self._tags: dict[tuple[bytes | None, bytes | None, str | None], dict[str, str]] = {}
        self._on_shutdown: list[Callable[[], None]] = []
        self.watch: LedgerWatch | None = None     # what keeps the budgets and keys current (serve.build)
        self.sites = Sites(proxy.config.host, proxy.config.allowed_hosts, setting="[proxy] allowed_hosts")

    def on_shutdown(self, fn: Callable[[], None]) -> None:
        self._on_shutdown.append(fn)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            try:
                await self.http(scope, receive, send)
            except Exception as exc:  # noqa: BLE001 - the last resort: the provider's error shape, never a bare 500
                await self.last_resort(scope, send, exc)
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    # -- lifecycle --------------------------------------------------------------------------

    async def startup(self) -> None:
        self.p.caps.loop = asyncio.get_running_loop()    # where the writer's reads of the ledger are applied
        for name, up in self.upstreams.items():
            self.clients[name] = UpstreamClient(up.base_url, connect_timeout=10,
                                                read_timeout=self.p.config.read_timeout)
            self._auth[name] = _auth_header(up)
        # Everything loaded so far (price data, budgets, modules) lives as long as the process:
        # keep the cyclic collector from walking it again on every full collection.
        gc.collect()
        gc.freeze()
        # A call allocates a few hundred objects and leaves almost none behind: collecting the
        # youngest generation every 700 allocations would run the collector on nearly every call.
        gc.set_threshold(GC_THRESHOLD, 20, 20)

    async def shutdown(self) -> None:
        for client in self.clients.values():
            client.close()
        self.clients.clear()
        for fn in self._on_shutdown:
            fn()

    async def lifespan(self, receive: Receive, send: Send) -> None:
        await lifespan(self, receive, send)

    # -- requests -------------------------------------------------------------------------

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        t0 = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        carried: tuple[bytes, ...] = ()
        if path.startswith("/t/"):
            # /t/<token>/<upstream>/...: tags carried in the base URL, for clients that cannot
            # send headers (``spendtag run`` sets OPENAI_BASE_URL so).
            end = path.find("/", 3)
            try:
                carried = decode_token(path[3:end if end > 0 else len(path)])
            except ValueError as exc:
                await _reply(send, 400, _JSON, error_body("openai", 400, f"spendtag: bad /t/ token: {exc}"))
                return
            path = path[end:] if end > 0 else "/"
        rk = (method, path)
        if rk in self._routes:
            target = self._routes[rk]
        else:
            target = resolve(self.upstreams, method, path)
            if len(self._routes) > 10_000:
                self._routes.clear()
            self._routes[rk] = target
        if target is None:
            if not self.sites.host_ok(scope):
                await self.refuse(send, path, self.sites.host_refusal(scope))
                return
            await self.local(path, send)
            return
        up = target.upstream
        message = await receive()
        body: bytes = message.get("body", b"")
        if message.get("more_body"):
            parts = [body]
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                parts.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            body = b"".join(parts)

        headers: list[tuple[bytes, bytes]] = []
        raw_tags = raw_meter = None
        project = session = agent = secret = None
        host = origin = content_type = fetch_site = None
        keyed = False
        for name, value in scope["headers"]:
            if name in _DROP:
                if name == b"host":
                    host = value
                continue
            if name.startswith(b"x-spendtag-") or name == b"x-metering-tags":
                if name == b"x-spendtag-tags":
                    raw_tags = value
                elif name == b"x-metering-tags":
                    raw_meter = value
                elif name == b"x-spendtag-project":
                    project = value.decode("utf-8", "replace")
                elif name == b"x-spendtag-session":
                    session = value.decode("utf-8", "replace")
                elif name == b"x-spendtag-agent":
                    agent = value.decode("utf-8", "replace")
                continue
            if name in _WATCH:
                if name == b"content-type":
                    content_type = value
                elif name == b"origin":
                    origin = value
                elif name == b"sec-fetch-site":
                    fetch_site = value
                else:
                    keyed = True
                    if _SECRET in value:
                        secret = value.decode("latin-1").split()[-1]
                        continue
            headers.append((name, value))
        # No page on another site reaches the proxy (spendtag.server.sites): not under a name made to
        # resolve here (DNS rebinding), not with a write from another site, nor with one any page could
        # send unasked (a form, text/plain) and no key; nor with a CORS preflight (a page asking leave
        # to write), which is never passed upstream. A name answered before is one dict look-up.
        if host is not None and self.sites.known.get(host) is not True \
                and not self.sites.host_value_ok(host, scope.get("server")):
            await self.refuse(send, path, self.sites.host_refusal(scope))
            return
        if (origin is not None or fetch_site is not None or not (keyed or content_type in _JSON_TYPES)) and (
                method not in SAFE_METHODS or (method == "OPTIONS" and origin is not None)):
            refused = self.sites.write_refusal(scope, origin=origin, content_type=content_type, credentialed=keyed,
                                               fetch_site=fetch_site)
            if refused is not None:
                await self.error(send, up, refused.status, f"spendtag: {refused.message}", code=refused.code)
                return
        headers.append(_IDENTITY)
        if carried:
            raw_tags = raw_tags or carried[0] or None
            session = session or carried[1].decode() or None
            agent = agent or carried[2].decode() or None
            project = project or carried[3].decode() or None
        query: bytes = scope["query_string"]
        if query and up.kind == "gemini" and b"key=" + _SECRET in query:
            kept = []
            for part in query.split(b"&"):
                if part.startswith(b"key=" + _SECRET):
                    secret = part[4:].decode("latin-1")
                else:
                    kept.append(part)
            query = b"&".join(kept)

        vk: VirtualKey | None = None
        if secret is not None:
            vk = self.p.keys.lookup(secret)
            if vk is None:
                await self.error(send, up, 401, "spendtag: this virtual key is unknown or has been revoked")
                return
            if self.p.on_key is not None:
                self.p.on_key(vk)
            auth = self._auth.get(up.name)
            if auth is None:
                await self.error(send, up, 500, f"spendtag: the proxy has no usable provider key for upstream "
                                                f"{up.name!r} (set {up.api_key_env} where the proxy runs)")
                return
            headers.append(auth)
        try:
            tags = self.tags(raw_tags, raw_meter, vk)
        except TagError as exc:
            await self.error(send, up, 400, f"spendtag: {exc}")
            return

        client = self.clients[up.name]
        request_target = client.target(target.url)
        if query:
            request_target += b"?" + query
        if target.api is None:
            await self.passthrough(up, client, method.encode(), request_target, body, headers, send)
            return
        b = inspect(target, body)
        call = Call(self, target, b, tags, project, session, agent, vk.key_id if vk else None, t0)
        hold = self.p.caps.reserve(up.provider, call.model, tags, key=call.key, project=project, agent=agent,
                                   input_tokens=b.input_tokens, max_output=b.max_output, now=call.ts)
        if isinstance(hold, Hold) and self.p.caps.shared is not None:
            hold = await self.p.caps.admit(hold, call.event_id) or hold
        if isinstance(hold, Refusal):
            extra = [(b"retry-after", str(hold.retry_after).encode())] if hold.retry_after is not None else []
            await self.error(send, up, hold.status, hold.message, extra)
            return
        call.hold = hold
        self.p.journal.begin(call.event_id, call.ts, up.provider, call.model, tags, project, session, agent,
                             call.key, b.input_tokens)
        await call.run(client, method.encode(), request_target, headers, receive, send)

    def tags(self, raw_tags: bytes | None, raw_meter: bytes | None, vk: VirtualKey | None) -> dict[str, str]:
        ck = (raw_tags, raw_meter, vk.key_id if vk else None)
        found = self._tags.get(ck)
        if found is None:
            parts: list[dict[str, str]] = []
            if raw_tags:
                parts.append(_parse("X-Spendtag-Tags", raw_tags, json_only=False))
            if raw_meter:
                parts.append(_parse("X-Metering-Tags", raw_meter, json_only=True))
            if vk is not None:
                parts.append(dict(vk.tags))    # the key's tags win: a client cannot re-attribute its calls
            found = merge(*parts)
            if len(self._tags) > 10_000:
                self._tags.clear()
            self._tags[ck] = found
        return found

    async def passthrough(self, up: Upstream, client: UpstreamClient, method: bytes, request_target: bytes,
                          body: bytes, headers: list[tuple[bytes, bytes]], send: Send) -> None:
        """An unmetered request (model lists, count_tokens, files...): relayed as is."""
        try:
            resp = await client.request(method, request_target, headers, body)
        except _UPSTREAM_ERRORS as exc:
            await self.error(send, up, 502, f"spendtag: upstream {up.name} unreachable: {type(exc).__name__}")
            return
        try:
            self.p.metrics.response(up.name, resp.status)
            await send({"type": "http.response.start", "status": resp.status, "headers": _response_headers(resp)})
            async for chunk in resp.chunks():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            resp.close()

    async def local(self, path: str, send: Send) -> None:
        if path == "/healthz":
            body = b'{"status":"ok","written":%d}' % self.p.writer.written
            await _reply(send, 200, _JSON, body)
        elif path == "/metrics":
            await _reply(send, 200, [(b"content-type", CONTENT_TYPE)], self.p.metrics.render())
        else:
            names = ", ".join(f"/{n}/" for n in self.upstreams)
            msg = f"spendtag proxy: no route for {path}; use one of {names}"
            await _reply(send, 404, _JSON, error_body("openai", 404, msg))

    async def refuse(self, send: Send, path: str, refused: Refused) -> None:
        """A refusal in the shape of the API the path names (OpenAI's when none)."""
        up = self.upstreams.get(path[1:].partition("/")[0])
        message = f"spendtag: {refused.message}"
        if up is not None:
            await self.error(send, up, refused.status, message, code=refused.code)
        else:
            await _reply(send, refused.status, _JSON, error_body("openai", refused.status, message, refused.code))

    async def last_resort(self, scope: Scope, send: Send, exc: Exception) -> None:
        """Whatever escaped a request: logged with its traceback and answered in the provider's shape
        (400 for what reading a request raises, else 500), unless the answer had already begun."""
        traceback.print_exception(exc, file=sys.stderr)
        status = 400 if isinstance(exc, INPUT_ERRORS) else 500
        what = "cannot read this request" if status == 400 else "the proxy failed"
        with contextlib.suppress(Exception):   # the response had begun: the server drops the connection
            await self.refuse(send, scope.get("path", "/"), Refused(status, f"{what}: {type(exc).__name__}",
                                                                    "bad_request" if status == 400 else None))

    async def error(self, send: Send, up: Upstream, status: int, message: str,
                    extra: list[tuple[bytes, bytes]] | None = None, *, code: str | None = None) -> None:
        self.p.metrics.response(up.name, status)
        await _reply(send, status, _JSON + (extra or []), error_body(up.kind, status, message, code))


class Call:
    """One metered call, from reservation to the event handed to the writer."""

    __slots__ = ("app", "target", "body", "tags", "project", "session", "agent", "key", "t0", "ts", "event_id",
                 "model", "hold", "done")

    def __init__(self, app: ProxyApp, target: Target, body: Body, tags: dict[str, str], project: str | None,
                 session: str | None, agent: str | None, key: str | None, t0: float) -> None:
        self.app, self.target, self.body, self.tags = app, target, body, tags
        self.project, self.session, self.agent, self.key, self.t0 = project, session, agent, key, t0
        self.ts = datetime.now(UTC)
        self.event_id = new_event_id()
        self.model = body.model or "unknown"
        self.hold: Hold | None = None
        self.done = False

    async def run(self, client: UpstreamClient, method: bytes, request_target: bytes,
                  headers: list[tuple[bytes, bytes]], receive: Receive, send: Send) -> None:
        app, up = self.app, self.target.upstream
        try:
            # A redirect goes back to the client (the client never follows one): following it
            # here would send the call elsewhere.
            resp = await client.request(method, request_target, headers, self.body.data)
        except _UPSTREAM_ERRORS as exc:
            timeout = isinstance(exc, asyncio.TimeoutError)
            status = 504 if timeout else 502
            self.finish(None, status, "error")
            await app.error(send, up, status, f"spendtag: upstream {up.name} "
                                              f"{'timed out' if timeout else 'unreachable'}: {type(exc).__name__}")
            return
        except BaseException:
            self.finish(None, 499, "aborted")
            raise
        try:
            app.p.metrics.response(up.name, resp.status)
            if b"text/event-stream" in (resp.header(b"content-type") or b""):
                await self.stream(resp, receive, send)
            else:
                await self.whole(resp, send)
        finally:
            resp.close()

    async def whole(self, resp: Response, send: Send) -> None:
        up = self.target.upstream
        try:
            data = await resp.read()
        except _UPSTREAM_ERRORS as exc:
            # The call ran and is billed all the same: its estimate, from the request and what arrived.
            provider = normalise_provider(up.provider)
            usage = Usage(output_tokens=body_output_tokens(resp.received(), provider), estimated=True)
            self.finish(Parsed(provider, None, usage, None, "aborted"), 502, "aborted")
            await self.app.error(send, up, 502, f"spendtag: upstream response cut: {type(exc).__name__}",
                                 [(b"x-spendtag-event-id", self.event_id.encode())])
            return
        except BaseException:
            self.finish(None, 499, "aborted")
            raise
        parsed: Parsed | None = None
        try:
            parsed = parse_response(self.target.upstream.provider, data)
        except (UsageFormatError, ValueError, TypeError, RecursionError):
            parsed = None
        status = "ok" if resp.status < 300 else "error"    # a redirect or an error served no call
        priced = self.finish(parsed, resp.status, status)
        headers = _response_headers(resp)
        headers.append((b"content-length", b"%d" % len(data)))
        headers.append((b"x-spendtag-event-id", self.event_id.encode()))
        if priced.cost.priced:
            headers.append((b"x-spendtag-cost-usd", exact_str(priced.cost.total).encode()))
        await send({"type": "http.response.start", "status": resp.status, "headers": headers})
        await send({"type": "http.response.body", "body": data, "more_body": False})

    async def stream(self, resp: Response, receive: Receive, send: Send) -> None:
        api = self.target.api
        reader = StreamReader(self.target.upstream.provider, api if api in _STREAM_APIS else None)
        stripper = UsageChunkStripper() if self.body.strip_usage and resp.status < 400 else None
        headers = _response_headers(resp)
        headers.append((b"x-spendtag-event-id", self.event_id.encode()))
        task = asyncio.current_task()
        gone = False

        def on_gone(_: asyncio.Future[None]) -> None:
            nonlocal gone
            if not _.cancelled() and task is not None:
                gone = True
                task.cancel()

        watcher = asyncio.ensure_future(_wait_disconnect(receive))
        watcher.add_done_callback(on_gone)
        cut = broken = False
        try:
            await send({"type": "http.response.start", "status": resp.status, "headers": headers})
            async for chunk in resp.chunks():
                reader.feed(chunk)
                if stripper is not None:
                    chunk = stripper.feed(chunk)
                    if not chunk:
                        continue
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            tail = stripper.close() if stripper is not None else b""
            watcher.remove_done_callback(on_gone)
            # Journaled before the client's last byte: a proxy killed now still records the call
            # it served in full, not an estimate.
            whole = reader.finish()
            self.finish(whole, resp.status, "error" if resp.status >= 400 else whole.status)
            await send({"type": "http.response.body", "body": tail, "more_body": False})
        except asyncio.CancelledError:
            if not gone or task is None:
                self.finish(reader.finish(), 499, "aborted")
                raise
            task.uncancel()
            cut = True
        except _UPSTREAM_ERRORS:
            # The upstream broke off: what arrived is all there is, and the client must see it
            # broken too. The body is left unfinished, so the server drops the connection and
            # the client's SDK raises, as it would talking to the upstream directly.
            cut = broken = True
        finally:
            watcher.remove_done_callback(on_gone)
            watcher.cancel()
        parsed = reader.finish()
        if cut and parsed.status == "ok" and parsed.usage is not None and not parsed.usage.estimated:
            self.finish(parsed, resp.status, "ok")     # usage had fully arrived before the cut
        elif resp.status >= 400:
            self.finish(parsed, resp.status, "error")
        else:
            self.finish(parsed, (502 if broken else 499) if cut else resp.status, "aborted" if cut else parsed.status)
        if cut:
            resp.close()

    def finish(self, parsed: Parsed | None, http_status: int, status: str) -> PricedEvent:
        """Price, settle, count, journal and queue the event (once)."""
        p, up = self.app.p, self.target.upstream
        usage = parsed.usage if parsed is not None else None
        if status == "ok" and parsed is not None and parsed.status != "ok":
            status = parsed.status
        if usage is None:
            # Nothing readable: an error is zero unless the body said otherwise; a call that
            # vanished is its request's estimate, marked so.
            usage = Usage() if status == "error" else Usage(estimated=True)
        if usage.estimated and not usage.total_input_tokens and status != "error":
            # The usage never came (abandoned, cut): the prompt was sent and billed all the same.
            usage = usage.replace(input_tokens=prompt_tokens(self.body.data, normalise_provider(up.provider)))
        event = UsageEvent(
            event_id=self.event_id, ts=self.ts, provider=parsed.provider if parsed is not None else up.provider,
            model=(parsed.model if parsed is not None and parsed.model else self.model), usage=usage,
            tags=self.tags, project=self.project, session=self.session, agent=self.agent, key=self.key,
            source="proxy", status=status,  # type: ignore[arg-type]
            response_id=parsed.response_id if parsed is not None else None,
        )
        cost = p.pricer.price(event)
        priced = PricedEvent(event, cost)
        if self.done:
            return priced
        self.done = True
        seq = p.caps.settle(self.hold, cost.total if cost.priced else 0, self.tags, key=self.key,
                            project=self.project, agent=self.agent, ts=self.ts)
        p.metrics.call(event.provider, event.model, status, self.tags, usage, cost.total)
        journal = p.journal
        journal.end(event)
        p.writer.put(Done(priced, http_status, up.name, self.target.url, (time.perf_counter() - self.t0) * 1000,
                          self.hold.hold_id if self.hold is not None else None, seq))
        if journal.should_rotate():
            old, fd = journal.rotate()
            p.writer.retire(old, fd)
        return priced


def encode_token(tags: str = "", session: str = "", agent: str = "", project: str = "") -> str:
    """The /t/ path token: the tags header value, session, agent and project, base64url of JSON."""
    raw = json.dumps([tags, session, agent, project], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[bytes, bytes, bytes, bytes]:
    try:
        values = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError):
        raise ValueError("not base64url JSON (make it with spendtag run)") from None
    if not (isinstance(values, list) and len(values) == 4 and all(isinstance(v, str) for v in values)):
        raise ValueError("expected [tags, session, agent, project]")
    a, b, c, d = (v.encode() for v in values)
    return a, b, c, d


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _parse(header: str, raw: bytes, *, json_only: bool) -> dict[str, str]:
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise TagError(f"{header} is not UTF-8 text") from None
    if json_only and not text.startswith("{"):
        raise TagError(f'{header} must be a JSON object, e.g. {{"client": "acme"}}')
    try:
        return parse_header(text)
    except TagError as exc:
        raise TagError(f"{header}: {exc}") from None


def _auth_header(up: Upstream) -> tuple[bytes, bytes] | None:
    """The provider key's header, or None without a key (or with one no header can carry)."""
    if not up.api_key:
        return None
    try:
        key = up.api_key.encode("latin-1")
    except UnicodeEncodeError:
        return None
    if b"\r" in key or b"\n" in key:
        return None
    if up.kind == "anthropic":
        return (b"x-api-key", key)
    if up.kind == "gemini":
        return (b"x-goog-api-key", key)
    return (b"authorization", b"Bearer " + key)


def _response_headers(resp: Response) -> list[tuple[bytes, bytes]]:
    out = []
    for name, value in resp.raw_headers:
        lower = name.lower()
        if lower not in _DROP_RESPONSE:
            out.append((lower, value))
    return out


async def _reply(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body, "more_body": False})

