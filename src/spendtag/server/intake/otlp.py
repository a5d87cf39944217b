"""OTLP/HTTP payloads (JSON or protobuf) into usage events.

Three sources are read:

* **GenAI semantic-convention spans** (``/v1/traces``): a span of a model operation
  (``gen_ai.operation.name`` chat, generate_content, text_completion, embeddings, or none)
  with ``gen_ai.usage.*`` attributes. Per the convention ``gen_ai.usage.input_tokens``
  *includes* cache reads and writes, so they are subtracted to get the uncached bucket (a
  total below its cache parts means the emitter used Anthropic's exclusive convention, and
  is taken as already uncached). Agent, tool and workflow spans are not counted: their
  usage, when present, repeats their model spans'. Event id: ``otlp:span:<trace>:<span>``.
* **Claude Code's ``claude_code.api_request`` log events** (``/v1/logs``): input EXCLUDES
  cache, as in Anthropic's API. Event id: ``otlp:claude-code:<request_id>``. And **Gemini
  CLI's ``gemini_cli.api_response``** events: input includes cached tokens, thoughts are
  outside output. Event id from session, prompt id and time.
* **Claude Code's ``claude_code.token.usage`` DELTA metrics** (``/v1/metrics``): they
  describe the same calls as the api_request events, so the events are the source of
  truth. See :class:`MetricCall` for the rule. ``claude_code.cost.usage`` is never
  recorded (it is Claude Code's own estimate; spendtag prices tokens itself), and neither
  are Gemini CLI's metrics (its api_response events carry the same counts).

Resource attributes become tags (``OTEL_RESOURCE_ATTRIBUTES=client=acme``), except the
standard OpenTelemetry namespaces (``service.*``, ``host.*``, ``os.*``...) and the keys of an
event's own dimensions (:data:`DIMENSION_KEYS`: ``project``, ``session``/``session.id``,
``agent``/``gen_ai.agent.name``, ``user``/``user.id``...), which fill those dimensions, so
``OTEL_RESOURCE_ATTRIBUTES=client=acme,project=website`` is tag ``client=acme`` and project
``website``. A span's or log record's own attribute for a dimension wins over the resource's,
and the resource's over what a source implies (Claude Code's agent ``claude-code``). Re-sent
payloads give the same event ids, so recording them again changes nothing.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from spendtag.bounds import MAX_TIME, MIN_TIME, check_time
from spendtag.capture._fields import DECODE_FAILURES, to_count
from spendtag.capture.parsed import normalise_provider
from spendtag.errors import SpendtagError, TagError, UsageFormatError
from spendtag.tags import MAX_TAGS, check_key, check_value
from spendtag.usage import Status, Usage, UsageEvent

JSON = Mapping[str, Any]

_STANDARD_RESOURCE = ("service.", "telemetry.", "os.", "host.", "process.", "container.", "k8s.", "cloud.",
                      "device.", "faas.", "webengine.", "browser.", "otel.")
_MODEL_OPERATIONS = frozenset({"chat", "generate_content", "text_completion", "embeddings", "completion", ""})
_INPUT = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.usage.prompt_tokens")
_OUTPUT = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.usage.completion_tokens")
_CACHE_READ = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
               "gen_ai.usage.cached_tokens", "gen_ai.usage.input_cached_tokens", "llm.usage.cache_read_input_tokens")
_CACHE_WRITE = ("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens",
                "llm.usage.cache_creation_input_tokens")
_REASONING = ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens")
METRIC_ID = "otlp:claude-code:metric:"   # event ids of calls read from Claude Code's metrics
_CC_TOKEN_TYPES = {"input": "input_tokens", "output": "output_tokens", "cacheRead": "cache_read_tokens",
                   "cacheCreation": "cache_write_5m_tokens"}


class OTLPError(SpendtagError, ValueError):
    """A payload that is not OTLP."""


@dataclass
class Rejected:
    """Spans, log records or data points of a payload that could not be read: counted, each
    skipped alone (the rest of the payload is recorded), the first few with what was wrong."""

    count: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, where: str, exc: BaseException, n: int = 1) -> None:
        self.count += n
        if len(self.problems) < 20:
            self.problems.append(f"{where}: {str(exc)[:200] or type(exc).__name__}")

    @property
    def message(self) -> str:
        return "; ".join(self.problems)


def _list(value: Any) -> list[Any]:
    """A repeated OTLP field: a list, or nothing when it is missing or of another type."""
    return value if isinstance(value, list) else []


def _obj(value: Any) -> JSON:
    return value if isinstance(value, Mapping) else {}


# -- decoding ------------------------------------------------------------------------------------

def decode(signal: str, body: bytes, content_type: str) -> JSON:
    """The request body as OTLP/JSON-shaped dicts (protobuf is converted; ids become hex)."""
    if "protobuf" in content_type:
        return _from_protobuf(signal, body)
    try:
        try:
            data = json.loads(body)
        except UnicodeDecodeError:   # bytes that are not UTF-8 are replaced (U+FFFD), as in every reader
            data = json.loads(body.decode("utf-8", errors="replace"))
    except ValueError as exc:
        raise OTLPError(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise OTLPError("body is not OTLP/JSON: nested too deep") from None
    if not isinstance(data, Mapping):
        raise OTLPError("an OTLP/JSON body must be an object")
    return data


_REQUESTS = {
    "traces": ("opentelemetry.proto.collector.trace.v1.trace_service_pb2", "ExportTraceServiceRequest"),
    "logs": ("opentelemetry.proto.collector.logs.v1.logs_service_pb2", "ExportLogsServiceRequest"),
    "metrics": ("opentelemetry.proto.collector.metrics.v1.metrics_service_pb2", "ExportMetricsServiceRequest"),
}


def _from_protobuf(signal: str, body: bytes) -> JSON:
    module, name = _REQUESTS[signal]
    try:
        json_format: Any = importlib.import_module("google.protobuf.json_format")
        decode_error: type[Exception] = importlib.import_module("google.protobuf.message").DecodeError
        message: Any = getattr(importlib.import_module(module), name)()
    except ImportError:
        raise OTLPError("OTLP protobuf needs opentelemetry-proto: pip install 'spendtag[otel]'") from None
    try:
        message.ParseFromString(body)
        data: dict[str, Any] = json_format.MessageToDict(message)
    except (decode_error, *DECODE_FAILURES) as exc:
        raise OTLPError(f"body is not an OTLP protobuf {signal} request: {exc}") from None
    if signal == "traces":
        # proto3 JSON writes bytes as base64; OTLP/JSON writes trace and span ids as hex.
        for rs in data.get("resourceSpans", ()):
            for ss in rs.get("scopeSpans", ()):
                for span in ss.get("spans", ()):
                    for key in ("traceId", "spanId"):
                        if key in span:
                            span[key] = base64.b64decode(span[key]).hex()
    return data


_RESPONSES = {
    "traces": ("opentelemetry.proto.collector.trace.v1.trace_service_pb2", "ExportTraceServiceResponse",
               "rejected_spans"),
    "logs": ("opentelemetry.proto.collector.logs.v1.logs_service_pb2", "ExportLogsServiceResponse",
             "rejected_log_records"),
    "metrics": ("opentelemetry.proto.collector.metrics.v1.metrics_service_pb2", "ExportMetricsServiceResponse",
                "rejected_data_points"),
}


def response_json(signal: str, rejected: Rejected) -> dict[str, Any]:
    """The Export*ServiceResponse: empty when all was read, else OTLP's partial success."""
    if not rejected.count:
        return {}
    name = "".join(w if i == 0 else w.title() for i, w in enumerate(_RESPONSES[signal][2].split("_")))
    return {"partialSuccess": {name: rejected.count, "errorMessage": rejected.message}}


