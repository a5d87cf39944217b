"""A draft from the client's calls summed per line (the client's view) is the draft read call by call."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from conftest import make_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendtag.bill.build import Request, invoice_for, summed_events
from spendtag.bill.config import BillingConfig
from spendtag.bill.fixed_costs import fixed_cost
from spendtag.ledger.sqlite import SQLiteStore
from spendtag.periods import parse_period
from spendtag.usage import Usage

UTC_ZONE = ZoneInfo("UTC")
MARCH = parse_period("2026-03", UTC_ZONE)
START = datetime(2026, 2, 27, tzinfo=UTC)      # some calls before the period, to be left out

call = st.tuples(
    st.integers(0, 24 * 40),                                        # hours after START
    st.sampled_from(["acme", "acme", "globex", None]),              # client (None: untagged, shared cost)
    st.sampled_from(["claude-sonnet-4-5", "gpt-4o", "house-9"]),
    st.sampled_from(["planner", "coder", None]),                    # agent
    st.sampled_from([None, None, "free"]),                          # the credit tag
    st.sampled_from([None, "t-1", "t-2"]),                          # a unit tag
    st.integers(0, 10**10),                                         # cost, pico-USD
    st.integers(0, 10**6),                                          # tokens
    st.sampled_from([True, True, True, True, False]),              # priced (house-9 never is)
)
CONFIGS = {
    "markup": {"billing": {"allocate": "proportional", "clients": {"acme": {"markup": "30%"}}}},
    "per-unit": {"billing": {"allocate": "even", "clients": {"acme": {"model": "per-unit", "unit": "ticket",
                                                                       "price": "2.50"}}}},
    "fee": {"billing": {"clients": {"acme": {"model": "fixed-fee", "fee": "40", "usage_cap": "45"}}}},
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.lists(call, max_size=40), config=st.sampled_from(sorted(CONFIGS)),
       by=st.sampled_from(["model", "agent", "tag:ticket"]), fixed=st.booleans())
def test_the_summed_draft_is_the_draft(calls: list[tuple], config: str, by: str, fixed: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "l.db")
        events = []
        for i, (hours, client, model, agent, credit, unit, cost, tokens, priced) in enumerate(calls):
            tags = {k: v for k, v in (("client", client), ("credit", credit), ("ticket", unit)) if v}
            provider = {"gpt-4o": "openai", "house-9": "acme-ai"}.get(model, "anthropic")
            events.append(make_event(f"e{i}", START + timedelta(hours=hours), provider=provider, model=model,
                                     cost=cost, priced=priced and model != "house-9", tags=tags, agent=agent,
                                     usage=Usage(input_tokens=tokens, output_tokens=tokens // 7)))
        store.record(events)
        if fixed:
            store.record([fixed_cost("49.00", {"client": "acme"}, note="tool seat", day="2026-03-01"),
                          fixed_cost("12.50", {"client": "acme"}, note="hosting", day="2026-03-09")])
        cfg = BillingConfig.from_sections(CONFIGS[config], client_key="client", path="test")
        req = Request(period="2026-03", range=MARCH, tz=UTC_ZONE, config=cfg, by=by, allocation=cfg.allocation)
        for client in ("acme", "globex"):
            full, summed = invoice_for(store, req, client), invoice_for(store, req, client, summed=True)
            assert summed.lines == full.lines
            assert (summed.charges, summed.total_due, summed.unpriced, summed.cost, summed.credits) == (
                full.charges, full.total_due, full.unpriced, full.cost, full.credits)
            assert summed.document == full.document
        store.close()


def test_a_month_of_calls_is_read_as_a_few_sums(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "l.db")
    store.record([make_event(f"e{i}", datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=7 * i),
                             model=("claude-sonnet-4-5", "claude-haiku-4-5")[i % 2], cost=1_000_003 + i,
                             tags={"client": "acme"}, agent=("planner", "coder")[i % 3 == 0])
                  for i in range(3000)])
    cfg = BillingConfig.from_sections(CONFIGS["markup"], client_key="client", path="test")
    req = Request(period="2026-03", range=MARCH, tz=UTC_ZONE, config=cfg, by="model", allocation=cfg.allocation)
    summed = summed_events(store, req, "acme")
    assert summed is not None and len(summed) == 2          # one per model (the lines), not 3,000 calls
    assert sum(e.calls for e in summed) == 3000             # type: ignore[attr-defined]
    full, fast = invoice_for(store, req, "acme"), invoice_for(store, req, "acme", summed=True)
    assert [(line.label, line.requests) for line in fast.lines] == [("claude-haiku-4-5", 1500),
                                                                    ("claude-sonnet-4-5", 1500)]
    assert fast.document == full.document and fast.total_due == full.total_due
