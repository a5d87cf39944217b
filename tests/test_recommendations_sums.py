"""Recommendations priced from the rollups' sums equal repricing every call one by one.

``report/recommendations.py`` prices a day's plain calls of a model as one sum and only the
unusual ones (``ledger/unusual_tables.py``) call by call. The reference here is the way it
was computed before: every priced call of the model, repriced on the cheaper model one by
one. Random ledgers mix what makes a call unusual (long prompts across the cheaper model's
200k tier, service tiers, speed, region, unpriced calls) with plain ones, reported costs,
request fees and price overrides (scoped, multipliers that round per call, rate cards).
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.ledger.store import Store
from spendtag.ledger.unusual_tables import PLAIN_GEOS, PLAIN_SERVICE_TIERS, PLAIN_SPEEDS
from spendtag.periods import zone
from spendtag.pricing.book import PriceBook, PriceOverride
from spendtag.pricing.pricer import Pricer
from spendtag.pricing.rates import _STANDARD_TIERS
from spendtag.report.recommendations import CHEAPER, MIN_SHARE_PERCENT, recommendations
from spendtag.tags import Selector
from spendtag.usage import PricedEvent, Usage, UsageEvent

START = datetime(2026, 3, 1, tzinfo=UTC)
MODELS = (("anthropic", "claude-opus-4-1"), ("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-4o"),
          ("openai", "gpt-4.1"), ("google", "gemini-2.5-pro"))


def one_by_one(store: Store, pricer: Pricer, filters: Filters) -> dict[str, tuple[int, int, int, frozenset[str]]]:
    """Per model worth a line: (calls, cost, cost on the cheaper model, price sources), every call repriced."""
    rows = store.aggregate(filters, ["provider", "model"], zone("UTC"))
    whole = sum(a.totals.cost for a in rows)
    out: dict[str, tuple[int, int, int, frozenset[str]]] = {}
    for a in rows:
        provider, model = a.key[0] or "", a.key[1] or ""
        cheaper = CHEAPER.get(model)
        if cheaper is None or not whole or a.totals.cost * 100 < whole * MIN_SHARE_PERCENT:
            continue
        only = replace(filters, dims={**filters.dims, "provider": (provider,), "model": (model,)})
        calls = cost = alternative = 0
        sources: set[str] = set()
        for p in store.events(only):
            if not p.cost.priced:
                continue
            usage = p.event.usage.replace(reported_cost=None)
            other = pricer.price(replace(p.event, model=cheaper, usage=usage))
            if not other.priced:
                break
            calls, cost, alternative = calls + 1, cost + p.cost.total, alternative + other.total
            if other.price is not None:
                sources.add(other.price.source)
        else:
            if calls and alternative < cost:
                out[f"{provider}/{model}"] = (calls, cost, alternative, frozenset(sources))
    return out


def from_sums(store: Store, pricer: Pricer, filters: Filters) -> dict[str, tuple[int, int, int, frozenset[str]]]:
    found = recommendations(store, pricer, filters, zone("Europe/Berlin"))
    out = {}
    for r in found.items:
        if r.kind == "cheaper-model":
            assert r.alternative_cost is not None
            sources = frozenset(r.basis.rsplit("(", 1)[1].rstrip(")").split(", "))
            out[r.subject] = (r.calls, r.cost, r.alternative_cost, sources)
    return out


calls_strategy = st.lists(st.tuples(
    st.sampled_from(MODELS),
    st.integers(0, 4 * 24 * 60 - 1),                          # minute of four days
    st.integers(0, 150_000), st.integers(0, 120_000),         # input, cache read (some prompts > 200k)
    st.integers(0, 5_000), st.integers(0, 3_000),             # output, reasoning (capped at output)
    st.sampled_from([None, None, None, "standard", "default", "batch", "priority", "flex", "Standard", "weird"]),
    st.sampled_from([None, None, None, "fast", "normal"]),
    st.sampled_from([None, None, None, "us", "global"]),
    st.sampled_from([None, None, None, 7_000_000]),           # a provider-reported cost
    st.sampled_from([{}, {"client": "acme"}, {"client": "globex"}]),
), min_size=1, max_size=40)

books = st.sampled_from([
    (),
    (PriceOverride(1, "claude-sonnet-4-5", multiplier=Decimal("0.5")),),
    (PriceOverride(1, "claude-sonnet-4-5", multiplier=Decimal("1.1")),),              # rounded per call
    (PriceOverride(1, "gpt-4o-mini", multiplier=Decimal("0.9"), scope=(Selector.parse("client=acme"),)),),
    (PriceOverride(1, "claude-haiku-4-5", rates={"input_tokens": Decimal("0.7"), "output_tokens": Decimal("3.3"),
                                                 "cache_read_tokens": Decimal("0.07")},
                   valid_from=date(2026, 3, 2)),),
    (PriceOverride(1, "gpt-4.1-mini", scope=(Selector.parse("!client"),),
                   rates={"input_tokens": Decimal("0.333333333"), "output_tokens": Decimal("1")}),),
])


def ledger(rows: list[Any]) -> list[PricedEvent]:
    pricer = Pricer()
    events = []
    for i, ((provider, model), minute, inp, read, out, reasoning, tier, speed, geo, reported, tags) in enumerate(rows):
        usage = Usage(input_tokens=inp, cache_read_tokens=read, output_tokens=out,
                      reasoning_tokens=min(reasoning, out) if provider != "anthropic" else 0,
                      service_tier=tier, speed=speed, inference_geo=geo, reported_cost=reported)
        events.append(UsageEvent(f"e{i}", START + timedelta(minutes=minute), provider, model, usage, tags=tags,
                                 agent="a"))
    return pricer.price_many(events)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=calls_strategy, book=books, since=st.integers(0, 2 * 24 * 60), hours=st.integers(1, 4 * 24))
def test_sums_price_every_model_as_call_by_call(rows: list[Any], book: tuple[PriceOverride, ...], since: int,
                                                hours: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(str(Path(tmp) / "l.db"))
        try:
            store.record(ledger(rows))
            start = START + timedelta(minutes=since)
            filters = Filters(since=start, until=start + timedelta(hours=hours))
            assert from_sums(store, Pricer(PriceBook(book)), filters) == one_by_one(store, Pricer(PriceBook(book)),
                                                                                   filters)
        finally:
            store.close()


def test_unusual_calls_on_every_store(store: Store) -> None:
    """Long, batch, unpriced and reported calls among plain ones: the same figures on SQLite and PostgreSQL."""
    rows = []
    for i in range(60):
        model = MODELS[i % 2]
        tier = ["batch", None, "standard", "weird"][i % 4]
        rows.append((model, i * 90, 10_000 + (250_000 if i % 5 == 0 else 0), 1_000, 500, 0, tier, None,
                     "us" if i % 7 == 0 else None, 7_000_000 if i % 6 == 0 else None,
                     {"client": "acme"} if i % 3 else {}))
    store.record(ledger(rows))
    filters = Filters(since=START, until=START + timedelta(days=4))
    unusual = {p.event.event_id for p in store.unusual_events(filters)}
    assert unusual == {f"e{i}" for i in range(60)
                       if i % 4 in (0, 3) or i % 5 == 0 or i % 7 == 0}     # batch, unknown tier (unpriced), long, us
    book = PriceBook((PriceOverride(1, "claude-haiku-4-5", multiplier=Decimal("0.5"),
                                    scope=(Selector.parse("client=acme"),)),))
    expected = one_by_one(store, Pricer(book), filters)
    assert set(expected) == {"anthropic/claude-opus-4-1", "anthropic/claude-sonnet-4-5"}
    assert from_sums(store, Pricer(book), filters) == expected


def test_what_the_index_calls_plain_the_pricer_prices_as_no_modifier() -> None:
    """The index's plain values must stay a subset of what the pricer treats as standard."""
    assert set(PLAIN_SERVICE_TIERS) <= _STANDARD_TIERS
    assert {s.strip().lower() for s in PLAIN_SPEEDS} <= {"", "standard", "normal"}
    assert "us" not in {g.strip().lower() for g in PLAIN_GEOS}


def test_aggregate_sums_only_the_fields_asked(store: Store) -> None:
    """``fields``: those totals as a full aggregate has them (rollups and ragged edges alike), the rest 0."""
    store.record(ledger([(MODELS[i % 3], i * 37, 1_000 + i, 10 * i, 50 + i, 0, None, None, None, None,
                          {"client": "acme"} if i % 2 else {}) for i in range(150)]))
    filters = Filters(since=START + timedelta(minutes=95), until=START + timedelta(days=3, minutes=7))
    fields = ("requests", "cache_read_tokens", "cost")
    full = {tuple(a.key): a.totals.as_dict() for a in store.aggregate(filters, ["model", "tag:client", "day"])}
    some = {tuple(a.key): a.totals.as_dict() for a in store.aggregate(filters, ["model", "tag:client", "day"],
                                                                        fields=fields)}
    assert set(some) == set(full) and len(full) > 10
    for key, totals in full.items():
        assert some[key] == {f: (v if f in fields else 0) for f, v in totals.items()}
        assert totals["requests"] > 0 and totals["input_tokens"] > 0
