"""Local servers refuse other sites (spendtag.server.sites): the Host names each server answers,
writes from another site, and writes any web page could send without asking.

In process for the dashboard (TestClient) and the intake (its raw ASGI app), over real uvicorn
for the proxy. tests/test_sites_browser.py does the same from a real browser.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import test_proxy_helpers as helpers
from click.testing import CliRunner
from dashboard_seed import seeded
from fastapi.testclient import TestClient
from test_proxy_helpers import Proxy, Upstream, call

from spendtag import settings
from spendtag.cli.main import cli
from spendtag.errors import ConfigError
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.server.dashboard.app import create_app
from spendtag.server.intake.app import create_app as create_intake
from spendtag.server.sites import Sites, allowed_hosts, hostname, serve_section

proxy = helpers.proxy
upstream = helpers.upstream

EVENT = {"event_id": "fake-1", "ts": "2026-03-02T10:00:00Z", "provider": "openai", "model": "gpt-4o",
         "usage": {"input_tokens": 1000, "output_tokens": 100}, "tags": {"client": "acme"},
         "cost_usd": "0.25"}
EVIL = "http://evil.example"


# -- which Host names are answered ------------------------------------------------------------------

@pytest.mark.parametrize(("host", "answered"), [
    (b"127.0.0.1:8787", True), (b"localhost", True), (b"LocalHost:4000", True), (b"[::1]:4000", True),
    (b"127.0.0.1", True),
    (b"evil.example", False), (b"evil.example:8787", False), (b"localhost.evil.example", False),
    (b"127.0.0.1.nip.io:8787", False), (b"", False), (b"127.0.0.1:80:80", False), (b"[::1", False),
    (b"127.0.0.1:port", False), (b"127.0.0.2:8787", False),
])
def test_a_loopback_server_answers_only_loopback_names(host: bytes, answered: bool) -> None:
    assert Sites().host_value_ok(host, ("127.0.0.1", 8787)) is answered
    assert Sites().host_value_ok(host, ("127.0.0.1", 8787)) is answered    # the cached answer is the same


def test_the_bound_address_the_reached_address_and_configured_names() -> None:
    lan = Sites("myhost.lan", ["dash.example.com", ".corp.example"])
    for host in (b"myhost.lan:8787", b"dash.example.com", b"corp.example", b"a.b.corp.example:1", b"localhost"):
        assert lan.host_value_ok(host, None), host
    for host in (b"example.com", b"evilcorp.example", b"dash.example.com.evil.example"):
        assert not lan.host_value_ok(host, None), host
    everywhere = Sites("0.0.0.0")
    # Bound to every address: an address the connection really reached is answered, no other.
    assert everywhere.host_value_ok(b"192.168.1.5:8787", ("192.168.1.5", 8787))
    assert not everywhere.host_value_ok(b"192.168.1.5:8787", ("10.0.0.7", 8787))
    assert not everywhere.host_value_ok(b"evil.example", ("10.0.0.7", 8787))
    assert Sites(allowed=["*"]).host_value_ok(b"anything.example", None)
    assert Sites("::1").host_value_ok(b"[::1]:9", None) and Sites("[::1]").host_value_ok(b"[::1]", None)


def test_hostname() -> None:
    assert [hostname(h) for h in ("Example.COM:80", "[::1]:4000", "[::1]", "a:b", "", ":80")] == \
        ["example.com", "::1", "::1", None, None, None]


def _scope(method: str, headers: dict[str, str]) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": "/v1/events",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}


@pytest.mark.parametrize(("headers", "status"), [
    ({"Host": "127.0.0.1:8787", "Content-Type": "application/json"}, None),
    ({"Host": "127.0.0.1:8787", "Content-Type": "application/json", "Origin": "http://127.0.0.1:8787"}, None),
    ({"Host": "127.0.0.1:8787", "Content-Type": "application/x-protobuf"}, None),
    ({"Host": "127.0.0.1:8787", "Content-Type": "application/json", "Origin": EVIL}, 403),
    ({"Host": "127.0.0.1:8787", "Content-Type": "application/json", "Origin": "http://127.0.0.1:9999"}, 403),
    ({"Host": "127.0.0.1:8787", "Content-Type": "application/json", "Origin": "null"}, 403),
    ({"Host": "127.0.0.1:8787", "Content-Type": "application/x-www-form-urlencoded", "Origin": "null",
      "Sec-Fetch-Site": "same-origin"}, 415),
    ({"Host": "127.0.0.1:8787", "Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403),
    ({"Host": "127.0.0.1:8787", "Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}, 403),
    ({"Host": "127.0.0.1:8787", "Content-Type": "text/plain;charset=UTF-8"}, 415),
    ({"Host": "127.0.0.1:8787", "Content-Type": "application/x-www-form-urlencoded"}, 415),
    ({"Host": "127.0.0.1:8787", "Content-Type": "multipart/form-data; boundary=x"}, 415),
    ({"Host": "127.0.0.1:8787"}, 415),
    ({"Host": "evil.example:8787", "Content-Type": "application/json"}, 403),
])
def test_what_a_write_must_carry(headers: dict[str, str], status: int | None) -> None:
    refused = Sites().refusal(_scope("POST", headers))
    assert (refused.status if refused else None) == status
    if "Origin" not in headers and "Sec-Fetch-Site" not in headers and "evil" not in headers["Host"]:
        assert Sites().refusal(_scope("POST", headers), credentialed=True) is None    # a token suffices
    assert Sites().refusal(_scope("GET", {**headers, "Host": "127.0.0.1"})) is None   # reads need no more


def test_allowed_hosts_config_is_checked() -> None:
    assert allowed_hosts(["Dash.Example.com", ".corp.example", "[::1]", "10.0.0.5", "*"], "proxy", "c.toml") == (
        "dash.example.com", ".corp.example", "::1", "10.0.0.5", "*")
    for bad, text in ((["http://dash.example.com"], "is not a host name"), (["dash.example.com:8787"], "not a host"),
                      ("dash.example.com", "must be a list"), ([5], "must be a list"), (["a/b"], "not a host")):
        with pytest.raises(ConfigError, match=text) as caught:
            allowed_hosts(bad, "proxy", "c.toml")
        assert "c.toml" in str(caught.value) and "fix:" in str(caught.value)
    with pytest.raises(ConfigError, match="unknown key 'allowed_host' in \\[serve\\]"):
        serve_section({"allowed_host": ["x"]}, "c.toml")


def test_a_bad_allowed_hosts_stops_serve_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[serve]\nallowed_hosts = ["https://dash.example.com/"]\n')
    monkeypatch.setenv("SPENDTAG_CONFIG", str(config))
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "l.db"), "serve"])
    assert result.exit_code != 0
    assert "serve.allowed_hosts: 'https://dash.example.com/' is not a host name" in result.output
    assert "Traceback" not in result.output


# -- the dashboard and its API ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with seeded(tmp_path_factory.mktemp("sites")) as db:
        yield db


def dashboard(ledger: Path, **kw: Any) -> TestClient:
    return TestClient(create_app(str(ledger), settings.load({"db": str(ledger)}), **kw),
                      base_url="http://127.0.0.1:8787")


def test_the_api_refuses_a_foreign_host(ledger: Path) -> None:
    """Regression: `Host: evil.example` to /api/v1/report?by=client returned every client's spend (DNS rebinding)."""
    c = dashboard(ledger)
    mine = c.get("/api/v1/report?by=client")
    assert mine.status_code == 200 and "acme" in mine.text
    for path in ("/api/v1/report?by=client", "/", "/events", "/api/v1/export?format=csv"):
        theirs = c.get(path, headers={"Host": "evil.example:8787"})
        assert theirs.status_code == 403, path
        assert "acme" not in theirs.text and "Host 'evil.example:8787'" in theirs.json()["detail"]
        assert "[serve] allowed_hosts" in theirs.json()["detail"]
    assert c.get("/api/v1/me", headers={"Host": "localhost:8787"}).status_code == 200