def response_protobuf(signal: str, rejected: Rejected) -> bytes:
    if not rejected.count:
        return b""
    module, name, field_name = _RESPONSES[signal]
    message: Any = getattr(importlib.import_module(module), name)()
    setattr(message.partial_success, field_name, rejected.count)
    message.partial_success.error_message = rejected.message
    data: bytes = message.SerializeToString()
    return data


# -- values ----------------------------------------------------------------------------------------

def value(v: Any) -> Any:
    """An OTLP AnyValue as a Python value (int64s arrive as strings in JSON)."""
    if not isinstance(v, Mapping):
        return v
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        try:
            return int(v["intValue"])
        except (TypeError, ValueError):
            return None
    if "arrayValue" in v:
        return [value(x) for x in v["arrayValue"].get("values", ())]
    if "kvlistValue" in v:
        return attributes(v["kvlistValue"].get("values", ()))
    return None


def attributes(items: Any) -> dict[str, Any]:
    if isinstance(items, Mapping):     # a hand-written {"key": value} map
        return dict(items)
    out: dict[str, Any] = {}
    for kv in items or ():
        if isinstance(kv, Mapping) and "key" in kv:
            out[str(kv["key"])] = value(kv.get("value"))
    return out


def _int(attrs: Mapping[str, Any], *names: str) -> int | None:
    """The first of ``names`` present, as a count (int64 arrives as a string). A value that is
    not a whole count within bounds (negative, NaN, 1e30, text) makes the record unreadable."""
    for name in names:
        v = attrs.get(name)
        if v is None or isinstance(v, bool):
            continue
        if isinstance(v, str) and "." in v:
            with contextlib.suppress(ValueError):
                v = float(v)   # "12.0": a whole count written as a float
        return to_count(v, name)
    return None


