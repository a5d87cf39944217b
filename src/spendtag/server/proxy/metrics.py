"""``/metrics`` (Prometheus text format) and ``/healthz``.

Counting on the hot path is a dictionary update; the Prometheus families are built only
when ``/metrics`` is scraped. Money is exact (pico-USD integers) until it is rendered.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from spendtag.usage import Usage

if TYPE_CHECKING:
    from spendtag.server.proxy.caps import Caps

_TOKEN_BUCKETS = ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
                  "output_tokens", "reasoning_tokens")
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


class Metrics(Collector):
    def __init__(self, tag_keys: Sequence[str], caps: Caps | None = None) -> None:
        self.tag_keys = tuple(tag_keys)
        self.caps = caps
        # (provider, model, status, *tag values) -> [requests, cost pico, *token buckets]
        self.calls: dict[tuple[str, ...], list[int]] = {}
        self.responses: dict[tuple[str, int], int] = {}    # (upstream, http status) -> count
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def response(self, upstream: str, status: int) -> None:
        k = (upstream, status)
        self.responses[k] = self.responses.get(k, 0) + 1

    def call(self, provider: str, model: str, status: str, tags: dict[str, str], usage: Usage, cost: int) -> None:
        k = (provider, model, status, *[tags.get(t, "") for t in self.tag_keys])
        row = self.calls.get(k)
        if row is None:
            row = self.calls[k] = [0] * (2 + len(_TOKEN_BUCKETS))
        row[0] += 1
        row[1] += cost
        row[2] += usage.input_tokens
        row[3] += usage.cache_read_tokens
        row[4] += usage.cache_write_5m_tokens
        row[5] += usage.cache_write_1h_tokens
        row[6] += usage.output_tokens
        row[7] += usage.reasoning_tokens

    def collect(self) -> Iterator[Metric]:
        labels = ["provider", "model", "status", *[_label(t) for t in self.tag_keys]]
        requests = CounterMetricFamily("spendtag_proxy_calls", "Metered calls by provider, model, status and tags",
                                       labels=labels)
        cost = CounterMetricFamily("spendtag_proxy_cost_usd", "Cost of metered calls in USD", labels=labels)
        tokens = CounterMetricFamily("spendtag_proxy_tokens", "Tokens of metered calls by bucket",
                                     labels=[*labels, "bucket"])
        for k, row in list(self.calls.items()):
            requests.add_metric(list(k), row[0])
            cost.add_metric(list(k), row[1] / 10**12)   # display only; sums stay integer pico-USD
            for bucket, n in zip(_TOKEN_BUCKETS, row[2:], strict=True):
                tokens.add_metric([*k, bucket], n)
        http = CounterMetricFamily("spendtag_proxy_http_responses", "Responses by upstream and HTTP status",
                                   labels=["upstream", "code"])
        for (up, code), n in list(self.responses.items()):
            http.add_metric([up, str(code)], n)
        yield from (requests, cost, tokens, http)
        if self.caps is not None and self.caps.budgets:
            used = GaugeMetricFamily("spendtag_budget_utilisation", "Spend (with reservations) / limit, "
                                     "current period", labels=["budget"])
            spent = GaugeMetricFamily("spendtag_budget_spent_usd", "Spend in the current period (with "
                                      "reservations) in USD", labels=["budget"])
            now = datetime.now(UTC)
            for b in self.caps.budgets:
                if not b.in_effect(now, self.caps.tz):
                    continue   # a fixed range that has not started or has ended has no current period
                s = self.caps.live.spent(b.name) + self.caps.outstanding.get(b.name, 0)
                used.add_metric([b.name], s / b.limit)
                spent.add_metric([b.name], s / 10**12)
            yield used
            yield spent

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _label(tag_key: str) -> str:
    return "tag_" + "".join(c if c.isalnum() else "_" for c in tag_key)
