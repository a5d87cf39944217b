"""OTLP/HTTP intake: the fixture payloads as JSON and protobuf, idempotency, metrics vs events, tags, auth."""

from __future__ import annotations

import asyncio
import base64
import copy
import gzip
import json
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from conftest import fixture_path
from google.protobuf import json_format  # type: ignore[import-untyped]
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.server.intake.app import IntakeApp, create_app
from spendtag.usage import UsageEvent

TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"


class Intake:
    def __init__(self, db: str, token: str | None = None, grace: float = 180.0) -> None:
        self.db = db
        self.app: IntakeApp = create_app(db, token=token, metrics_grace=grace)

    def post(self, path: str, body: bytes, content_type: str = "application/json",
             headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        scope = {"type": "http", "method": "POST", "path": path,
                 "headers": [(b"content-type", content_type.encode()),
                             *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())]}
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        asyncio.run(self.app(scope, receive, send))
        return sent[0]["status"], sent[1]["body"]

    def json(self, path: str, payload: Any, **kw: Any) -> int:
        return self.post(path, json.dumps(payload).encode(), **kw)[0]

    def events(self) -> list[UsageEvent]:
        store = open_store(self.db)
        try:
            return sorted((p.event for p in store.events(Filters())), key=lambda e: e.event_id)
        finally:
            store.close()

    def flush_metrics(self, later: float = 10_000.0) -> None:
        import time

        w = self.app.writer
        w.call(lambda: w.flush_metrics(time.monotonic() + later))


@pytest.fixture
def intake(tmp_path: Path) -> Iterator[Intake]:
    it = Intake(str(tmp_path / "otlp.db"))
    yield it
    it.app.writer.close()


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture_path("agents", name).read_text())
    return data


def span_payload(**extra_attrs: Any) -> dict[str, Any]:
    """The GenAI span fixture inside an OTLP/JSON export request."""
    span = _load("otel_genai_span_from_anthropic.json")
    attrs = {**span["attributes"], **extra_attrs}
    otlp_attrs = []
    for k, v in attrs.items():
        if isinstance(v, list):
            value: dict[str, Any] = {"arrayValue": {"values": [{"stringValue": x} for x in v]}}
        elif isinstance(v, int):
            value = {"intValue": str(v)}
        else:
            value = {"stringValue": v}
        otlp_attrs.append({"key": k, "value": value})
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my-agent"}},
                                    {"key": "client", "value": {"stringValue": "acme"}}]},
        "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.anthropic"}, "spans": [{
            "traceId": TRACE_ID, "spanId": SPAN_ID, "name": span["name"], "kind": 3,
            "startTimeUnixNano": "1767600000000000000", "endTimeUnixNano": "1767600002500000000",
            "attributes": otlp_attrs, "status": {}}]}]}]}


def to_protobuf(kind: str, payload: dict[str, Any]) -> bytes:
    """OTLP/JSON -> protobuf. OTLP/JSON writes trace and span ids as hex, proto3 JSON as base64: convert first."""
    payload = copy.deepcopy(payload)
    for rs in payload.get("resourceSpans", ()):
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId"):
                    span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    classes: dict[str, Any] = {"traces": ExportTraceServiceRequest, "logs": ExportLogsServiceRequest,
                               "metrics": ExportMetricsServiceRequest}
    message = classes[kind]()
    return bytes(json_format.ParseDict(payload, message).SerializeToString())


PB = "application/x-protobuf"


# -- Claude Code logs --------------------------------------------------------------------------------

def _check_claude_code(events: list[UsageEvent]) -> None:
    haiku, sonnet = events     # sorted by id: req_011CWq3p... < req_011CWq3q...? (p < q: sonnet first)
    if haiku.model.startswith("claude-sonnet"):
        haiku, sonnet = sonnet, haiku
    assert sonnet.event_id == "otlp:claude-code:req_011CWq3pN8xYzA1bC2dE3fG4"
    assert (sonnet.provider, sonnet.model, sonnet.source, sonnet.agent) == (
        "anthropic", "claude-sonnet-4-5-20250929", "otlp", "claude-code")
    u = sonnet.usage
    assert (u.input_tokens, u.cache_read_tokens, u.cache_write_5m_tokens, u.output_tokens) == (6, 171204, 1390, 1873)
    assert sonnet.session == "3b2f6c1e-9a4d-4e7b-8c21-5f0a9d3e7b64" and sonnet.user == "dev@example.com"
    assert sonnet.tags == {"department": "engineering", "cost_center": "eng-123"}
    assert sonnet.ts.isoformat() == "2026-01-05T10:15:00+00:00" and sonnet.response_id == "req_011CWq3pN8xYzA1bC2dE3fG4"
    assert (haiku.usage.input_tokens, haiku.usage.output_tokens, haiku.usage.cache_read_tokens) == (812, 23, 0)


