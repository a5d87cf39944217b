"""The typed API: every ``/api/v1`` answer has a schema in the OpenAPI document, the answers on a
seeded ledger are exactly what their schemas say (no field missing from the document), and
``/api/v1/docs`` shows the document readably with nothing loaded from elsewhere."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from dashboard_seed import seeded
from fastapi.testclient import TestClient

from spendtag import settings
from spendtag.server.dashboard.app import create_app

MARCH = "period=2026-03"
# One request per operation, on the seeded ledger (tests/dashboard_seed.py).
REQUESTS = {
    "/api/v1/me": "/api/v1/me",
    "/api/v1/overview": f"/api/v1/overview?{MARCH}",
    "/api/v1/report": f"/api/v1/report?by=client,model&{MARCH}",
    "/api/v1/summary": f"/api/v1/summary?value=acme&{MARCH}",
    "/api/v1/client": f"/api/v1/client?value=acme&{MARCH}",
    "/api/v1/tags": f"/api/v1/tags?{MARCH}",
    "/api/v1/tags/{key}": f"/api/v1/tags/client?{MARCH}",
    "/api/v1/events": f"/api/v1/events?{MARCH}",
    "/api/v1/events/{event_id}": "/api/v1/events/a1",
    "/api/v1/sessions": f"/api/v1/sessions?{MARCH}",
    "/api/v1/sessions/{session_id}": "/api/v1/sessions/s-acme-1",
    "/api/v1/budgets": "/api/v1/budgets",
    "/api/v1/recommendations": f"/api/v1/recommendations?{MARCH}",
    "/api/v1/alerts": "/api/v1/alerts",
    "/api/v1/invoices": "/api/v1/invoices",
    "/api/v1/invoices/{number}": "/api/v1/invoices/INV-2026-0001",
    "/api/v1/keys": "/api/v1/keys",
    "/api/v1/export": f"/api/v1/export?{MARCH}&format=json",
}
# Objects whose fields are open by design: a report row has a field per --by key; an invoice is its own document.
OPEN = {"rows", "document"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with seeded(tmp_path_factory.mktemp("schema")) as db:
        yield TestClient(create_app(str(db), settings.load({"db": str(db)})))


@pytest.fixture(scope="module")
def doc(client: TestClient) -> dict[str, Any]:
    found: dict[str, Any] = client.get("/api/v1/openapi.json").json()
    return found


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_every_operation_is_requested_here(doc: dict[str, Any]) -> None:
    assert sorted(doc["paths"]) == sorted(REQUESTS)


def test_every_answer_has_a_schema_with_its_fields(doc: dict[str, Any]) -> None:
    for path, item in doc["paths"].items():
        content = item["get"]["responses"]["200"]["content"]
        schema = resolve(doc, content["application/json"]["schema"])
        assert schema, path
        if schema.get("type") == "array":
            items = resolve(doc, schema["items"])
            assert items.get("properties") or items.get("type") == "string", path
        else:
            assert schema.get("properties"), path


def _closed(doc: dict[str, Any], schema: Any, name: str = "") -> Any:
    """The schema with every listed object closed to other fields (refs inlined)."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _closed(doc, resolve(doc, schema), name)
        out = {k: _closed(doc, v, k) for k, v in schema.items() if k != "properties"}
        if "properties" in schema:
            out["properties"] = {k: _closed(doc, v, k) for k, v in schema["properties"].items()}
            if name not in OPEN:
                out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(doc, v, name) for v in schema]
    return schema


@pytest.mark.parametrize("path", sorted(REQUESTS))
def test_answers_are_exactly_what_the_document_says(client: TestClient, doc: dict[str, Any], path: str) -> None:
    response = client.get(REQUESTS[path])
    assert response.status_code == 200, response.text[:300]
    schema = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    data = response.json()
    assert data, path
    jsonschema_rs.validate(_closed(doc, copy.deepcopy(schema)), data)


def test_a_field_the_document_lacks_is_caught(client: TestClient, doc: dict[str, Any]) -> None:
    schema = doc["paths"]["/api/v1/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    with pytest.raises(jsonschema_rs.ValidationError):
        jsonschema_rs.validate(_closed(doc, schema), {**client.get("/api/v1/me").json(), "secret": 1})


def test_the_docs_page_is_readable_offline(client: TestClient, doc: dict[str, Any]) -> None:
    response = client.get("/api/v1/docs")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "<script" not in page.lower()
    assert re.findall(r'(?:src|href)="(https?:)?//', page) == []          # nothing from elsewhere
    for path in doc["paths"]:
        assert f"GET {path}</code>" in page, path
    # Nested fields of an answer, with what the document says of them.
    assert "like_for_like" in page and "the same days of the month" in page
    assert "billable_usd" in page and 'href="/api/v1/openapi.json"' in page


def test_docs_are_served_without_a_cdn_even_when_signed_out(tmp_path: Path) -> None:
    with seeded(tmp_path) as db:
        app = create_app(str(db), settings.load({"db": str(db)}), token="secret")
        guarded = TestClient(app)
        assert guarded.get("/api/v1/overview").status_code == 401
        assert guarded.get("/api/v1/docs").status_code == 200
