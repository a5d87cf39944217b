"""Export of spendtag events as OTel metrics: cost, tokens and calls by model and chosen tag keys."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from spendtag.capture.sdk import FileSink
from spendtag.capture.sdk.otel_export import OTelMetrics, OTelSink
from spendtag.usage import Usage, UsageEvent


def _points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    assert data is not None
    return {m.name: list(m.data.data_points) for rm in data.resource_metrics for sm in rm.scope_metrics
            for m in sm.metrics}


def _event(client: str, n: int = 1) -> UsageEvent:
    return UsageEvent(f"e{client}{n}", datetime(2026, 3, 1, tzinfo=UTC), "openai", "gpt-4o",
                      Usage(input_tokens=1_000_000, output_tokens=100_000), tags={"client": client, "secret": "x"})


def test_counters_by_model_and_chosen_tags() -> None:
    reader = InMemoryMetricReader()
    metrics = OTelMetrics(tag_keys=["client"], meter_provider=MeterProvider(metric_readers=[reader]))
    metrics.record(_event("acme", 1), cost=3_500_000_000_000)      # $3.50 exactly
    metrics.record(_event("acme", 2), cost=3_500_000_000_000)
    metrics.record(_event("globex"))                               # priced here: gpt-4o list price
    points = _points(reader)
    cost = {p.attributes["client"]: p.value for p in points["spendtag.cost"]}
    assert cost["acme"] == 7.0 and cost["globex"] > 0
    assert all("secret" not in p.attributes for p in points["spendtag.cost"])
    tokens = {(p.attributes["client"], p.attributes["type"]): p.value for p in points["spendtag.tokens"]}
    assert tokens[("acme", "input")] == 2_000_000 and tokens[("acme", "output")] == 200_000
    calls = {p.attributes["client"]: p.value for p in points["spendtag.calls"]}
    assert calls == {"acme": 2, "globex": 1}
    assert points["spendtag.cost"][0].attributes["gen_ai.response.model"] == "gpt-4o"
    assert Decimal(str(cost["globex"])) == Decimal("3.5")    # 1M input x $2.50 + 100k output x $10


def test_otel_sink_counts_then_forwards(tmp_path: Path) -> None:
    reader = InMemoryMetricReader()
    sink = OTelSink(FileSink(tmp_path / "e.jsonl"), meter_provider=MeterProvider(metric_readers=[reader]),
                    interval=0.01)
    sink.put(_event("acme"))
    assert sink.flush(10)
    sink.close()
    assert len((tmp_path / "e.jsonl").read_text().splitlines()) == 1
    assert {p.attributes["client"]: p.value for p in _points(reader)["spendtag.calls"]} == {"acme": 1}


def test_missing_extra_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from spendtag.errors import SpendtagError

    real = builtins.__import__

    def no_otel(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("opentelemetry"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_otel)
    with pytest.raises(SpendtagError, match=r"pip install 'spendtag\[otel\]'"):
        OTelMetrics()
