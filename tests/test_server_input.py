"""Servers answer bad input with a 4xx in their API's own shape, never a 500, and stay up with flat memory.

The intake (OTLP/HTTP and /v1/events) is driven in process through its raw ASGI app, fuzzed with
hypothesis over mutations of the repository's own OTLP fixtures, and sent a gzip bomb as a real
server process whose peak memory is read from /proc. The intake's and the dashboard's last resorts
are shown answering an error nobody foresaw (a reader made to raise) in their API's shape; the
proxy's bad input is in tests/test_proxy_input.py.
"""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
import os
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from conftest import fixture_path
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_proxy_helpers import free_port

from spendtag import settings as spendtag_settings
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.server.dashboard.app import create_app as create_dashboard
from spendtag.server.intake import otlp
from spendtag.server.intake.app import create_app
from spendtag.server.intake.body import BodyError, Inflater

MiB = 1024 * 1024
JSON = "application/json"
PB = "application/x-protobuf"
PATHS = ("/v1/traces", "/v1/logs", "/v1/metrics", "/v1/events")


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture_path("agents", name).read_text())
    return data


def _payloads() -> dict[str, dict[str, Any]]:
    span = _fixture("otel_genai_span_from_anthropic.json")
    span.setdefault("traceId", "5b8efff798038103d269b633813fc60c")
    span.setdefault("spanId", "eee19b7ec3c1b174")
    return {
        "/v1/traces": {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [span]}]}]},
        "/v1/logs": _fixture("claude_code_otel_logs_api_request.json"),
        "/v1/metrics": _fixture("claude_code_otel_metrics_delta.json"),
        "/v1/events": {"events": [{"event_id": "e-1", "ts": "2026-03-02T10:00:00Z", "provider": "openai",
                                   "model": "gpt-4o", "usage": {"input_tokens": 10, "output_tokens": 2},
                                   "tags": {"client": "acme"}}]},
    }


PAYLOADS = _payloads()


class Intake:
    """The intake's ASGI app over a temporary ledger, called in process."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.app = create_app(str(db))

    def post(self, path: str, body: bytes, content_type: str = JSON,
             headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[bytes, bytes]]:
        scope = {"type": "http", "method": "POST", "path": path, "server": ("127.0.0.1", 8787),
                 "headers": [(b"host", b"127.0.0.1:8787"), (b"content-type", content_type.encode()),
                             *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())]}
        sent: list[MutableMapping[str, Any]] = []
        chunks = [body[i:i + 65536] for i in range(0, len(body), 65536)] or [b""]

        async def receive() -> dict[str, Any]:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        asyncio.run(self.app(scope, receive, send))
        return sent[0]["status"], sent[1]["body"], dict(sent[0]["headers"])

    def recorded(self) -> int:
        store = open_store(str(self.db))
        try:
            return len(list(store.events(Filters())))
        finally:
            store.close()


@pytest.fixture
def intake(tmp_path: Path) -> Iterator[Intake]:
    it = Intake(tmp_path / "intake.db")
    yield it
    it.app.writer.close()


def _error(path: str, body: bytes) -> str:
    """The message of an error answer, checking it has the API's own shape."""
    data = json.loads(body)
    if path == "/v1/events":
        assert set(data) == {"error"}
        return str(data["error"])
    assert set(data) == {"code", "message"} and isinstance(data["code"], int)    # google.rpc.Status
    return str(data["message"])


def _deep(depth: int) -> bytes:
    return b'{"resourceLogs": ' + b"[" * depth + b"]" * depth + b"}"


# -- regressions: each of these was a plain-text 500 --------------------------------------------------

@pytest.mark.parametrize("body", [b'{"resourceLogs": [5]}', b'{"resourceLogs": [{"scopeLogs": 7}]}'])
def test_a_readable_body_with_bad_records_is_a_partial_success(intake: Intake, body: bytes) -> None:
    """The body is OTLP; what is inside it cannot be read: skipped, never a 500, nothing recorded."""
    got, answer, _ = intake.post("/v1/logs", body)
    assert got == 200 and isinstance(json.loads(answer), dict)
    assert intake.recorded() == 0