def test_the_dashboard_answers_the_names_in_serve_allowed_hosts(ledger: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[serve]\nallowed_hosts = ["dash.example.com"]\n')
    monkeypatch.setenv("SPENDTAG_CONFIG", str(config))
    c = dashboard(ledger)
    assert c.get("/api/v1/me", headers={"Host": "dash.example.com"}).status_code == 200
    assert c.get("/api/v1/me", headers={"Host": "evil.example"}).status_code == 403


def test_sign_in_from_another_site_is_refused(ledger: Path) -> None:
    c = dashboard(ledger, token="secret")
    signed = c.post("/login", data={"token": "secret", "next": "/"}, follow_redirects=False)
    assert signed.status_code == 303
    forged = c.post("/login", data={"token": "secret", "next": "/"}, headers={"Origin": EVIL},
                    follow_redirects=False)
    assert forged.status_code == 403 and "set-cookie" not in forged.headers


def test_a_token_can_be_required_on_loopback_too(ledger: Path) -> None:
    c = dashboard(ledger, token="secret")
    assert c.get("/api/v1/report?by=client").status_code == 401
    assert c.get("/api/v1/report?by=client", headers={"Authorization": "Bearer secret"}).status_code == 200


# -- the intake -----------------------------------------------------------------------------------

class Intake:
    def __init__(self, db: Path, token: str | None = None) -> None:
        self.db = db
        self.app = create_intake(str(db), token=token)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, dict[bytes, bytes]]:
        scope = {"type": "http", "method": "POST", "path": path, "server": ("127.0.0.1", 8787),
                 "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

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

    def close(self) -> None:
        self.app.writer.close()


@pytest.fixture
def intake(tmp_path: Path) -> Iterator[Intake]:
    it = Intake(tmp_path / "intake.db")
    yield it
    it.close()


LOCAL = {"Host": "127.0.0.1:8787"}
BATCH = json.dumps({"events": [EVENT]}).encode()


def test_a_cross_site_text_plain_post_records_nothing(intake: Intake) -> None:
    """Regression: POST /v1/events with Origin: http://evil.example and text/plain inserted a fake call (200)."""
    status, body, _ = intake.post("/v1/events", BATCH, {**LOCAL, "Origin": EVIL, "Content-Type": "text/plain"})
    assert status == 403 and "another site" in json.loads(body)["error"]
    status, body, _ = intake.post("/v1/events", BATCH, {**LOCAL, "Content-Type": "text/plain"})
    assert status == 415 and "application/json" in json.loads(body)["error"]
    status, _, _ = intake.post("/v1/events", BATCH, {**LOCAL, "Origin": EVIL, "Content-Type": "application/json"})
    assert status == 403
    status, _, _ = intake.post("/v1/events", BATCH, {"Host": "evil.example", "Content-Type": "application/json"})
    assert status == 403
    assert intake.recorded() == 0
    status, body, _ = intake.post("/v1/events", BATCH, {**LOCAL, "Content-Type": "application/json"})
    assert (status, json.loads(body)["inserted"]) == (200, 1)
    assert intake.recorded() == 1


def test_otlp_refusals_are_google_rpc_status(intake: Intake) -> None:
    status, body, headers = intake.post("/v1/logs", b"{}", {"Host": "evil.example", "Content-Type": "application/json"})
    assert status == 403 and json.loads(body)["code"] == 7 and "evil.example" in json.loads(body)["message"]
    status, body, headers = intake.post("/v1/traces", b"", {**LOCAL, "Content-Type": "application/x-protobuf",
                                                              "Origin": EVIL})
    assert status == 403 and headers[b"content-type"] == b"application/x-protobuf"
    message = "refused a write from another site"
    assert body[:2] == b"\x08\x07" and body[2] == 0x12 and message.encode() in body   # Status{code: 7, message}
    status, body, _ = intake.post("/v1/metrics", b"{}", {**LOCAL, "Content-Type": "text/plain"})
    assert status == 415 and json.loads(body)["code"] == 3


def test_with_a_token_a_write_needs_no_json(tmp_path: Path) -> None:
    it = Intake(tmp_path / "token.db", token="tk")
    try:
        assert it.post("/v1/events", BATCH, {**LOCAL, "Content-Type": "text/plain"})[0] == 401
        status, _, _ = it.post("/v1/events", BATCH, {**LOCAL, "Authorization": "Bearer tk"})
        assert status == 200 and it.recorded() == 1
    finally:
        it.close()


# -- the proxy (real uvicorn) -----------------------------------------------------------------------

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def test_the_proxy_refuses_a_foreign_host(proxy: Proxy, upstream: Upstream) -> None:
    r = call("POST", proxy.url + "/openai/v1/chat/completions", CHAT, {"Host": "evil.example:4000"})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "foreign_host" and "[proxy] allowed_hosts" in r.json()["error"]["message"]
    r = call("POST", proxy.url + "/anthropic/v1/messages", CHAT, {"Host": "evil.example"})
    assert r.status_code == 403 and r.json()["type"] == "error"           # Anthropic's shape
    r = call("GET", proxy.url + "/metrics", headers={"Host": "evil.example"})
    assert r.status_code == 403 and b"client" not in r.content
    ok = call("POST", proxy.url + "/openai/v1/chat/completions", CHAT, {"Host": f"localhost:{proxy.port}"})
    assert ok.status_code == 200
    assert len(upstream.seen) == 1 and len(proxy.events()) == 1


def test_the_proxy_refuses_cross_site_and_simple_writes(proxy: Proxy, upstream: Upstream) -> None:
    path = proxy.url + "/openai/v1/chat/completions"
    r = call("POST", path, CHAT, {"Origin": EVIL, "Authorization": "Bearer sk-user"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "foreign_origin"
    r = call("POST", path, CHAT, {"Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json()["error"]["code"] == "simple_content_type"
    r = call("POST", path, CHAT, {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415
    r = call("POST", proxy.url + "/gemini/v1beta/models/gemini-2.5-flash:generateContent", {"contents": []},
             {"Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403 and r.json()["error"]["status"] == "PERMISSION_DENIED"
    # A CORS preflight (a page on another site asking leave to POST JSON) is answered here, not upstream.
    r = call("OPTIONS", path, headers={"Origin": EVIL, "Access-Control-Request-Method": "POST",
                                       "Access-Control-Request-Headers": "content-type"})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    assert upstream.seen == []
    # An SDK sends its key: any content type then (a multipart upload, say) is its own business.
    assert call("POST", path, CHAT, {"Content-Type": "text/plain", "Authorization": "Bearer sk-user"}).status_code \
        == 200
    assert len(proxy.events()) == 1
