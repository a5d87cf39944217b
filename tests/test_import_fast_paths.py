"""Bulk import's shortcuts give exactly what the general path gives.

* ``Pricer.text_cost`` + ``ImportPartBuilder.add_text`` make the row that ``Pricer.price`` +
  ``ImportPartBuilder.add`` make of the same call (or step aside);
* ``time_us`` is ``parse_time`` in µs;
* ``AgentCall.event()`` is the event the reader used to make.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from spendtag.capture.agents.jsonl import AgentCall, parse_time, time_us
from spendtag.ledger.rollup_store import ImportPartBuilder
from spendtag.pricing import PriceOverride
from spendtag.pricing.book import PriceBook
from spendtag.pricing.pricer import TEXT_BUCKETS, Pricer
from spendtag.usage import TOKEN_BUCKETS, PricedEvent, Usage, UsageEvent

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MODELS = ("claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001",
          "claude-3-haiku-20240307", "claude-opus-4-5", "claude-sonnet-4-20250514", "no-such-model-7", "gpt-4o",
          "gemini-2.5-pro")
COUNT = st.one_of(st.just(0), st.integers(0, 300), st.integers(0, 400_000))
CALLS = st.tuples(
    st.sampled_from(MODELS), st.sampled_from(["anthropic", "openai", "google"]),
    st.integers(int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()), int(datetime(2026, 12, 31, tzinfo=UTC).timestamp())),
    st.sampled_from([None, "standard", "batch", "priority", "flex", "scale"]),
    st.tuples(COUNT, COUNT, COUNT, COUNT, COUNT),
)


def test_text_buckets_lead_the_token_buckets() -> None:
    assert TOKEN_BUCKETS[:len(TEXT_BUCKETS)] == TEXT_BUCKETS


def _both(pricer: Pricer, calls: list[tuple[str, str, int, str | None, tuple[int, int, int, int, int]]],
          reasoning: list[int] | None = None) -> tuple[int, int]:
    """Each call through text_cost where it can and through price always; rows must be equal.

    ``reasoning``: each call's reasoning tokens (at most its output), else none.
    """
    fast_taken = 0
    for n, (model, provider, seconds, tier, counts) in enumerate(calls):
        ts_us = seconds * 1_000_000 + n
        thought = min(reasoning[n], counts[4]) if reasoning else 0
        dims = (provider, model, "/p", "claude-code", None, None, "claude-code", "ok", ())
        event = UsageEvent(f"e{n}", EPOCH + timedelta(microseconds=ts_us), provider, model,
                           Usage(**dict(zip(TEXT_BUCKETS, counts, strict=True)), reasoning_tokens=thought,
                                 service_tier=tier),
                           project="/p", session="s", agent="claude-code", source="claude-code", response_id=f"m{n}")
        fast = pricer.text_cost(provider, model, ts_us, tier, counts, thought)
        general = ImportPartBuilder()
        general.add(PricedEvent(event, pricer.price(event)))
        if fast is None:
            continue
        fast_taken += 1
        ref, row = fast
        built = ImportPartBuilder()
        built.add_text(dims, ref, f"e{n}", ts_us, "s", f"m{n}", tier, counts, row, reasoning=thought)
        assert built.part() == general.part(), (model, tier, counts)
    return fast_taken, len(calls)


@given(st.lists(CALLS, min_size=1, max_size=12))
@settings(max_examples=300, deadline=None)
def test_text_cost_makes_the_row_price_makes(calls: list[tuple[str, str, int, str | None, tuple[int, ...]]]) -> None:
    pricer = Pricer()
    # Twice: the first pass resolves the plans (text_cost steps aside), the second takes them.
    _both(pricer, calls)  # type: ignore[arg-type]
    _both(pricer, calls)  # type: ignore[arg-type]


@given(st.lists(st.tuples(CALLS, st.integers(0, 400_000)), min_size=1, max_size=12))
@settings(max_examples=300, deadline=None)
def test_text_cost_with_reasoning_makes_the_row_price_makes(calls: list[tuple[Any, int]]) -> None:
    pricer = Pricer()
    plain = [c for c, _ in calls]
    thoughts = [r for _, r in calls]
    _both(pricer, plain, thoughts)
    _both(pricer, plain, thoughts)


def test_reasoning_is_kept_beside_output_on_the_fast_path() -> None:
    day = int(datetime(2026, 9, 1, tzinfo=UTC).timestamp())
    calls = [("gemini-2.5-pro", "google", day, None, (1000, 600, 0, 0, 300))] * 2
    assert _both(Pricer(), calls, [120, 120])[0] == 1
    row = ImportPartBuilder()
    pricer = Pricer()
    _both(pricer, calls[:1])
    found = pricer.text_cost("google", "gemini-2.5-pro", day * 1_000_000, None, (1000, 600, 0, 0, 300), 120)
    assert found is not None
    row.add_text(("google", "gemini-2.5-pro", None, "a", None, None, "a", "ok", ()), found[0], "x", day * 1_000_000,
                 None, None, None, (1000, 600, 0, 0, 300), found[1], reasoning=120)
    body = row.part()[1][0][1]
    assert body[11:17] == (1000, 600, 0, 0, 300, 120)   # the five text buckets, then reasoning


def test_text_cost_is_taken_once_a_plan_is_resolved_and_never_with_overrides() -> None:
    day = int(datetime(2026, 9, 1, tzinfo=UTC).timestamp())
    calls = [("claude-sonnet-4-5-20250929", "anthropic", day, "standard", (3, 5000, 200, 0, 40))] * 3
    taken, _ = _both(Pricer(), calls)
    assert taken == 2                   # the first call resolves the plan through price()
    long_context = [("claude-sonnet-4-5-20250929", "anthropic", day, None, (250_000, 0, 0, 0, 10))] * 2
    assert _both(Pricer(), long_context)[0] == 1
    assert _both(Pricer(), [("no-such-model-7", "anthropic", day, None, (1, 0, 0, 0, 1))] * 2)[0] == 0
    book = PriceBook([PriceOverride(1, "claude-sonnet-4-5-20250929", multiplier=Decimal("0.9"))])
    assert _both(Pricer(book), calls)[0] == 0


@given(st.one_of(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)).map(
        lambda d: d.isoformat(timespec=["seconds", "milliseconds", "microseconds"][d.microsecond % 3]) + "Z"),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1),
                 timezones=st.just(UTC)).map(lambda d: d.isoformat()),
    st.text(alphabet="0123456789-T:.Z+z ", max_size=30),
    st.sampled_from(["2026-09-01Z", "2026-09-01T10:00:00+01:00Z", "2026-09-01T10:00:00ZZ", "Z", ""]),
    st.integers(-5, 2**62), st.floats(allow_nan=True), st.none(),
))
@settings(max_examples=500)
def test_time_us_is_parse_time_in_microseconds(value: object) -> None:
    ts = parse_time(value)
    assert time_us(value) == (None if ts is None else (ts - EPOCH) // timedelta(microseconds=1))


def test_agent_call_event_is_the_event_it_stands_for() -> None:
    call = AgentCall("claude-code:m:r", 1_788_000_000_123_456, "anthropic", "claude-sonnet-4-5", (1, 2, 3, 4, 5),
                     "standard", None, "/p", "s", "claude-code", "claude-code", "m")
    event = call.event()
    assert event == UsageEvent("claude-code:m:r", datetime(2026, 8, 29, 10, 40, 0, 123456, tzinfo=UTC), "anthropic",
                               "claude-sonnet-4-5", Usage(1, 2, 3, 4, 5, service_tier="standard"), project="/p",
                               session="s", agent="claude-code", source="claude-code", response_id="m")
    odd = Usage(input_tokens=1, web_search_requests=2)
    assert call._replace(counts=None, usage=odd).event().usage is odd