@pytest.mark.parametrize(("path", "body", "encoding", "status", "text"), [
    ("/v1/logs", b'{"resourceLogs": 5}', "", 400, "resourceLogs must be a list, not int"),
    ("/v1/traces", b'{"resourceSpans": "x"}', "", 400, "resourceSpans must be a list, not str"),
    ("/v1/metrics", b'{"resourceMetrics": {"a": 1}}', "", 400, "resourceMetrics must be a list, not dict"),
    ("/v1/logs", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"\xff" * 20, "gzip", 400,
     "cannot decompress the gzip body"),
    ("/v1/events", b"garbage", "gzip", 400, "cannot decompress the gzip body"),
    ("/v1/logs", gzip.compress(b'{"resourceLogs": []}')[:-12], "gzip", 400, "the gzip body is cut short"),
    ("/v1/logs", gzip.compress(b'{"resourceLogs": []}') + b"trailing", "gzip", 400, "cannot decompress"),
    ("/v1/logs", zlib.compress(b'{"resourceLogs": []}') + b"x", "deflate", 400, "bytes after the end"),
    ("/v1/logs", b"{}", "br", 415, "unsupported content-encoding 'br'"),
    ("/v1/logs", _deep(100_000), "", 400, "nested too deep"),
    ("/v1/events", b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "", 400, "nested too deep"),
    ("/v1/events", b'{"events": 5}', "", 400, 'expected {"events": [...]}'),
    ("/v1/events", b"\xff\xfe", "", 400, "body is not JSON"),
])
def test_bad_bodies_get_a_4xx_in_the_apis_shape(intake: Intake, path: str, body: bytes, encoding: str,
                                                status: int, text: str) -> None:
    got, answer, headers = intake.post(path, body, headers={"Content-Encoding": encoding} if encoding else None)
    assert got == status and headers[b"content-type"] == b"application/json"
    assert text in _error(path, answer)
    assert intake.recorded() == 0


def test_the_intake_still_records_after_bad_bodies(intake: Intake) -> None:
    for body in (b'{"resourceLogs": 5}', _deep(100_000), b"\x00"):
        assert intake.post("/v1/logs", body)[0] == 400
    payload = json.dumps(PAYLOADS["/v1/logs"]).encode()
    assert intake.post("/v1/logs", gzip.compress(payload), headers={"Content-Encoding": "gzip"})[0] == 200
    assert intake.recorded() == len(list(otlp.events_from_logs(PAYLOADS["/v1/logs"]))) > 0


def test_protobuf_errors_are_protobuf(intake: Intake) -> None:
    status, body, headers = intake.post("/v1/logs", b"\x00\x01garbage", PB)
    assert status == 400 and headers[b"content-type"] == PB.encode()
    assert body[:2] == b"\x08\x03" and b"not an OTLP protobuf logs request" in body    # Status{code: 3, ...}


# -- decompression within the limit -------------------------------------------------------------------

def bomb_blocks(gib: int = 1) -> bytes:
    """``gib`` GiB of zeros as raw deflate, about 1 MiB: 1 MiB of zeros compressed once and its blocks
    repeated (each chunk is flushed, so every chunk after the first is the same bytes)."""
    zeros = bytes(MiB)
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    middle = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    return first + middle * (gib * 1024 - 1) + c.flush()


def gzip_bomb(gib: int = 1) -> bytes:
    """A valid gzip member of ``gib`` GiB of zeros."""
    zeros, crc = bytes(MiB), 0
    for _ in range(gib * 1024):
        crc = zlib.crc32(zeros, crc)
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + bomb_blocks(gib)
            + struct.pack("<II", crc, (gib << 30) & 0xFFFFFFFF))


def deflate_bomb(gib: int = 1) -> bytes:
    """A valid zlib stream (HTTP's ``deflate``) of ``gib`` GiB of zeros."""
    zeros, adler = bytes(MiB), 1
    for _ in range(gib * 1024):
        adler = zlib.adler32(zeros, adler)
    return b"\x78\xda" + bomb_blocks(gib) + struct.pack(">I", adler)


