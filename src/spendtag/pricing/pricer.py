"""The Pricer: the exact cost of a :class:`~spendtag.usage.UsageEvent`.

Contract:

* A cost is priced at the event's own timestamp, never "now".
* Each component is ``tokens x rate`` in pico-USD. A rate with at most six decimals in USD per
  million tokens is a whole number of pico-USD per token and is multiplied as an ``int``;
  any other rate (a multiplier such as 1.1, a repeating decimal in the data) is multiplied
  as a ``Decimal`` and rounded half-even to the pico, once per component. ``Cost.total`` is
  the exact sum of the components.
* An event nobody can price is unpriced (``priced=False``), never $0. Unknown models give
  :meth:`Cost.unpriced`; a known model whose usage or tier has no price gives an unpriced
  cost whose ``price.note`` says why.
* Precedence: a rate-card override replaces everything (list prices, tier modifiers and a
  provider-reported cost); otherwise a provider-reported cost (OpenRouter's ``cost``) is
  used as is; otherwise list prices. A multiplier applies on top of whichever was used.

Rates are resolved through genai-prices once per (provider, model, UTC date, active
time-of-day windows, service tier, speed, inference geo, overrides) and cached; the
long-context tier is chosen per event from the cached tiers.
"""

from __future__ import annotations

import gc
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time
from decimal import ROUND_HALF_EVEN, Context, Decimal
from types import CodeType
from typing import Any

from spendtag.bounds import MAX_CALL_COST
from spendtag.money import format_usd
from spendtag.pricing.book import PriceBook, PriceOverride
from spendtag.pricing.rates import (
    PRICE_DATA_VERSION,
    ListModel,
    ListPrices,
    Rates,
)
from spendtag.providers import normalise as canonical_provider
from spendtag.usage import BILLED_TOKEN_BUCKETS, Cost, PricedEvent, PriceRef, Usage, UsageEvent, utc

_PICO = Decimal(10**12)
_CTX = Context(prec=80, rounding=ROUND_HALF_EVEN)
_ORDER: tuple[str, ...] = (*BILLED_TOKEN_BUCKETS, "reasoning_tokens", "web_search_requests")
_PRICED: tuple[str, ...] = (*BILLED_TOKEN_BUCKETS, "web_search_requests")
_CODE: dict[str, CodeType] = {}   # compiled cost functions by source: one per distinct rate card
_MAX_PLANS = 100_000   # per model; a guard for long-running processes, far above real use
# The text buckets ``Pricer.text_cost`` takes, in its argument order.
TEXT_BUCKETS: tuple[str, ...] = ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens",
                                 "cache_write_1h_tokens", "output_tokens")
_DAY_US = 86_400_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _mul_round(n: int, rate: Decimal) -> int:
    return int(_CTX.multiply(Decimal(n), rate).to_integral_value(rounding=ROUND_HALF_EVEN, context=_CTX))


def _usd(value: Decimal) -> str:
    return format(value.normalize(_CTX), "f")


def _unpriced(provider: str, model: str, day: str, source: str, reason: str) -> Cost:
    return Cost({}, 0, PriceRef(provider, model, {}, day, source, f"unpriced: {reason}"), priced=False)


