"""Pricing throughput: spendtag's cached Pricer vs genai-prices' calc_price per event.

Run: python bench/bench_pricing.py [--events 200000] [--sample 5000]

Prices 200k synthetic events (about ten models over four months, some batch, some long
context, some unknown models) with Pricer.price_many, first with a fresh Pricer (rates
resolved as they are met) and then warm; and calls genai_prices.calc_price once per event
on a 5k sample of the same events. Prints events/s for each, the ratio, whether both agree
to the pico on the standard-tier sample, and the machine it ran on.

Times are CPU time of this process (time.process_time), best of several runs, so that other
work on a shared machine does not count against either side.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import genai_prices

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

from spendtag.pricing import PRICE_DATA_VERSION, PriceBook, PriceOverride, Pricer
from spendtag.tags import Selector
from spendtag.usage import Usage, UsageEvent

MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("openai", "o3"),
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-opus-4-6"),
    ("anthropic", "claude-haiku-4-5"),
    ("gemini", "gemini-2.5-pro"),
    ("gemini", "gemini-2.5-flash"),
    ("deepseek", "deepseek-chat"),
    ("mistral", "mistral-small-latest"),
    ("ollama", "my-local-llama"),   # unknown: unpriced, one look-up
]


def synthetic_events(n: int, seed: int = 7) -> list[UsageEvent]:
    rng = random.Random(seed)
    start = datetime(2026, 8, 1, tzinfo=UTC)
    events = []
    for i in range(n):
        provider, model = MODELS[rng.randrange(len(MODELS))]
        long_context = rng.random() < 0.05
        usage = Usage(
            input_tokens=rng.randrange(210_000, 400_000) if long_context else rng.randrange(0, 20_000),
            cache_read_tokens=rng.randrange(0, 50_000),
            cache_write_5m_tokens=rng.randrange(0, 5_000) if provider == "anthropic" else 0,
            output_tokens=rng.randrange(1, 4_000),
            service_tier="batch" if rng.random() < 0.1 else None,
        )
        ts = start + timedelta(seconds=rng.randrange(0, 120 * 86_400))
        events.append(UsageEvent(f"e{i}", ts, provider, model, usage, tags={"client": f"c{i % 7}"}))
    return events


def genai_usage(u: Usage) -> genai_prices.Usage:
    # genai-prices counts input inclusively: cache reads and writes are inside input_tokens.
    return genai_prices.Usage(
        input_tokens=u.total_input_tokens,
        cache_read_tokens=u.cache_read_tokens,
        cache_write_tokens=u.cache_write_5m_tokens + u.cache_write_1h_tokens,
        output_tokens=u.output_tokens,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--sample", type=int, default=5_000)
    args = parser.parse_args()
    events = synthetic_events(args.events)

    pricer = Pricer()
    t0 = time.process_time()
    priced = pricer.price_many(events)
    cold = time.process_time() - t0
    warm = min(_timed(pricer.price_many, events) for _ in range(5))

    book = PriceBook([
        PriceOverride(1, "gpt-4o*", provider="openai", multiplier=Decimal("0.85")),
        PriceOverride(2, "claude-*", multiplier=Decimal("0.9"), scope=(Selector.parse("client=c1"),)),
        PriceOverride(3, "my-local-*", rates={"input_tokens": Decimal(0), "output_tokens": Decimal(0),
                                              "cache_read_tokens": Decimal(0)}),
    ])
    booked = Pricer(book)
    booked.price_many(events)
    with_book = min(_timed(booked.price_many, events) for _ in range(3))

    sample = events[: args.sample]
    reference: list[Decimal | None] = []
    per_call = min(_timed(lambda s: _reference(s, reference), sample) for _ in range(3))

    compared = agreed = 0
    for pe, ref in zip(priced[: args.sample], reference, strict=True):
        if ref is None or pe.event.usage.service_tier or not pe.cost.priced:
            continue
        compared += 1
        expected = (ref * 10**12).to_integral_value()
        agreed += expected == Decimal(pe.cost.total)
    unpriced = sum(not pe.cost.priced for pe in priced)

    cold_rate, warm_rate, ref_rate = len(events) / cold, len(events) / warm, len(sample) / per_call
    print(f"machine: {machine()} | {PRICE_DATA_VERSION}")
    print("timing: CPU time of this process (time.process_time), one core")
    print(f"events: {len(events):,} over {len(MODELS)} models ({unpriced:,} unpriced), "
          f"{sum(len(e.plans) for e in pricer._entries.values()):,} cached rate plans")
    print(f"Pricer.price_many, fresh Pricer:   {cold_rate:>12,.0f} events/s")
    print(f"Pricer.price_many, cached rates:   {warm_rate:>12,.0f} events/s (best of 5)")
    print(f"  with a 3-override price book:    {len(events) / with_book:>12,.0f} events/s (best of 3)")
    print(f"genai_prices.calc_price per event: {ref_rate:>12,.0f} events/s "
          f"({len(sample):,}-event sample, best of 3, "
          f"{per_call / len(sample) * 1e6:.1f} us/call)")
    print(f"ratio cached / per-call:           {warm_rate / ref_rate:>12,.1f}x")
    print(f"agreement with calc_price on standard-tier sample: {agreed}/{compared} equal to the pico")


def _reference(sample: list[UsageEvent], out: list[Decimal | None]) -> None:
    out.clear()
    for e in sample:
        try:
            calc = genai_prices.calc_price(genai_usage(e.usage), e.model, provider_id=e.provider,
                                           genai_request_timestamp=e.ts)
            out.append(calc.total_price)
        except LookupError:
            out.append(None)


def _timed(run: Callable[[list[UsageEvent]], object], events: list[UsageEvent]) -> float:
    t0 = time.process_time()
    run(events)
    return time.process_time() - t0


if __name__ == "__main__":
    main()