def test_the_inflater_stops_at_the_limit() -> None:
    data = b"x" * 1000
    for encoding, packed in (("gzip", gzip.compress(data)), ("deflate", zlib.compress(data)),
                             ("gzip", gzip.compress(data[:400]) + gzip.compress(data[400:]))):   # two members
        exact = Inflater(encoding, 1000)
        assert b"".join(exact.feed(packed[i:i + 7]) for i in range(0, len(packed), 7)) == data
        exact.finish()
        short = Inflater(encoding, 999)
        with pytest.raises(BodyError, match="too large once decompressed") as caught:
            for i in range(0, len(packed), 7):
                short.feed(packed[i:i + 7])
        assert caught.value.status == 413
    bomb = Inflater("gzip", 32 * MiB)
    with pytest.raises(BodyError):
        bomb.feed(gzip_bomb())
    assert bomb.room < 0         # refused the moment it passed the limit: 32 MiB + 1 byte made, not 1 GiB


def _peak_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak memory from /proc")
def test_a_gzip_bomb_is_refused_with_flat_memory(tmp_path: Path) -> None:
    """Regression: a 509 KiB gzip bomb took the intake from 110 MiB to 1.1 GiB (decompressed, then measured).
    Here 1 GiB of zeros in 1 MiB of gzip, sent three times (gzip, a second time, deflate), to a real
    `spendtag serve --no-dashboard`: each is a 413, the server still records, and its peak resident
    memory (VmHWM) grows by less than 96 MiB (one 32 MiB limit's worth and change)."""
    bomb, deflated = gzip_bomb(), deflate_bomb()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDTAG_")}
    env["SPENDTAG_CONFIG"] = str(tmp_path / "none.toml")
    code = "import sys; sys.argv[0] = 'spendtag'; from spendtag.cli.entry import main; main()"
    child = subprocess.Popen([sys.executable, "-c", code, "--db", str(tmp_path / "bomb.db"), "serve", "--no-dashboard",
                              "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"

    def post(body: bytes, encoding: str) -> int:
        request = urllib.request.Request(base + "/v1/logs", data=body, method="POST",
                                         headers={"Content-Type": JSON, "Content-Encoding": encoding})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return int(response.status)
        except urllib.error.HTTPError as err:
            return err.code

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).close()
                break
            except OSError:
                assert child.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        before = _peak_rss_kib(child.pid)
        answers = [post(bomb, "gzip"), post(bomb, "gzip"), post(deflated, "deflate")]
        grown = _peak_rss_kib(child.pid) - before
        assert grown < 96 * 1024, f"peak memory grew by {grown / 1024:.0f} MiB"
        assert answers == [413, 413, 413]
        payload = json.dumps(PAYLOADS["/v1/logs"]).encode()
        assert post(gzip.compress(payload), "gzip") == 200        # still up, still recording
    finally:
        child.terminate()
        child.wait(timeout=30)


# -- fuzz: mutated fixtures never get a 500 ----------------------------------------------------------

WRONG = [5, -1, 1e308, "x", None, True, [], {}, [5], {"a": "b"}, "\ud800", 10**30]


def _replace_somewhere(data: Any, path: list[int], value: Any) -> Any:
    """``data`` with one node (picked by ``path``, a list of choices) replaced by ``value``."""
    if not path or not isinstance(data, dict | list) or not data:
        return value
    if isinstance(data, dict):
        key = list(data)[path[0] % len(data)]
        return {**data, key: _replace_somewhere(data[key], path[1:], value)}
    i = path[0] % len(data)
    return [*data[:i], _replace_somewhere(data[i], path[1:], value), *data[i + 1:]]


def _delete_somewhere(data: Any, path: list[int]) -> Any:
    if not isinstance(data, dict | list) or not data:
        return data
    if isinstance(data, dict):
        key = list(data)[path[0] % len(data)] if path else next(iter(data))
        if len(path) <= 1:
            return {k: v for k, v in data.items() if k != key}
        return {**data, key: _delete_somewhere(data[key], path[1:])}
    i = (path[0] if path else 0) % len(data)
    if len(path) <= 1:
        return data[:i] + data[i + 1:]
    return [*data[:i], _delete_somewhere(data[i], path[1:]), *data[i + 1:]]


@st.composite
def bad_requests(draw: st.DrawFn) -> tuple[str, bytes, str, str]:
    path = draw(st.sampled_from(PATHS))
    data: Any = copy.deepcopy(PAYLOADS[path])
    where = draw(st.lists(st.integers(0, 50), max_size=9))
    kind = draw(st.sampled_from(["wrong", "delete", "bytes", "truncate", "deep", "utf8", "bom", "dup", "numbers"]))
    if kind == "wrong":
        data = _replace_somewhere(data, where, draw(st.sampled_from(WRONG)))
    elif kind == "delete":
        data = _delete_somewhere(data, where)
    elif kind == "deep":
        data = _replace_somewhere(data, where, json.loads("[" * 900 + "]" * 900))
    elif kind == "numbers":
        data = _replace_somewhere(data, where, draw(st.sampled_from([float("nan"), float("inf"), -10**20, 2**63])))
    body = json.dumps(data).encode()
    if kind == "bytes":
        raw = bytearray(body)
        for i in draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=8)):
            raw[i] = draw(st.integers(0, 255))
        body = bytes(raw)
    elif kind == "truncate":
        body = body[:draw(st.integers(0, len(body)))]
    elif kind == "utf8":
        i = draw(st.integers(0, len(body)))
        body = body[:i] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\\ud800"])) + body[i:]
    elif kind == "bom":
        body = b"\xef\xbb\xbf" + body.replace(b"\n", b"\r\n")
    elif kind == "dup":
        body = body[:-1] + b', "resourceLogs": [], "events": [], "resourceSpans": 1}'
    encoding = draw(st.sampled_from(["", "", "gzip", "deflate", "gzip-cut", "identity"]))
    if encoding == "gzip":
        body = gzip.compress(body)
    elif encoding == "deflate":
        body = zlib.compress(body)
    elif encoding == "gzip-cut":
        body, encoding = gzip.compress(body)[:draw(st.integers(0, 30))], "gzip"
    content_type = draw(st.sampled_from([JSON, JSON, PB, "application/x-ndjson", "application/json; charset=utf-8"]))
    return path, body, content_type, encoding


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(request=bad_requests())
def test_fuzzed_intake_requests_never_get_a_500(intake: Intake, request: tuple[str, bytes, str, str]) -> None:
    path, body, content_type, encoding = request
    status, answer, headers = intake.post(path, body, content_type,
                                          {"Content-Encoding": encoding} if encoding else None)
    assert status in (200, 400, 413, 415), (status, answer[:300])
    if status != 200:
        if headers[b"content-type"] == b"application/json":
            assert _error(path, answer)
        else:                      # a protobuf google.rpc.Status for a protobuf request
            assert path != "/v1/events" and content_type == PB and answer[:1] == b"\x08"


