"""``/api/v1`` fuzzed from its own OpenAPI document, in process, over the seeded ledger (tests/dashboard_seed.py).

Open (loopback, no token): no operation answers 5xx, and answers match the document where it declares them.
With an admin token required and none sent: every operation answers 401. With a client link's token (acme):
no answer ever names another client (globex), and the staff-only operations answer 403. Examples are
derandomized, so a run is repeatable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_seed import seed

pytest.importorskip("schemathesis")
import schemathesis  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.routing import APIRoute  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
)

from spendtag import settings as spendtag_settings  # noqa: E402
from spendtag.ledger import open_store  # noqa: E402
from spendtag.server.dashboard import api  # noqa: E402
from spendtag.server.dashboard.access import create_token  # noqa: E402
from spendtag.server.dashboard.app import create_app  # noqa: E402

OPENAPI = "/api/v1/openapi.json"
FUZZ = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
# What a client link may call (its own summary, budgets and invoices, and who it is); everything else is staff's.
CLIENT_OPERATIONS = {"/api/v1/me", "/api/v1/client", "/api/v1/report", "/api/v1/summary", "/api/v1/budgets",
                     "/api/v1/invoices", "/api/v1/invoices/{number}"}
OTHER_CLIENT = "globex"


class Apps:
    def __init__(self, root: Path) -> None:
        db = root / "ledger.db"
        seed(db)
        store = open_store(f"sqlite:///{db}")
        try:
            self.client_token, _ = create_token(store, "acme-link", "client", ("client", "acme"))
        finally:
            store.close()
        config = root / "config.toml"
        config.write_text('tz = "UTC"\n', encoding="utf-8")
        with pytest.MonkeyPatch.context() as env:
            for name in [n for n in os.environ if n.startswith("SPENDTAG_")]:
                env.delenv(name)
            env.setenv("SPENDTAG_CONFIG", str(config))
            chosen = spendtag_settings.load()
        url = f"sqlite:///{db}"
        self.open: FastAPI = create_app(url, chosen)
        self.guarded: FastAPI = create_app(url, chosen, token="secret")

    def close(self) -> None:
        for app in (self.open, self.guarded):
            app.state.context.close()


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apps]:
    made = Apps(tmp_path_factory.mktemp("dashboard-fuzz"))
    yield made
    made.close()


@pytest.fixture(scope="module")
def open_api(apps: Apps) -> Any:
    return schemathesis.openapi.from_asgi(OPENAPI, apps.open)


@pytest.fixture(scope="module")
def guarded_api(apps: Apps) -> Any:
    return schemathesis.openapi.from_asgi(OPENAPI, apps.guarded)


# Every operation, listed from the router itself so the tests are collected without a ledger. (schemathesis's own
# pytest parametrizing, schemathesis.pytest.from_fixture, fails under pytest 9: Function has no `_nodeid`.)
OPERATIONS = [route.path for route in api.router.routes if isinstance(route, APIRoute)]


def cases(schema: Any, path: str, *modes: GenerationMode) -> st.SearchStrategy[Any]:
    """Generated requests for one operation; with path parameters, also ones naming rows the ledger holds."""
    operation = schema[path]["GET"]
    fixed: list[dict[str, str] | None] = [None]
    for name in re.findall(r"{(\w+)}", path):      # one path parameter at most, in this API
        fixed += [{name: value} for value in PATH_VALUES[name]]
    return st.one_of([operation.as_strategy(generation_mode=mode, path_parameters=params)
                      for mode in modes or (GenerationMode.POSITIVE,) for params in fixed])


def test_every_operation_is_fuzzed(open_api: Any) -> None:
    assert sorted(OPERATIONS) == sorted(open_api.raw_schema["paths"])


@pytest.mark.parametrize("path", OPERATIONS)
def test_no_server_errors_and_answers_match_the_document(open_api: Any, path: str) -> None:
    @given(case=cases(open_api, path, GenerationMode.POSITIVE, GenerationMode.NEGATIVE))
    @FUZZ
    def fuzz(case: Any) -> None:
        response = case.call()
        case.validate_response(response, checks=[not_a_server_error, content_type_conformance,
                                                  response_schema_conformance])

    fuzz()


def test_the_document_declares_the_errors_the_api_gives(apps: Apps) -> None:
    client = TestClient(apps.open)
    document = client.get(OPENAPI).json()["paths"]
    answers = {"/api/v1/events/{event_id}": client.get("/api/v1/events/nope").status_code,
               "/api/v1/report": client.get("/api/v1/report", params={"tag": "="}).status_code}
    assert answers == {"/api/v1/events/{event_id}": 404, "/api/v1/report": 400}
    for path, status in answers.items():
        assert str(status) in document[path]["get"]["responses"], (path, status)


@pytest.mark.parametrize("path", OPERATIONS)
def test_without_a_token_every_operation_is_refused(guarded_api: Any, path: str) -> None:
    @given(case=cases(guarded_api, path, GenerationMode.POSITIVE, GenerationMode.NEGATIVE))
    @settings(FUZZ, max_examples=15)
    def fuzz(case: Any) -> None:
        response = case.call()
        assert response.status_code == 401, (case.path, case.query, response.status_code, response.text[:300])
        assert response.headers.get("www-authenticate") == ["Bearer"]

    fuzz()


@pytest.mark.parametrize("path", OPERATIONS)
def test_a_client_link_sees_its_own_data_only(guarded_api: Any, apps: Apps, path: str) -> None:
    @given(case=cases(guarded_api, path))
    @FUZZ
    def fuzz(case: Any) -> None:
        response = case.call(headers={"Authorization": f"Bearer {apps.client_token}"})
        assert response.status_code < 500, (case.path, case.query, response.status_code, response.text[:300])
        if path not in CLIENT_OPERATIONS:
            assert response.status_code == 403, (case.path, case.query, response.status_code, response.text[:300])
        assert OTHER_CLIENT not in response.text.lower(), (case.path, case.query, response.text[:300])

    fuzz()


# -- the same promise, aimed: the fuzzer would hardly guess globex's ids and names, so hand them over ----------

PATH_VALUES = {"event_id": ["a1", "g1", "u1"], "session_id": ["s-acme-1", "s-globex"],
               "number": ["INV-2026-0001", "INV-2026-0002"], "key": ["client", "project"]}
QUERY_VALUES = {
    "tag": ["client=globex", "client!=acme", "client", "!client", "project=apollo"],
    "value": ["globex", "acme"], "key": ["client", "project"], "client": ["globex", "acme"],
    "by": ["client", "client,model", "model", "session", "agent", "provider"],
    "period": ["2026-03", "2026-02"], "session": ["s-globex", "s-acme-1"], "model": ["gpt-4.1"],
    "provider": ["openai"], "agent": ["coder"], "format": ["csv", "json", "jsonl"], "stack": ["client", "model"],
}


def operations(app: FastAPI) -> list[tuple[str, list[str], list[str]]]:
    """(path, path parameters, query parameters) of every GET in the document."""
    document = TestClient(app).get(OPENAPI).json()
    return [(path, [p["name"] for p in op.get("parameters", []) if p["in"] == "path"],
             [p["name"] for p in op.get("parameters", []) if p["in"] == "query"])
            for path, item in document["paths"].items() for op in [item["get"]]]


@st.composite
def aimed_requests(draw: st.DrawFn, ops: list[tuple[str, list[str], list[str]]]) -> tuple[str, str, list[Any]]:
    template, path_names, query_names = draw(st.sampled_from(ops))
    path = template
    for name in path_names:
        path = path.replace("{" + name + "}", draw(st.sampled_from(PATH_VALUES[name])))
    names = draw(st.lists(st.sampled_from([n for n in query_names if n in QUERY_VALUES] or [""]), max_size=3))
    query = [(n, draw(st.sampled_from(QUERY_VALUES[n]))) for n in names if n]
    return template, path, query


def test_a_client_link_cannot_be_aimed_at_another_client(apps: Apps) -> None:
    client = TestClient(apps.guarded)
    client.headers["Authorization"] = f"Bearer {apps.client_token}"
    ops = operations(apps.guarded)

    @given(aimed_requests(ops))
    @settings(FUZZ, max_examples=150)
    def aimed(request: tuple[str, str, list[Any]]) -> None:
        template, path, query = request
        response = client.get(path, params=query)
        assert response.status_code < 500, (path, query, response.status_code)
        if template not in CLIENT_OPERATIONS:
            assert response.status_code == 403, (path, query, response.status_code)
        named = OTHER_CLIENT in path or any(OTHER_CLIENT in v for _, v in query)
        # An error may repeat what was asked (a 404 for "s-globex"); nothing else may name globex.
        if response.status_code < 400 or not named:
            assert OTHER_CLIENT not in response.text.lower(), (path, query, response.text[:300])

    aimed()