def test_claude_code_logs_json_then_again_then_protobuf(intake: Intake) -> None:
    payload = _load("claude_code_otel_logs_api_request.json")
    assert intake.json("/v1/logs", payload) == 200
    first = intake.events()
    _check_claude_code(first)
    assert intake.json("/v1/logs", payload) == 200
    status, body = intake.post("/v1/logs", to_protobuf("logs", payload), PB)
    assert (status, body) == (200, b"")
    assert intake.events() == first


def test_claude_code_logs_protobuf_alone(intake: Intake) -> None:
    assert intake.post("/v1/logs", to_protobuf("logs", _load("claude_code_otel_logs_api_request.json")), PB)[0] == 200
    _check_claude_code(intake.events())


def test_gemini_cli_api_response(intake: Intake) -> None:
    payload = _load("gemini_cli_otel_logs_api_response.json")
    assert intake.json("/v1/logs", payload) == 200
    assert intake.post("/v1/logs", to_protobuf("logs", payload), PB)[0] == 200
    [e] = intake.events()
    u = e.usage
    # input 18211 includes 16384 cached; thoughts 911 are outside output 402
    assert (u.input_tokens, u.cache_read_tokens, u.output_tokens, u.reasoning_tokens) == (1827, 16384, 1313, 911)
    assert (e.provider, e.model, e.agent, e.session) == ("google", "gemini-2.5-pro", "gemini-cli",
                                                         "c0ffee00-1234-4abc-9def-0123456789ab")
    assert u.total_tokens == 19524 - 0    # the fixture's total_token_count


# -- GenAI spans -----------------------------------------------------------------------------------

def test_genai_span_subtracts_cache_from_input(intake: Intake) -> None:
    assert intake.json("/v1/traces", span_payload(**{"gen_ai.conversation.id": "conv-1",
                                                      "gen_ai.agent.name": "researcher"})) == 200
    [e] = intake.events()
    u = e.usage
    assert (u.input_tokens, u.cache_read_tokens, u.cache_write_5m_tokens, u.output_tokens) == (1422, 20480, 5120, 611)
    assert e.event_id == f"otlp:span:{TRACE_ID}:{SPAN_ID}"
    assert (e.provider, e.model, e.response_id) == ("anthropic", "claude-sonnet-4-5-20250929",
                                                    "msg_01Hq4Zt7Rk2Pw9Vx3Ny6Lb8M")
    assert (e.session, e.agent, e.tags) == ("conv-1", "researcher", {"client": "acme"})
    assert e.ts.isoformat() == "2026-01-05T08:00:02.500000+00:00"


def test_genai_span_protobuf_gives_the_same_event(intake: Intake, tmp_path: Path) -> None:
    assert intake.json("/v1/traces", span_payload()) == 200
    other = Intake(str(tmp_path / "pb.db"))
    assert other.post("/v1/traces", to_protobuf("traces", span_payload()), PB)[0] == 200
    assert other.events() == intake.events()
    assert intake.post("/v1/traces", to_protobuf("traces", span_payload()), PB)[0] == 200
    assert len(intake.events()) == 1
    other.app.writer.close()