class _Tier:
    """Compiled rates for one tier: pico-USD per unit as int (exact) or Decimal (rounded per component)."""

    __slots__ = ("rates", "plain_reasoning", "missing", "fee", "ref", "fallbacks", "_refs", "reported_ref", "cost",
                 "text_row")
    reported_ref: PriceRef | None
    cost: Callable[[Usage], Cost]
    text_row: Callable[[int, int, int, int, int], tuple[int, ...] | None]

    def __init__(self, table: Mapping[str, Decimal], fallbacks: Mapping[str, str], ref: PriceRef,
                 multiplier: Decimal | None) -> None:
        rates: list[tuple[str, int | Decimal]] = []
        shown: dict[str, str] = {}
        for bucket in (*_ORDER, "request_fee"):
            if bucket not in table:
                continue
            usd = table[bucket] if multiplier is None else _CTX.multiply(table[bucket], multiplier)
            pico = _CTX.multiply(usd, _PICO)
            shown[bucket] = _usd(usd)
            rates.append((bucket, int(pico) if pico == pico.to_integral_value() else pico))
        fee = dict(rates).pop("request_fee", None)
        self.fee = None if fee is None else _mul_round(1, Decimal(fee))
        self.rates = tuple(r for r in rates if r[0] != "request_fee")
        self.missing = tuple(b for b in _PRICED if b not in table)
        self.fallbacks = tuple(fallbacks.items())
        # Reasoning tokens only counted inside output (no rate of their own): text_row prices them.
        self.plain_reasoning = "reasoning_tokens" not in table and "reasoning_tokens" not in fallbacks
        self.ref = PriceRef(ref.provider, ref.model, shown, ref.price_date, ref.source, ref.note)
        self._refs: dict[tuple[str, ...], PriceRef] = {}
        self.reported_ref = None
        self.cost = self._compile()
        self.text_row = self._compile_text_row()

    def _compile(self) -> Callable[[Usage], Cost]:
        """This tier's cost function, with its rates as constants.

        Generated code (as dataclasses and namedtuple do) runs about twice as fast as a loop over
        buckets, which is what lets bulk import price a few hundred thousand events a second.
        Bucket names come from ``_ORDER``; rates are ints or Decimals passed by name.
        """
        env: dict[str, Any] = {"Cost": Cost, "mul_round": _mul_round, "no_rate": self._no_rate,
                               "ref_for": self.ref_for, "REF": self.ref}
        lines = ["def cost(u):"]
        lines += [f"    if u.{bucket}: return no_rate({bucket!r})" for bucket in self.missing]
        lines += ["    c = {}", "    t = 0"]
        split = any(bucket == "reasoning_tokens" for bucket, _ in self.rates)
        for i, (bucket, rate) in enumerate(self.rates):
            # A model with its own reasoning price bills reasoning apart from the rest of output;
            # reasoning tokens are output tokens, so their cost is part of the output component
            # (the ledger keeps one cost column per billed bucket) and the rates show the split.
            count = f"u.{bucket}"
            if split and bucket == "output_tokens":
                count = "u.output_tokens - u.reasoning_tokens"
            if isinstance(rate, int):
                product = f"n * {rate}"
            else:
                env[f"R{i}"] = rate
                product = f"mul_round(n, R{i})"
            store = (f"        c[{bucket!r}] = x" if bucket != "reasoning_tokens"
                     else "        c['output_tokens'] = c.get('output_tokens', 0) + x")
            lines += [f"    n = {count}", "    if n:", f"        x = {product}", store, "        t += x"]
        if self.fee is not None:
            lines += [f"    c['request_fee'] = {self.fee}", f"    t += {self.fee}"]
        if self.fallbacks:
            # A fallback rate (audio at the text rate...) is named in the note only when used.
            used = " or ".join(f"u.{bucket}" for bucket, _ in self.fallbacks)
            lines.append(f"    if {used}: return Cost(c, t, ref_for(u))")
        lines.append("    return Cost(c, t, REF)")
        source = "\n".join(lines)
        code = _CODE.get(source)
        if code is None:
            code = _CODE[source] = compile(source, "<spendtag.pricing rates>", "exec")
        exec(code, env)  # noqa: S102 - our own constants only, see docstring
        function: Callable[[Usage], Cost] = env["cost"]
        return function

    def _compile_text_row(self) -> Callable[[int, int, int, int, int], tuple[int, ...] | None]:
        """``cost`` for usage with only the text buckets (TEXT_BUCKETS, as ints), as a row.

        The row is the cost's components in COST_COMPONENTS order, then the total: what
        ``cost`` gives, without building a Usage and a Cost per call (bulk import). None when
        ``cost`` would not use this tier's own price: a used bucket without a rate (unpriced)
        or priced at a fallback rate (the note names it).
        """
        rates = dict(self.rates)
        special = {bucket for bucket, _ in self.fallbacks} | set(self.missing)
        env: dict[str, Any] = {"mul_round": _mul_round}
        args = ("i", "r", "w5", "w1", "o")
        lines = [f"def text_row({', '.join(args)}):"]
        lines += [f"    if {arg}: return None" for arg, bucket in zip(args, TEXT_BUCKETS, strict=True)
                  if bucket in special]
        parts = []
        for n, (arg, bucket) in enumerate(zip(args, TEXT_BUCKETS, strict=True)):
            rate = rates.get(bucket)
            if rate is None:
                parts.append("0")    # unused here (a used one returned None above)
                continue
            if isinstance(rate, int):
                lines.append(f"    c{n} = {arg} * {rate}")
            else:
                env[f"R{n}"] = rate
                lines.append(f"    c{n} = mul_round({arg}, R{n}) if {arg} else 0")
            parts.append(f"c{n}")
        fee = self.fee or 0
        # COST_COMPONENTS: the 7 billed buckets (audio unused here), web searches, the request fee, reported.
        row = [*parts, "0", "0", "0", str(fee), "0", " + ".join([*parts, str(fee)])]
        lines.append(f"    return ({', '.join(row)})")
        source = "\n".join(lines)
        code = _CODE.get(source)
        if code is None:
            code = _CODE[source] = compile(source, "<spendtag.pricing text rates>", "exec")
        exec(code, env)  # noqa: S102 - our own constants only, see _compile
        function: Callable[[int, int, int, int, int], tuple[int, ...] | None] = env["text_row"]
        return function

    def ref_for(self, u: Usage) -> PriceRef:
        used = tuple(note for bucket, note in self.fallbacks if getattr(u, bucket))
        if not used:
            return self.ref
        ref = self._refs.get(used)
        if ref is None:
            note = "; ".join(filter(None, (self.ref.note, *used)))
            ref = self._refs[used] = PriceRef(self.ref.provider, self.ref.model, self.ref.rates,
                                              self.ref.price_date, self.ref.source, note)
        return ref

    def _no_rate(self, bucket: str) -> Cost:
        ref = self.ref
        return _unpriced(ref.provider, ref.model, ref.price_date, ref.source,
                         f"{bucket} has no price for {ref.model} ({ref.source}); add a price override")


