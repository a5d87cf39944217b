"""Test support for provider pulls: a ledger with provider tables, and a fake admin API on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from conftest import fixture_path

from spendtag.ledger.provider_tables import MIGRATIONS, ProviderTables
from spendtag.ledger.sqlite import SQLiteStore

if issubclass(SQLiteStore, ProviderTables):
    Store = SQLiteStore
else:
    class Store(ProviderTables, SQLiteStore):  # type: ignore[no-redef]
        """What SQLiteStore is once ProviderTables is among its bases."""


def open_store(url: str | Path) -> Store:
    """A SQLite ledger with its own migrations and then 0006_provider_usage applied (as migrate() will)."""
    store = Store(url)
    done = set(store.applied_migrations())
    for migration in MIGRATIONS:
        if migration.name in done:
            continue
        with store._transaction() as conn:
            for statement in migration.statements:
                conn.execute(statement.replace("{WITHOUT_ROWID}", "WITHOUT ROWID"))
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (migration.name, int(time.time())))
    return store


def admin_fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture_path("admin", name).read_text())
    return data


@dataclass
class Seen:
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)


# (status, headers, body): what the server answers one request with.
Answer = tuple[int, dict[str, str], Any]


@dataclass
class Route:
    """Pages of one endpoint by ``page`` parameter (None: the first), and faults served before them."""

    pages: dict[str | None, Any]
    faults: dict[str | None, list[Answer]] = field(default_factory=dict)
    always_fail: set[str | None] = field(default_factory=set)


class FakeAdminAPI:
    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.seen: list[Seen] = []
        self.lock = threading.Lock()

    def answer(self, path: str, query: list[tuple[str, str]], headers: dict[str, str]) -> Answer:
        with self.lock:
            self.seen.append(Seen(path, query, headers))
            route = self.routes.get(path)
            if route is None:
                return 404, {}, {"error": {"message": "no such endpoint"}}
            page = next((v for k, v in query if k == "page"), None)
            if page in route.always_fail:
                return 500, {}, {"error": {"type": "api_error", "message": "Internal server error"}}
            queued = route.faults.get(page)
            if queued:
                return queued.pop(0)
            if page not in route.pages:
                return 400, {}, {"error": {"message": f"unknown page {page}"}}
            return 200, {}, route.pages[page]

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]


@contextmanager
def serve(api: FakeAdminAPI) -> Iterator[str]:
    """Run ``api`` on 127.0.0.1 (a free port); yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            parts = urlsplit(self.path)
            status, headers, body = api.answer(parts.path, parse_qsl(parts.query, keep_blank_values=True),
                                               {k.lower(): v for k, v in self.headers.items()})
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


ANTHROPIC_USAGE = "/v1/organizations/usage_report/messages"
ANTHROPIC_COST = "/v1/organizations/cost_report"
OPENAI_USAGE = "/v1/organization/usage/completions"
OPENAI_COST = "/v1/organization/costs"
ANTHROPIC_TOKEN = "page_MjAyNi0wMS0wN1QwMDowMDowMFo="


def anthropic_routes() -> dict[str, Route]:
    return {
        ANTHROPIC_USAGE: Route({None: admin_fixture("anthropic_usage_report_messages_page1.json"),
                                ANTHROPIC_TOKEN: admin_fixture("anthropic_usage_report_messages_page2.json")}),
        ANTHROPIC_COST: Route({None: admin_fixture("anthropic_cost_report.json")}),
    }


def openai_routes() -> dict[str, Route]:
    usage, costs = admin_fixture("openai_usage_completions.json"), admin_fixture("openai_costs.json")
    empty = {"object": "page", "data": [], "has_more": False, "next_page": None}
    return {
        OPENAI_USAGE: Route({None: usage, usage["next_page"]: empty}),
        OPENAI_COST: Route({None: costs, costs["next_page"]: empty}),
    }


class Sleeps:
    """A sleep that records what it was asked to wait, and waits no more than a millisecond."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(min(seconds, 0.001))


Factory = Callable[[], dict[str, Route]]
