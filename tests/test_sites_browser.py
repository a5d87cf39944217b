"""No web page reaches the ledger through the user's browser: real chromium against real servers.

`spendtag serve --proxy` (dashboard, API, intake and proxy on one port) and a standalone
`spendtag proxy` run on 127.0.0.1 over a seeded ledger, the proxy's upstream a local mock. A page
served from another origin (http://127.0.0.2:PORT) tries to read the API and to write to the
intake and both proxies: fetch with and without ``no-cors``, ``text/plain``, a body with no
content type, JSON (which needs a preflight), and form posts (``text/plain`` forms carrying a
JSON body, url-encoded forms). DNS rebinding is done for real: chromium resolves ``rebind.test``
to 127.0.0.1, so a page on ``rebind.test:PORT`` is same-origin with the servers and only their
Host check stands in its way. A plain HTTP client sends a foreign ``Host`` too. Everything is
refused; the ledger holds exactly the seeded calls plus the two sent by a program (not a browser)
at the end, which shows the same requests are recorded when they are allowed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from dashboard_seed import seed
from test_proxy_helpers import Upstream, free_port

from spendtag.ledger import open_store
from spendtag.ledger.query import Filters

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402
from test_dashboard_browser import CHROMIUM_FLAGS, _chromium  # noqa: E402

ATTACK_EVENT = {"event_id": "attack-1", "ts": "2026-03-02T10:00:00Z", "provider": "openai", "model": "gpt-4o",
                "usage": {"input_tokens": 1000, "output_tokens": 100}, "tags": {"client": "mallory"},
                "cost_usd": "0.25"}
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
ATTACKER_PAGE = b"""<!doctype html><html><head><title>a page on another site</title></head>
<body><h1>nothing to see</h1></body></html>"""


@dataclass
class Servers:
    serve: str          # http://127.0.0.1:PORT: dashboard, API, intake, proxy
    proxy: str          # http://127.0.0.1:PORT: the standalone proxy
    serve_port: int
    proxy_port: int
    db: Path
    upstream: Upstream


def _wait(url: str, child: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            if child.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{url} did not come up:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)


def _stop(child: subprocess.Popen[bytes]) -> None:
    child.terminate()      # SIGTERM: the proxy writes what it holds before it exits
    try:
        child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    root = tmp_path_factory.mktemp("sites-browser")
    db = root / "ledger.db"
    seed(db)
    upstream = Upstream()
    upstream.start()
    config = root / "config.toml"
    config.write_text(f'tz = "UTC"\n[proxy]\nopenai_base_url = "{upstream.url}/v1"\n'
                      f'anthropic_base_url = "{upstream.url}"\naccess_log = false\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDTAG_")}
    env["SPENDTAG_CONFIG"] = str(config)
    code = "import sys; sys.argv[0] = 'spendtag'; from spendtag.cli.entry import main; main()"
    serve_port, proxy_port = free_port(), free_port()
    children = []
    try:
        for name, args, ready in (
                ("serve", ["serve", "--proxy", "--port", str(serve_port)], "/static/style.css"),
                ("proxy", ["proxy", "--port", str(proxy_port)], "/healthz")):
            log = root / f"{name}.log"
            with log.open("wb") as out:
                child = subprocess.Popen([sys.executable, "-c", code, "--db", str(db), *args], env=env, stdout=out,
                                         stderr=subprocess.STDOUT)
            children.append(child)
            _wait(f"http://127.0.0.1:{serve_port if name == 'serve' else proxy_port}{ready}", child, log)
        yield Servers(f"http://127.0.0.1:{serve_port}", f"http://127.0.0.1:{proxy_port}", serve_port, proxy_port,
                      db, upstream)
    finally:
        for child in children:
            _stop(child)
        upstream.stop()


@pytest.fixture(scope="module")
def attacker() -> Iterator[str]:
    """A page on another origin: http://127.0.0.2:PORT/ (loopback too, as a local dev server would be)."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(ATTACKER_PAGE)))
            self.end_headers()
            self.wfile.write(ATTACKER_PAGE)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.2", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.2:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = _chromium()
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=path,
                                      args=[*CHROMIUM_FLAGS, "--host-resolver-rules=MAP rebind.test 127.0.0.1"])
        yield chromium
        chromium.close()


@dataclass
class Seen:
    method: str
    url: str
    status: int