class _Plan:
    __slots__ = ("starts", "tiers", "unpriced", "single")

    def __init__(self, starts: tuple[int, ...], tiers: tuple[_Tier, ...], unpriced: Cost | None) -> None:
        self.starts = starts
        self.tiers = tiers
        self.unpriced = unpriced
        self.single = tiers[0].cost if len(tiers) == 1 and unpriced is None else None

    def tier(self, u: Usage) -> _Tier:
        if len(self.tiers) == 1:
            return self.tiers[0]
        return self.tiers[bisect_left(self.starts, u.total_input_tokens)]


class _Entry:
    __slots__ = ("found", "name", "windows", "plans")

    def __init__(self, found: ListModel | None) -> None:
        self.found = found
        self.name = found.model.id if found else None    # the model's name in the price data
        self.windows: tuple[tuple[time, time], ...] = found.windows if found else ()
        self.plans: dict[tuple[Any, ...], _Plan] = {}

    def window_flags(self, ts: datetime) -> tuple[bool, ...]:
        """Which time-of-day price windows (UTC, end exclusive, may wrap midnight) hold ``ts``."""
        t = ts.time()
        return tuple(s <= t < e if s <= e else (t >= s or t < e) for s, e in self.windows)


class Pricer:
    """Prices events from genai-prices' bundled list prices and a :class:`PriceBook`."""

    def __init__(self, book: PriceBook | None = None) -> None:
        self.book = book if book is not None else PriceBook()
        self._has_book = len(self.book) > 0
        self._list = ListPrices()
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._days: dict[int, date] = {}

    def price(self, event: UsageEvent) -> Cost:
        """The cost of one event; an unknown model is unpriced, never an exception or $0.

        A cost above :data:`~spendtag.bounds.MAX_CALL_COST` (absurd counts under a costly
        rate, a mistyped override) is not stored as such: the call is unpriced with that reason,
        which keeps every sum of costs in the ledger within 64 bits.
        """
        cost = self._price(event)
        if cost.total > MAX_CALL_COST:
            return _unpriced(event.provider, event.model, event.ts.date().isoformat(), "bounds",
                             f"its cost, {format_usd(cost.total)}, is above the bound of $100,000 for one call")
        return cost

    def _price(self, event: UsageEvent) -> Cost:
        usage = event.usage
        if self._has_book or usage.reported_cost is not None:
            return self._price_overridden(event)
        # The bulk-import path, kept inline: two dict look-ups and the tier's cost function.
        entry = self._entries.get((event.provider, event.model))
        if entry is None:
            entry = self._entry(event)
        ts = event.ts
        key: tuple[Any, ...] = (ts.date(), usage.service_tier, usage.speed, usage.inference_geo)
        if entry.windows:
            key += (entry.window_flags(ts),)
        plan = entry.plans.get(key)
        if plan is None:
            plan = self._new_plan(entry, key, event, None, None)
        if plan.single is not None:
            return plan.single(usage)
        if plan.unpriced is not None:
            return plan.unpriced
        return plan.tiers[bisect_left(plan.starts, usage.total_input_tokens)].cost(usage)

    def _price_overridden(self, event: UsageEvent) -> Cost:
        entry = self._entries.get((event.provider, event.model)) or self._entry(event)
        card, mult = self.book.match(event, entry.name) if self._has_book else (None, None)
        plan = self._plan(event, card, mult, entry)
        if event.usage.reported_cost is not None and card is None:
            return self._reported(event, plan, mult)
        if plan.unpriced is not None:
            return plan.unpriced
        return plan.tier(event.usage).cost(event.usage)

    def text_cost(self, provider: str, model: str, ts_us: int, service_tier: str | None,
                  counts: tuple[int, int, int, int, int],
                  reasoning: int = 0) -> tuple[PriceRef, tuple[int, ...]] | None:
        """``price`` for text-only usage given as counts (TEXT_BUCKETS) at ``ts_us`` (µs since the epoch, UTC),
        ``reasoning`` of the output tokens being reasoning.

        The bulk-import path: the price used and the cost as a row (components in
        COST_COMPONENTS order, then the total), with no event, Usage or Cost made. None
        whenever ``price`` would do more than apply a list price it has already resolved:
        an override book, time-of-day windows, a model or day not priced yet, an unpriced
        model or bucket, a fallback rate, reasoning with a rate of its own. The caller then
        uses ``price``, which resolves the plan, so the next call with the same model, day and
        tier takes this path.
        """
        if self._has_book:
            return None
        entry = self._entries.get((provider, model))
        if entry is None or entry.windows:
            return None
        day = self._days.get(ts_us // _DAY_US)
        if day is None:
            day = self._days[ts_us // _DAY_US] = date.fromordinal(_EPOCH_ORDINAL + ts_us // _DAY_US)
        plan = entry.plans.get((day, service_tier, None, None))
        if plan is None or plan.unpriced is not None:
            return None
        tiers = plan.tiers
        i, r, w5, w1, o = counts
        tier = tiers[0] if len(tiers) == 1 else tiers[bisect_left(plan.starts, i + r + w5 + w1)]
        if reasoning and not tier.plain_reasoning:
            return None
        row = tier.text_row(i, r, w5, w1, o)
        return None if row is None or row[-1] > MAX_CALL_COST else (tier.ref, row)   # (price says why)

    def price_sum(self, event: UsageEvent, calls: int, max_prompt: int) -> Cost | None:
        """What pricing ``calls`` calls like ``event`` one by one would sum to, from their summed usage.

        ``event`` carries the calls' provider, model, UTC day and tags, and the sum of their
        usages; each call had no service tier, speed, region or reported cost, and at most
        ``max_prompt`` input tokens (``Usage.total_input_tokens``). Each component is linear
        in its tokens when the rate is a whole number of pico-USD per token and every call
        falls in the first tier, so the sum is exact. None when that does not hold (a rate
        rounded per call, time-of-day prices, a tier starting below ``max_prompt``) or when
        the sum is above the bound for one call (a call alone may not be): price each call.
        An unpriced result means every such call is unpriced, or one uses an unpriced bucket.
        """
        entry = self._entries.get((event.provider, event.model)) or self._entry(event)
        if entry.windows:
            return None
        card, mult = self.book.match(event, entry.name) if self._has_book else (None, None)
        plan = self._plan(event, card, mult, entry)
        if plan.unpriced is not None:
            return plan.unpriced
        if len(plan.tiers) > 1 and plan.starts[0] < max_prompt:
            return None
        tier = plan.tiers[0]
        if any(not isinstance(rate, int) for _, rate in tier.rates):
            return None
        cost = tier.cost(event.usage)
        if cost.priced and tier.fee and calls > 1:
            extra = tier.fee * (calls - 1)
            cost = Cost({**cost.components, "request_fee": cost.components["request_fee"] + extra},
                        cost.total + extra, cost.price)
        return None if cost.total > MAX_CALL_COST else cost

    def price_many(self, events: Iterable[UsageEvent]) -> list[PricedEvent]:
        price = self.price
        # The loop allocates a few containers per event and no reference cycles; pausing the
        # cyclic collector keeps it from rescanning the growing result (about 1.5x faster).
        paused = gc.isenabled()
        gc.disable()
        try:
            return [PricedEvent(event, price(event)) for event in events]
        finally:
            if paused:
                gc.enable()

    def resolve(self, provider: str, model: str, ts: datetime, usage: Usage) -> Rates | None:
        """The rates an untagged event with this usage would be priced with, or None if unpriced."""
        event = UsageEvent("resolve", ts, provider, model, usage.replace(reported_cost=None))
        entry = self._entries.get((event.provider, event.model)) or self._entry(event)
        card, mult = self.book.match(event, entry.name) if self._has_book else (None, None)
        plan = self._plan(event, card, mult, entry)
        if plan.unpriced is not None:
            return None
        tier = plan.tier(event.usage)
        if any(getattr(event.usage, b) for b in tier.missing):
            return None
        ref = tier.ref_for(event.usage)
        rates = {bucket: Decimal(value) for bucket, value in ref.rates.items()}
        return Rates(ref.provider, ref.model, rates, ref.price_date, ref.source, ref.note)

    def describe(self, provider: str | None, model: str, ts: datetime) -> dict[str, Any] | None:
        """A human view of a model's prices at ``ts`` (for ``spendtag prices show``), or None."""
        ts = utc(ts)
        day = ts.date()
        found = self._list.find(provider, model)
        matched_provider = provider or (found.provider.id if found else "")
        overrides = [o for o in self.book.overrides
                     if o.applies_to(matched_provider, model, found.model.id if found else None)
                     and o.active_on(day)]
        if found is None and not any(o.rates is not None for o in overrides):
            return None
        out: dict[str, Any] = {
            "provider": found.provider.id if found else canonical_provider(matched_provider),
            "model": found.model.id if found else model,
            "name": found.model.name if found else None,
            "price_date": day.isoformat(),
            "source": PRICE_DATA_VERSION if found else None,
            "units": dict(_UNITS),
            "rates": {},
            "tiers": [],
            "notes": [],
            "contexts": {},
            "price_comments": found.model.price_comments if found else None,
            "overrides": [_override_view(o) for o in overrides],
        }
        if found is not None:
            standard = self._list.resolve(found, ts)
            out["rates"] = _display(standard.tables[0]) if standard.tables else {}
            out["tiers"] = [{"above_input_tokens": start, "rates": _display(table)}
                            for start, table in zip(standard.starts, standard.tables[1:], strict=True)]
            out["notes"] = list(standard.notes)
            for label, tier, speed in (("batch", "batch", None), ("flex", "flex", None),
                                       ("priority", "priority", None), ("fast", None, "fast")):
                r = self._list.resolve(found, ts, tier, speed)
                out["contexts"][label] = ({"unpriced": r.unpriced} if r.unpriced else
                                          {"rates": _display(r.tables[0]), "note": "; ".join(r.notes)})
        return out

    # -- internals ---------------------------------------------------------------------------

    def _entry(self, event: UsageEvent) -> _Entry:
        entry = self._entries[(event.provider, event.model)] = _Entry(
            self._list.find(event.provider, event.model))
        return entry

    def _plan(self, event: UsageEvent, card: PriceOverride | None, mult: PriceOverride | None,
              entry: _Entry | None = None) -> _Plan:
        if entry is None:
            entry = self._entries.get((event.provider, event.model)) or self._entry(event)
        u = event.usage
        key: tuple[Any, ...] = (event.ts.date(), u.service_tier, u.speed, u.inference_geo, id(card), id(mult))
        if entry.windows:
            key += (entry.window_flags(event.ts),)
        return entry.plans.get(key) or self._new_plan(entry, key, event, card, mult)

    def _new_plan(self, entry: _Entry, key: tuple[Any, ...], event: UsageEvent,
                  card: PriceOverride | None, mult: PriceOverride | None) -> _Plan:
        if len(entry.plans) >= _MAX_PLANS:
            entry.plans.clear()
        plan = entry.plans[key] = self._build(entry.found, event, card, mult)
        return plan

    def _build(self, found: ListModel | None, event: UsageEvent, card: PriceOverride | None,
               mult: PriceOverride | None) -> _Plan:
        day = event.ts.date().isoformat()
        factor = mult.multiplier if mult is not None else None
        extra = []
        if mult is not None:
            extra.append(f"x{mult.multiplier} {mult.label}" + (f" ({mult.note})" if mult.note else ""))
        if card is not None and card.rates is not None:
            provider = found.provider.id if found else canonical_provider(event.provider)
            model = found.model.id if found else event.model
            card_table = {b: r.scaleb(-3 if b == "web_search_requests" else -6)
                          for b, r in card.rates.items()}
            note = "; ".join([f"rate card {card.label}" + (f" ({card.note})" if card.note else ""), *extra])
            ref = PriceRef(provider, model, {}, day, card.label, note)
            return _Plan((), (_Tier(card_table, {}, ref, factor),), None)
        if found is None:
            return _Plan((), (), Cost.unpriced())
        u = event.usage
        resolved = self._list.resolve(found, event.ts, u.service_tier, u.speed, u.inference_geo)
        if resolved.unpriced is not None:
            return _Plan((), (), _unpriced(resolved.provider, resolved.model, day, PRICE_DATA_VERSION,
                                           resolved.unpriced))
        tiers = []
        for table, fallbacks, tier_note in zip(resolved.tables, resolved.fallbacks, resolved.tier_notes,
                                               strict=True):
            note = "; ".join(filter(None, (*resolved.notes, tier_note, *extra)))
            ref = PriceRef(resolved.provider, resolved.model, {}, day, PRICE_DATA_VERSION, note)
            tiers.append(_Tier(table, fallbacks, ref, factor))
        return _Plan(resolved.starts, tuple(tiers), None)

    def _reported(self, event: UsageEvent, plan: _Plan, mult: PriceOverride | None) -> Cost:
        usage = event.usage
        reported = usage.reported_cost
        assert reported is not None
        total = reported if mult is None or mult.multiplier is None else _mul_round(reported, mult.multiplier)
        if plan.unpriced is not None or not plan.tiers:
            listed = plan.unpriced.price if plan.unpriced is not None else None
            provider = listed.provider if listed else canonical_provider(event.provider)
            model = listed.model if listed else event.model
            note = "provider-reported cost; no list price" + (f" ({listed.note})" if listed else "")
            if mult is not None:
                note += f"; x{mult.multiplier} {mult.label}"
            unlisted = PriceRef(provider, model, {}, event.ts.date().isoformat(), "provider-reported", note)
            return Cost({"reported": total}, total, unlisted)
        tier = plan.tier(usage)
        ref = tier.reported_ref
        if ref is None:
            base = tier.ref
            note = f"provider-reported cost; list rates for reference ({PRICE_DATA_VERSION})"
            if base.note:
                note += f"; {base.note}"
            ref = tier.reported_ref = PriceRef(base.provider, base.model, base.rates,
                                               base.price_date, "provider-reported", note)
        return Cost({"reported": total}, total, ref)


_UNITS = {
    "tokens": "USD per million tokens",
    "web_search_requests": "USD per thousand requests",
    "request_fee": "USD per thousand requests",
}


def _display(table: Mapping[str, Decimal]) -> dict[str, str]:
    """USD per unit -> the units people read: per MTok, per 1k requests."""
    out: dict[str, str] = {}
    for bucket, usd in table.items():
        scale = 3 if bucket in ("web_search_requests", "request_fee") else 6
        out[bucket] = _usd(usd.scaleb(scale))
    return out


def _override_view(o: PriceOverride) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": o.id,
        "kind": "rate card" if o.rates is not None else "multiplier",
        "model": o.model,
        "provider": o.provider,
        "valid_from": o.valid_from.isoformat() if o.valid_from else None,
        "valid_until": o.valid_until.isoformat() if o.valid_until else None,
        "scope": [str(s) for s in o.scope],
        "note": o.note,
    }
    if o.rates is not None:
        view["rates"] = {bucket: _usd(rate) for bucket, rate in o.rates.items()}
    else:
        view["multiplier"] = str(o.multiplier)
    return view
