"""Optional export of spendtag's events as OpenTelemetry metrics (the ``otel`` extra).

``OTelSink(inner)`` is a sink that adds every event to three counters on an OTel meter and
then hands the events to ``inner`` (the ledger by default), so that an existing
observability stack sees cost next to latency:

* ``spendtag.cost`` (USD): the event's cost at list price or the price book;
* ``spendtag.tokens`` ({token}) with ``type`` = the bucket (input, cache_read, ...);
* ``spendtag.calls`` ({call}).

Attributes: ``gen_ai.provider.name``, ``gen_ai.response.model``, ``status``, and the chosen
tag keys (``tag_keys``, e.g. client). The metric values are for dashboards: the cost is
converted to a float there, at the boundary; invoices and reports read the exact ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from spendtag.capture.sdk.sinks import LedgerSink, Sink
from spendtag.errors import SpendtagError
from spendtag.usage import BILLED_TOKEN_BUCKETS, UsageEvent

if TYPE_CHECKING:
    from spendtag.pricing.pricer import Pricer

_PICO = Decimal(10) ** 12


def _metrics_api() -> Any:
    try:
        from opentelemetry import metrics
    except ImportError:
        raise SpendtagError("OpenTelemetry export needs opentelemetry-api: pip install 'spendtag[otel]'") from None
    return metrics


class OTelMetrics:
    """The three counters, on ``meter_provider`` (default: the global one the application configured)."""

    def __init__(self, *, tag_keys: Sequence[str] = ("client",), meter_provider: Any = None,
                 pricer: Pricer | None = None) -> None:
        metrics = _metrics_api()
        provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        meter = provider.get_meter("spendtag")
        self.tag_keys = tuple(tag_keys)
        self._pricer = pricer
        self.cost = meter.create_counter("spendtag.cost", unit="USD", description="Cost of LLM calls")
        self.tokens = meter.create_counter("spendtag.tokens", unit="{token}", description="Tokens of LLM calls")
        self.calls = meter.create_counter("spendtag.calls", unit="{call}", description="LLM calls")

    def record(self, event: UsageEvent, cost: int | None = None) -> None:
        """Count one event; ``cost`` in pico-USD, priced here when not given."""
        if cost is None:
            cost = self._price(event)
        attrs: dict[str, str] = {"gen_ai.provider.name": event.provider, "gen_ai.response.model": event.model,
                                 "status": event.status}
        for key in self.tag_keys:
            if key in event.tags:
                attrs[key] = event.tags[key]
        self.calls.add(1, attrs)
        if cost:
            self.cost.add(float(Decimal(cost) / _PICO), attrs)
        for bucket in BILLED_TOKEN_BUCKETS:
            n = getattr(event.usage, bucket)
            if n:
                self.tokens.add(n, {**attrs, "type": bucket.removesuffix("_tokens")})

    def _price(self, event: UsageEvent) -> int:
        if self._pricer is None:
            from spendtag.pricing import PriceBook
            from spendtag.pricing.pricer import Pricer

            self._pricer = Pricer(PriceBook([]))
        cost = self._pricer.price(event)
        return cost.total if cost.priced else 0


class OTelSink(Sink):
    """Counts events as OTel metrics on its own thread, then writes them to ``inner`` (the ledger by default)."""

    def __init__(self, inner: Sink | None = None, *, tag_keys: Sequence[str] = ("client",), meter_provider: Any = None,
                 pricer: Pricer | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.metrics = OTelMetrics(tag_keys=tag_keys, meter_provider=meter_provider, pricer=pricer)
        # Its own LedgerSink, not the shared default: inner.write runs on this sink's thread.
        self.inner = inner if inner is not None else LedgerSink()

    def write(self, events: Sequence[UsageEvent]) -> None:
        self.inner.write(events)
        for event in events:
            self.metrics.record(event)

    def stop(self) -> None:
        self.inner.stop()
