"""OTLP intake: resource and record attributes with a dimension's name fill that dimension, not a tag.

The README tells Claude Code users to set ``OTEL_RESOURCE_ATTRIBUTES=client=acme,project=website``;
``report --by project`` must then show ``website``, not ``(none)``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from click.testing import CliRunner

from spendtag.cli.main import cli
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.server.intake.app import IntakeApp, create_app
from spendtag.usage import UsageEvent

FIXTURES = Path(__file__).parent / "fixtures" / "otlp"
README = Path(__file__).resolve().parents[1] / "README.md"


def readme_resource_attributes() -> list[dict[str, Any]]:
    """The README's ``OTEL_RESOURCE_ATTRIBUTES`` line, parsed as the OpenTelemetry SDKs do (k=v,k=v; %-decoded)."""
    found = re.search(r"^export OTEL_RESOURCE_ATTRIBUTES=(\S+)", README.read_text(encoding="utf-8"), re.M)
    assert found, "the README's OpenTelemetry section sets OTEL_RESOURCE_ATTRIBUTES"
    assert found.group(1) == "client=acme,project=website"
    pairs = (part.split("=", 1) for part in found.group(1).split(","))
    return [{"key": unquote(k.strip()), "value": {"stringValue": unquote(v.strip())}} for k, v in pairs]


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


class Intake:
    """The real intake ASGI app, driven in-process."""

    def __init__(self, db: str) -> None:
        self.db = db
        self.app: IntakeApp = create_app(db, metrics_grace=180.0)

    def post(self, path: str, payload: Any) -> int:
        scope = {"type": "http", "method": "POST", "path": path,
                 "headers": [(b"content-type", b"application/json")]}
        sent: list[dict[str, Any]] = []
        body = json.dumps(payload).encode()

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        asyncio.run(self.app(scope, receive, send))
        status: int = sent[0]["status"]
        return status

    def events(self) -> list[UsageEvent]:
        store = open_store(self.db)
        try:
            return sorted((p.event for p in store.events(Filters())), key=lambda e: e.event_id)
        finally:
            store.close()


@pytest.fixture
def intake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Intake]:
    db = str(tmp_path / "otlp.db")
    monkeypatch.setenv("SPENDTAG_DB", db)
    it = Intake(db)
    yield it
    it.app.writer.close()


def _with_resource(payload: dict[str, Any], extra: list[dict[str, Any]], kind: str = "resourceLogs") -> None:
    payload[kind][0]["resource"]["attributes"] += extra


def test_readme_resource_attributes_give_the_project_dimension(intake: Intake) -> None:
    logs = load("claude_code_otel_logs_api_request.json")
    _with_resource(logs, readme_resource_attributes())
    assert intake.post("/v1/logs", logs) == 200
    events = intake.events()
    assert [(e.project, e.agent, e.tags) for e in events] == [
        ("website", "claude-code", {"department": "engineering", "cost_center": "eng-123", "client": "acme"})] * 2
    assert {e.session for e in events} == {"3b2f6c1e-9a4d-4e7b-8c21-5f0a9d3e7b64"}
    result = CliRunner().invoke(cli, ["report", "--by", "project", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["rows"]
    assert [(r["project"], r["requests"]) for r in rows] == [("website", 2)]


def test_semantic_convention_spellings_and_who_wins(intake: Intake) -> None:
    logs = load("claude_code_otel_logs_api_request.json")
    _with_resource(logs, [{"key": "agent", "value": {"stringValue": "reviewer"}},
                          {"key": "session.id", "value": {"stringValue": "resource-session"}},
                          {"key": "user.id", "value": {"stringValue": "resource-user"}},
                          {"key": "env", "value": {"stringValue": "prod"}}])
    assert intake.post("/v1/logs", logs) == 200
    e = intake.events()[0]
    # The resource's agent beats the agent Claude Code implies; the record's own session and user beat the resource's.
    assert (e.agent, e.session, e.user) == ("reviewer", "3b2f6c1e-9a4d-4e7b-8c21-5f0a9d3e7b64", "dev@example.com")
    assert e.tags == {"department": "engineering", "cost_center": "eng-123", "env": "prod"}


def _span(attrs: dict[str, Any], resource: dict[str, str]) -> dict[str, Any]:
    def otlp(items: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"key": k, "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}}
                for k, v in items.items()]

    usage = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
             "gen_ai.response.model": "claude-sonnet-4-5-20250929", "gen_ai.usage.input_tokens": 1000,
             "gen_ai.usage.output_tokens": 100}
    return {"resourceSpans": [{"resource": {"attributes": otlp(resource)}, "scopeSpans": [{"spans": [{
        "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "chat",
        "startTimeUnixNano": "1767600000000000000", "endTimeUnixNano": "1767600002500000000",
        "attributes": otlp({**usage, **attrs})}]}]}]}


def test_span_attributes_beat_the_resource_and_fill_each_dimension(intake: Intake) -> None:
    resource = {"service.name": "my-agent", "client": "acme", "project": "website", "session": "s-res",
                "gen_ai.agent.name": "planner", "enduser.id": "u-res"}
    assert intake.post("/v1/traces", _span({"gen_ai.conversation.id": "conv-1", "user.id": "u-span"},
                                           resource)) == 200
    [e] = intake.events()
    assert (e.project, e.session, e.agent, e.user, e.tags) == ("website", "conv-1", "planner", "u-span",
                                                               {"client": "acme"})


def test_metrics_carry_the_resource_dimensions(intake: Intake) -> None:
    metrics = load("claude_code_otel_metrics_delta.json")
    _with_resource(metrics, readme_resource_attributes(), "resourceMetrics")
    assert intake.post("/v1/metrics", metrics) == 200
    w = intake.app.writer
    w.call(lambda: w.flush_metrics(time.monotonic() + 10_000.0))
    events = intake.events()
    assert len(events) == 2
    assert {(e.project, e.agent, e.tags.get("client"), "project" in e.tags) for e in events} == {
        ("website", "claude-code", "acme", False)}