def _watch(page: Page) -> list[Seen]:
    """Every response the page got, as the network saw it (the status of no-cors answers included)."""
    seen: list[Seen] = []
    page.on("response", lambda r: seen.append(Seen(r.request.method, r.url, r.status)))
    return seen


FETCHES = """async ({serve, proxy, event, chat}) => {
  const out = {};
  const attempt = async (name, url, init) => {
    try {
      const r = await fetch(url, init);
      out[name] = {type: r.type, status: r.status, text: r.type === "opaque" ? "" : await r.text()};
    } catch (e) { out[name] = {error: String(e)}; }
  };
  const events = JSON.stringify({events: [event]});
  await attempt("read", serve + "/api/v1/report?by=client", {});
  await attempt("read-no-cors", serve + "/api/v1/report?by=client", {mode: "no-cors"});
  await attempt("read-metrics", proxy + "/metrics", {});
  await attempt("events-text", serve + "/v1/events", {method: "POST", mode: "no-cors", body: events,
                                                    headers: {"Content-Type": "text/plain"}});
  await attempt("events-blob", serve + "/v1/events", {method: "POST", mode: "no-cors", body: new Blob([events])});
  await attempt("events-json", serve + "/v1/events", {method: "POST", body: events,
                                                    headers: {"Content-Type": "application/json"}});
  await attempt("logs-text", serve + "/v1/logs", {method: "POST", mode: "no-cors", body: "{}"});
  for (const [name, base] of [["serve-proxy", serve], ["proxy", proxy]]) {
    await attempt(name + "-text", base + "/openai/v1/chat/completions",
                  {method: "POST", mode: "no-cors", body: JSON.stringify(chat)});
    await attempt(name + "-json", base + "/openai/v1/chat/completions",
                  {method: "POST", body: JSON.stringify(chat), headers: {"Content-Type": "application/json"}});
  }
  return out;
}"""

# Each form posts into a frame of its own: a second post into the same frame can cancel the first.
FORM = """([action, enctype, name, value]) => {
  const sink = document.createElement("iframe");
  sink.name = "sink" + document.forms.length;
  document.body.appendChild(sink);
  const form = document.createElement("form");
  form.method = "POST"; form.action = action; form.enctype = enctype; form.target = sink.name;
  const input = document.createElement("input");
  input.name = name; input.value = value;
  form.appendChild(input); document.body.appendChild(form); form.submit();
}"""


def _form_posts(page: Page, servers: Servers) -> None:
    # A text/plain form sends "name=value": with name '{"events": [...], "x": "' and value '"}' the
    # body is JSON, the classic way to post JSON cross-site without a preflight.
    events = json.dumps({"events": [ATTACK_EVENT]})[:-1] + ', "x": "'
    chat = json.dumps(CHAT)[:-1] + ', "x": "'
    for action, enctype, name, value in (
            (servers.serve + "/v1/events", "text/plain", events, '"}'),
            (servers.serve + "/v1/events", "application/x-www-form-urlencoded", "events", "[]"),
            (servers.serve + "/openai/v1/chat/completions", "text/plain", chat, '"}'),
            (servers.proxy + "/openai/v1/chat/completions", "text/plain", chat, '"}'),
            (servers.proxy + "/anthropic/v1/messages", "multipart/form-data", "model", "claude-sonnet-4-5"),
            (servers.serve + "/login", "application/x-www-form-urlencoded", "token", "guess")):
        with page.expect_response(lambda r, url=action: r.url == url and r.request.method == "POST"):
            page.evaluate(FORM, [action, enctype, name, value])