def test_genai_span_aliases_and_skipped_spans(intake: Intake) -> None:
    payload = span_payload()
    attrs = payload["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
    attrs[:] = [a for a in attrs if not a["key"].startswith("gen_ai.usage.cache")]
    attrs.append({"key": "gen_ai.usage.cached_tokens", "value": {"intValue": "20480"}})
    agent_span = copy.deepcopy(payload["resourceSpans"][0]["scopeSpans"][0]["spans"][0])
    agent_span["spanId"] = "0000000000000001"
    agent_span["attributes"] = [*agent_span["attributes"],
                                {"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}}]
    agent_span["attributes"] = [a for a in agent_span["attributes"]
                                if a["key"] != "gen_ai.operation.name" or a["value"]["stringValue"] == "invoke_agent"]
    no_usage = {"traceId": TRACE_ID, "spanId": "0000000000000002", "name": "GET /", "attributes": []}
    payload["resourceSpans"][0]["scopeSpans"][0]["spans"] += [agent_span, no_usage]
    assert intake.json("/v1/traces", payload) == 200
    [e] = intake.events()
    assert (e.usage.input_tokens, e.usage.cache_read_tokens) == (27022 - 20480, 20480)


def test_resource_attributes_become_tags_standard_ones_do_not(intake: Intake) -> None:
    payload = span_payload()
    payload["resourceSpans"][0]["resource"]["attributes"] += [
        {"key": "env", "value": {"stringValue": "prod"}}, {"key": "host.name", "value": {"stringValue": "box"}},
        {"key": "bad key", "value": {"stringValue": "x"}}]
    intake.json("/v1/traces", payload)
    assert intake.events()[0].tags == {"client": "acme", "env": "prod"}


# -- Claude Code metrics ---------------------------------------------------------------------------

def test_metrics_and_events_for_the_same_session_are_not_double_counted(intake: Intake) -> None:
    metrics = _load("claude_code_otel_metrics_delta.json")
    assert intake.json("/v1/metrics", metrics) == 200            # metrics first: held back
    assert intake.events() == []
    assert intake.json("/v1/logs", _load("claude_code_otel_logs_api_request.json")) == 200
    intake.flush_metrics()
    assert intake.post("/v1/metrics", to_protobuf("metrics", metrics), PB)[0] == 200   # and after: ignored
    intake.flush_metrics()
    _check_claude_code(intake.events())


def test_metrics_alone_are_recorded_after_the_grace_period(intake: Intake) -> None:
    metrics = _load("claude_code_otel_metrics_delta.json")
    assert intake.json("/v1/metrics", metrics) == 200
    intake.flush_metrics()
    intake.json("/v1/metrics", metrics)       # re-sent: the same ids
    intake.flush_metrics()
    events = intake.events()
    by_model = {e.model: e.usage for e in events}
    assert len(events) == 2
    sonnet, haiku = by_model["claude-sonnet-4-5-20250929"], by_model["claude-haiku-4-5-20251001"]
    assert (sonnet.input_tokens, sonnet.output_tokens, sonnet.cache_read_tokens, sonnet.cache_write_5m_tokens) == (
        6, 1873, 171204, 1390)
    assert (haiku.input_tokens, haiku.output_tokens) == (812, 23)
    assert all(e.tags == {"department": "engineering", "cost_center": "eng-123"} and e.agent == "claude-code"
               for e in events)


def test_cumulative_metrics_are_ignored(intake: Intake) -> None:
    metrics = _load("claude_code_otel_metrics_delta.json")
    for m in metrics["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]:
        m["sum"]["aggregationTemporality"] = 2
    intake.json("/v1/metrics", metrics)
    intake.flush_metrics()
    assert intake.events() == []


# -- the HTTP surface ------------------------------------------------------------------------------

def test_token_gzip_and_errors(tmp_path: Path) -> None:
    it = Intake(str(tmp_path / "auth.db"), token="t0k")
    payload = json.dumps(_load("gemini_cli_otel_logs_api_response.json")).encode()
    assert it.post("/v1/logs", payload)[0] == 401
    assert it.post("/v1/logs", payload, headers={"Authorization": "Bearer nope"})[0] == 401
    assert it.post("/v1/logs", gzip.compress(payload),
                   headers={"Authorization": "Bearer t0k", "Content-Encoding": "gzip"})[0] == 200
    assert len(it.events()) == 1
    auth = {"Authorization": "Bearer t0k"}
    assert it.post("/v1/logs", b"not json", headers=auth)[0] == 400
    assert it.post("/v1/logs", b"\x00\x01garbage", PB, headers=auth)[0] == 400
    assert it.post("/v1/nope", b"{}", headers=auth)[0] == 404
    it.app.writer.close()


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    from spendtag.errors import SpendtagError
    from spendtag.server.intake.app import run

    with pytest.raises(SpendtagError, match="without a token"):
        run(create_app(str(tmp_path / "x.db")), "0.0.0.0", 1)