def _str(attrs: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        v = attrs.get(name)
        if v is not None and v != "":
            return str(v)
    return None


def _ts(nanos: Any) -> datetime | None:
    """A ``*TimeUnixNano``: None when absent or 0 (OTLP's "unknown"); a time outside 2000-2100
    or one that is not a number makes the record unreadable."""
    if nanos is None or nanos == 0 or nanos == "0" or nanos == "":
        return None
    try:
        n = int(nanos)
        ts = datetime.fromtimestamp(n / 1e9, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise UsageFormatError(f"time {str(nanos)[:40]!r} is not Unix nanoseconds within 2000-2100") from None
    return check_time(ts, "time")


def _iso(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return parsed if MIN_TIME <= parsed < MAX_TIME else None
    except (ValueError, OverflowError):
        return None


# Attribute keys that name an event's dimensions, in the order they are looked for: the plain
# name (as OTEL_RESOURCE_ATTRIBUTES=project=website writes it), then the OpenTelemetry
# semantic-convention spellings (session.id, gen_ai.conversation.id, gen_ai.agent.name, user.id,
# enduser.id). There is no convention for a project.
DIMENSION_KEYS: dict[str, tuple[str, ...]] = {
    "project": ("project",),
    "session": ("session", "session.id", "gen_ai.conversation.id"),
    "agent": ("agent", "gen_ai.agent.name", "gen_ai.agent.id"),
    "user": ("user", "user.id", "enduser.id", "user.email"),
}
_DIMENSION_ATTRS = frozenset(k for keys in DIMENSION_KEYS.values() for k in keys)


@dataclass(frozen=True, slots=True)
class Resource:
    """What a resource's attributes say about every event under it: its tags and dimensions."""

    tags: Mapping[str, str]
    dims: Mapping[str, str]
    identity: tuple[tuple[str, str], ...] = ()     # every attribute kept (tags and dimensions), sorted

    def dim(self, name: str, own: str | None, default: str | None = None) -> str | None:
        """A dimension: the record's ``own`` value, else the resource's, else ``default``."""
        return own or self.dims.get(name) or default


def resource(res: Any) -> Resource:
    """Resource attributes: dimensions (:data:`DIMENSION_KEYS`) and tags (the rest outside the
    standard namespaces); a value that is not a valid tag value is skipped."""
    attrs = attributes((res or {}).get("attributes", ())) if isinstance(res, Mapping) else {}
    kept: dict[str, str] = {}
    for key, v in attrs.items():
        if key.startswith(_STANDARD_RESOURCE) or isinstance(v, list | dict) or v is None:
            continue
        text = str(v).lower() if isinstance(v, bool) else str(v)
        try:
            kept[check_key(key)] = check_value(key, text)
        except TagError:
            continue
    dims: dict[str, str] = {}
    for name, keys in DIMENSION_KEYS.items():
        found = next((kept[k] for k in keys if kept.get(k, "").strip()), None)
        if found is not None:
            dims[name] = found
    tags: dict[str, str] = {}
    for key, text in kept.items():
        if key not in _DIMENSION_ATTRS and len(tags) < MAX_TAGS:
            tags[key] = text
    return Resource(tags, dims, tuple(sorted(kept.items())))


def _stable(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


# -- traces ----------------------------------------------------------------------------------------

def events_from_traces(data: JSON, rejected: Rejected | None = None) -> Iterator[UsageEvent]:
    """The events of a traces payload; a span that cannot be read is skipped and counted in ``rejected``."""
    return _events(data, ("resourceSpans", "scopeSpans", "spans"), span_event, rejected)


def _events(data: JSON, names: tuple[str, str, str], read: Callable[[JSON, Resource], UsageEvent | None],
            rejected: Rejected | None) -> Iterator[UsageEvent]:
    """``read`` of every record under ``names`` (resource list, scope list, record list) with its resource;
    a resource or record that cannot be read is skipped and counted (a resource with its records)."""
    rejected = rejected if rejected is not None else Rejected()
    top, scopes, records = names
    for i, rr in enumerate(_list(data.get(top))):
        rr = _obj(rr)
        try:
            res = resource(rr.get("resource"))
        except DECODE_FAILURES as exc:
            rejected.add(f"{top}[{i}].resource", exc,
                         sum(len(_list(_obj(sc).get(records))) for sc in _list(rr.get(scopes))))
            continue
        for j, sc in enumerate(_list(rr.get(scopes))):
            for k, record in enumerate(_list(_obj(sc).get(records))):
                try:
                    event = read(_obj(record), res)
                except DECODE_FAILURES as exc:
                    rejected.add(f"{top}[{i}].{scopes}[{j}].{records}[{k}]", exc)
                    continue
                if event is not None:
                    yield event


def span_event(span: JSON, res: Resource) -> UsageEvent | None:
    attrs = attributes(span.get("attributes", ()))
    operation = _str(attrs, "gen_ai.operation.name") or ""
    total_in, output = _int(attrs, *_INPUT), _int(attrs, *_OUTPUT)
    if (total_in is None and output is None) or operation not in _MODEL_OPERATIONS:
        return None
    total_in, output = total_in or 0, output or 0
    cache_read, cache_write = _int(attrs, *_CACHE_READ) or 0, _int(attrs, *_CACHE_WRITE) or 0
    uncached = total_in - cache_read - cache_write
    if uncached < 0:
        uncached = total_in          # exclusive convention: the total was already uncached
    tier = _str(attrs, "gen_ai.openai.response.service_tier", "openai.response.service_tier")
    usage = Usage(input_tokens=uncached, cache_read_tokens=cache_read, cache_write_5m_tokens=cache_write,
                  output_tokens=output, reasoning_tokens=min(_int(attrs, *_REASONING) or 0, output),
                  service_tier=tier).checked()
    code = (span.get("status") or {}).get("code")
    status: Status = "error" if code in (2, "2", "STATUS_CODE_ERROR") else "ok"
    trace, span_id = span.get("traceId") or "", span.get("spanId") or ""
    event_id = f"otlp:span:{trace}:{span_id}" if trace and span_id else "otlp:span:" + _stable(span)
    return UsageEvent(
        event_id=event_id,
        ts=_ts(span.get("endTimeUnixNano")) or _ts(span.get("startTimeUnixNano")) or datetime.now(UTC),
        provider=normalise_provider(_str(attrs, "gen_ai.provider.name", "gen_ai.system") or "unknown"),
        model=_str(attrs, "gen_ai.response.model", "gen_ai.request.model") or "unknown",
        usage=usage, tags=dict(res.tags),
        project=res.dim("project", _str(attrs, "project")),
        session=res.dim("session", _str(attrs, "gen_ai.conversation.id", "session.id", "session")),
        agent=res.dim("agent", _str(attrs, "gen_ai.agent.name", "gen_ai.agent.id", "agent")),
        user=res.dim("user", _str(attrs, "user.id", "enduser.id", "user")),
        source="otlp", status=status, response_id=_str(attrs, "gen_ai.response.id"),
    )


# -- logs ------------------------------------------------------------------------------------------

def events_from_logs(data: JSON, rejected: Rejected | None = None) -> Iterator[UsageEvent]:
    """The events of a logs payload; a record that cannot be read is skipped and counted in ``rejected``."""
    return _events(data, ("resourceLogs", "scopeLogs", "logRecords"), log_event, rejected)


def log_event(record: JSON, res: Resource) -> UsageEvent | None:
    attrs = attributes(record.get("attributes", ()))
    name = _str(attrs, "event.name") or ""
    body = value(record.get("body"))
    if name in ("api_request", "claude_code.api_request") or body == "claude_code.api_request":
        return _claude_code(record, attrs, res)
    if name == "gemini_cli.api_response":
        return _gemini_cli(record, attrs, res)
    return None


def _claude_code(record: JSON, attrs: Mapping[str, Any], res: Resource) -> UsageEvent:
    output = _int(attrs, "output_tokens") or 0
    usage = Usage(input_tokens=_int(attrs, "input_tokens") or 0,
                  cache_read_tokens=_int(attrs, "cache_read_tokens") or 0,
                  cache_write_5m_tokens=_int(attrs, "cache_creation_tokens") or 0, output_tokens=output,
                  speed="fast" if attrs.get("speed") == "fast" else None).checked()
    session = res.dim("session", _str(attrs, "session.id"))
    request_id = _str(attrs, "request_id")
    if request_id:
        event_id = f"otlp:claude-code:{request_id}"
    else:
        event_id = "otlp:claude-code:" + _stable(session, attrs.get("event.sequence"), record.get("timeUnixNano"),
                                                 attrs.get("model"))
    return UsageEvent(
        event_id=event_id,
        ts=_iso(_str(attrs, "event.timestamp")) or _ts(record.get("timeUnixNano")) or datetime.now(UTC),
        provider="anthropic", model=_str(attrs, "model") or "unknown", usage=usage, tags=dict(res.tags),
        project=res.dim("project", _str(attrs, "project")), session=session,
        agent=res.dim("agent", _str(attrs, "agent"), "claude-code"),
        user=res.dim("user", _str(attrs, "user.email", "user.account_uuid", "user.id")),
        source="otlp", status="ok", response_id=request_id,
    )


def _gemini_cli(record: JSON, attrs: Mapping[str, Any], res: Resource) -> UsageEvent:
    total_in = _int(attrs, "input_token_count") or 0
    cached = min(_int(attrs, "cached_content_token_count") or 0, total_in)
    thoughts = _int(attrs, "thoughts_token_count") or 0
    output = (_int(attrs, "output_token_count") or 0) + thoughts      # thoughts are outside the candidates
    usage = Usage(input_tokens=total_in - cached + (_int(attrs, "tool_token_count") or 0), cache_read_tokens=cached,
                  output_tokens=output, reasoning_tokens=thoughts).checked()
    session = res.dim("session", _str(attrs, "session.id"))
    code = _int(attrs, "status_code")
    return UsageEvent(
        event_id="otlp:gemini-cli:" + _stable(session, attrs.get("prompt_id"), record.get("timeUnixNano"),
                                              attrs.get("event.timestamp"), attrs.get("model")),
        ts=_iso(_str(attrs, "event.timestamp")) or _ts(record.get("timeUnixNano")) or datetime.now(UTC),
        provider="google", model=_str(attrs, "model") or "unknown", usage=usage, tags=dict(res.tags),
        project=res.dim("project", _str(attrs, "project")), session=session,
        agent=res.dim("agent", _str(attrs, "agent"), "gemini-cli"),
        user=res.dim("user", _str(attrs, "user.email")), source="otlp",
        status="error" if code is not None and code >= 400 else "ok",
    )


# -- metrics ---------------------------------------------------------------------------------------

@dataclass
class MetricCall:
    """Claude Code token counts for one session, model and export interval, from DELTA metrics.

    The rule against double counting: Claude Code's ``api_request`` events are the source
    of truth. A metric interval is held back for a grace period (longer than Claude Code's
    metrics export interval, 60 s by default), then recorded only if its session has no
    event at all by then (not from OTLP logs, nor from any other path such as an imported
    transcript). A session that exports events therefore never has its metrics recorded;
    a session that exports only metrics is recorded from them. Data points without a
    session id (``OTEL_METRICS_INCLUDE_SESSION_ID=false``) are recorded only if this
    server has never received a Claude Code api_request event. CUMULATIVE metrics are
    ignored (summing them would count every call again at every export).
    """

    event: UsageEvent
    received: float = 0.0


def claude_code_metric_calls(data: JSON, rejected: Rejected | None = None) -> list[MetricCall]:
    """Claude Code's token metrics as calls; a data point that cannot be read is skipped and counted."""
    rejected = rejected if rejected is not None else Rejected()
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for i, rm in enumerate(_list(data.get("resourceMetrics"))):
        rm = _obj(rm)
        try:
            res = resource(rm.get("resource"))
        except DECODE_FAILURES as exc:
            rejected.add(f"resourceMetrics[{i}].resource", exc)
            continue
        for j, sm in enumerate(_list(rm.get("scopeMetrics"))):
            for k, metric in enumerate(_list(_obj(sm).get("metrics"))):
                metric = _obj(metric)
                if metric.get("name") != "claude_code.token.usage":
                    continue
                total = _obj(metric.get("sum"))
                if total.get("aggregationTemporality") not in (1, "1", "AGGREGATION_TEMPORALITY_DELTA"):
                    continue
                for n, point in enumerate(_list(total.get("dataPoints"))):
                    try:
                        _add_point(groups, _obj(point), res)
                    except DECODE_FAILURES as exc:
                        rejected.add(f"resourceMetrics[{i}].scopeMetrics[{j}].metrics[{k}].dataPoints[{n}]", exc)
    calls = []
    for key, g in groups.items():
        try:
            calls.append(MetricCall(_metric_event(key, g)))
        except DECODE_FAILURES as exc:   # counts summed past the bounds, a time outside them
            rejected.add(f"claude_code.token.usage of session {str(key[0])[:40]}", exc)
    return calls


def _add_point(groups: dict[tuple[Any, ...], dict[str, Any]], point: JSON, res: Resource) -> None:
    attrs = attributes(point.get("attributes", ()))
    bucket = _CC_TOKEN_TYPES.get(str(attrs.get("type")))
    if bucket is None:
        return
    raw = point.get("asDouble", point.get("asInt", 0))
    try:
        # Token counts (int64 arrives as a JSON string): read exactly, not through a float.
        number = Decimal(str(raw)[:40])
        amount = to_count(int(number), "claude_code.token.usage") if number == number.to_integral_value() else -1
    except (ArithmeticError, TypeError, ValueError):
        raise UsageFormatError(f"data point value {str(raw)[:40]!r} is not a count of tokens") from None
    if amount < 0:
        raise UsageFormatError(f"data point value {str(raw)[:40]!r} is not a whole count of tokens")
    _ts(point.get("timeUnixNano"))   # a time outside 2000-2100 makes the point unreadable
    key = (attrs.get("session.id"), attrs.get("model"), attrs.get("query_source"), attrs.get("effort"),
           attrs.get("speed"), point.get("startTimeUnixNano"), point.get("timeUnixNano"),
           res.identity)
    group = groups.setdefault(key, {"attrs": attrs, "tags": dict(res.tags), "res": res, "usage": {}})
    group["usage"][bucket] = group["usage"].get(bucket, 0) + amount


def _metric_event(key: tuple[Any, ...], group: Mapping[str, Any]) -> UsageEvent:
    attrs, res = group["attrs"], group["res"]
    return UsageEvent(
        event_id=METRIC_ID + _stable(*key[:7], key[7]),
        ts=_ts(key[6]) or datetime.now(UTC), provider="anthropic", model=_str(attrs, "model") or "unknown",
        usage=Usage(**group["usage"], speed="fast" if attrs.get("speed") == "fast" else None).checked(),
        tags=group["tags"], project=res.dim("project", None), session=res.dim("session", _str(attrs, "session.id")),
        agent=res.dim("agent", None, "claude-code"),
        user=res.dim("user", _str(attrs, "user.email", "user.account_uuid", "user.id")), source="otlp", status="ok",
    )