def _plain(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _ledger(db: Path) -> list[Any]:
    with closing(open_store(str(db))) as store:
        return [p.event for p in store.events(Filters())]


def test_no_page_on_another_site_reads_or_writes_the_ledger(browser: Browser, servers: Servers,
                                                             attacker: str) -> None:
    seeded = _ledger(servers.db)
    assert any(e.tags.get("client") == "acme" for e in seeded)
    context = browser.new_context()
    page = context.new_page()
    seen = _watch(page)
    page.goto(attacker + "/")

    tried = page.evaluate(FETCHES, {"serve": servers.serve, "proxy": servers.proxy, "event": ATTACK_EVENT,
                                    "chat": CHAT})
    # Reads: the browser hands the page nothing (no CORS grant), so nothing of the ledger reaches it.
    assert "error" in tried["read"] and "error" in tried["read-metrics"]
    assert tried["read-no-cors"] == {"type": "opaque", "status": 0, "text": ""}
    # JSON needs a preflight, which no server grants: the POST is never sent.
    for name in ("events-json", "serve-proxy-json", "proxy-json"):
        assert "error" in tried[name], (name, tried[name])
    _form_posts(page, servers)

    writes = [s for s in seen if s.method == "POST"]
    assert len(writes) == 5 + 6, writes      # the 5 no-cors fetches and 6 forms reached a server ...
    assert {s.status for s in writes} <= {403, 415}, writes    # ... and every one was refused
    assert all(s.status == 403 for s in writes), writes      # a browser's Origin gives the page away first
    context.close()


def test_dns_rebinding_finds_every_server_refusing_its_name(browser: Browser, servers: Servers) -> None:
    """chromium resolves rebind.test to 127.0.0.1: the page is same-origin with the server it attacks,
    so its requests pass every browser check; the server's Host check refuses them."""
    context = browser.new_context()
    page = context.new_page()
    seen = _watch(page)
    for port, path in ((servers.serve_port, "/api/v1/report?by=client"), (servers.serve_port, "/"),
                       (servers.proxy_port, "/metrics")):
        response = page.goto(f"http://rebind.test:{port}{path}")
        assert response is not None and response.status == 403, (port, path)
        assert "acme" not in page.content() and "does not answer to Host" in page.content()
    page.goto(f"http://rebind.test:{servers.serve_port}/static/style.css")   # any page of that origin
    tried = page.evaluate("""async ([event, chat]) => {
      const post = async (path, body) => {
        const r = await fetch(path, {method: "POST", body: JSON.stringify(body),
                                     headers: {"Content-Type": "application/json"}});
        return [r.status, await r.text()];
      };
      const read = await fetch("/api/v1/report?by=client");
      return {read: [read.status, await read.text()], events: await post("/v1/events", {events: [event]}),
              chat: await post("/openai/v1/chat/completions", chat)};
    }""", [ATTACK_EVENT, CHAT])
    assert tried["read"][0] == 403 and "acme" not in tried["read"][1]
    assert tried["events"][0] == 403 and tried["chat"][0] == 403
    assert json.loads(tried["chat"][1])["error"]["code"] == "foreign_host"
    assert {s.status for s in seen if "rebind.test" in s.url and "style.css" not in s.url} == {403}
    context.close()


def test_a_foreign_host_from_a_plain_client_is_refused(servers: Servers) -> None:
    foreign = {"Host": "evil.example"}
    status, body = _plain("GET", servers.serve + "/api/v1/report?by=client", headers=foreign)
    assert status == 403 and b"acme" not in body
    assert _plain("POST", servers.serve + "/v1/events", {"events": [ATTACK_EVENT]}, foreign)[0] == 403
    for base in (servers.serve, servers.proxy):
        status, body = _plain("POST", base + "/openai/v1/chat/completions", CHAT, foreign)
        assert status == 403 and json.loads(body)["error"]["code"] == "foreign_host"


def test_zz_nothing_was_recorded_but_what_a_program_sent(servers: Servers) -> None:
    """Last in this module: the same writes from a program (JSON, its own Host, no Origin) are recorded,
    so the ledger holds the seeded calls and exactly these two."""
    before = _ledger(servers.db)
    assert not [e for e in before if e.event_id.startswith("attack") or e.tags.get("client") == "mallory"]
    assert servers.upstream.seen == []          # no proxy forwarded anything a page sent
    control = {**ATTACK_EVENT, "event_id": "control-1", "tags": {"client": "control"}}
    status, body = _plain("POST", servers.serve + "/v1/events", {"events": [control]})
    assert status == 200 and json.loads(body)["inserted"] == 1
    assert _plain("POST", servers.proxy + "/openai/v1/chat/completions", CHAT,
                  {"Authorization": "Bearer sk-user", "X-Spendtag-Tags": "client=control"})[0] == 200
    assert len(servers.upstream.seen) == 1
    deadline = time.monotonic() + 10
    while len(after := _ledger(servers.db)) < len(before) + 2 and time.monotonic() < deadline:
        time.sleep(0.1)                          # the proxy writes its calls in batches
    added = [e for e in after if e.event_id not in {b.event_id for b in before}]
    assert sorted(e.tags.get("client", "") for e in added) == ["control", "control"]
    assert not [e for e in after if e.tags.get("client") == "mallory"]