# -- the last resorts: an error nobody foresaw is still an answer in the API's shape -------------------

@pytest.mark.parametrize(("error", "status"), [(KeyError("resourceLogs"), 400), (RuntimeError("bug"), 500)])
def test_the_intake_last_resort(intake: Intake, monkeypatch: pytest.MonkeyPatch, error: Exception,
                                status: int) -> None:
    def broken(*args: Any) -> Any:
        raise error

    monkeypatch.setattr(otlp, "events_from_logs", broken)
    got, body, headers = intake.post("/v1/logs", json.dumps(PAYLOADS["/v1/logs"]).encode())
    assert got == status and headers[b"content-type"] == b"application/json"
    assert type(error).__name__ in _error("/v1/logs", body)


@pytest.mark.parametrize(("error", "status"), [(TypeError("odd"), 400), (RuntimeError("bug"), 500)])
def test_the_dashboard_last_resort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception,
                                   status: int) -> None:
    from spendtag.server.dashboard import views

    def broken(store: Any) -> Any:
        raise error

    monkeypatch.setattr(views, "keys_list", broken)
    db = str(tmp_path / "dash.db")
    c = TestClient(create_dashboard(db, spendtag_settings.load({"db": db})), raise_server_exceptions=False)
    r = c.get("/api/v1/keys")
    assert r.status_code == status and r.headers["content-type"] == JSON
    assert r.json() == {"detail": f"{'cannot read this request' if status == 400 else 'the dashboard failed'}: "
                                  f"{type(error).__name__}"}
    page = c.get("/keys")
    assert page.status_code == status and "text/html" in page.headers["content-type"]
