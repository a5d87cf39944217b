"""What could not be priced, and the rate card that would price it (``spendtag prices check``).

For each model with unpriced calls the suggestion is a complete rate card: a rate for every
bucket those calls used (cache reads, 5-minute and 1-hour cache writes, audio, web searches,
and reasoning where the model bills it apart from output), plus input and output. A card
prices only the buckets it names, so a card without, say, the cache-read rate would leave
every call with cache reads unpriced after ``reprice``.

Where the price data knows the model, its standard list rates on the last call's day are
filled in, as long as every unpriced call was a standard-tier, standard-speed call (their
price is missing for another reason: a bucket with no price). Everything else is left as
``FILL-IN``, which the config file and ``prices override`` both reject until a number
replaces it: a suggested card is never a silent $0.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from spendtag.ledger.store import ModelUse, Store, UnpricedUse

if TYPE_CHECKING:
    from spendtag.pricing.pricer import Pricer

FILL_IN = "FILL-IN"
# ``prices override`` flag -> card bucket, in the order a card is written.
CARD_FLAGS: dict[str, str] = {
    "input": "input_tokens",
    "cache-read": "cache_read_tokens",
    "cache-write-5m": "cache_write_5m_tokens",
    "cache-write-1h": "cache_write_1h_tokens",
    "output": "output_tokens",
    "reasoning": "reasoning_tokens",
    "input-audio": "input_audio_tokens",
    "output-audio": "output_audio_tokens",
    "web-search": "web_search_requests",
}
_STANDARD_TIERS = frozenset({None, "", "standard", "default", "auto", "on_demand", "on-demand"})
_STANDARD_SPEEDS = frozenset({None, "", "standard", "normal"})
NOTE = "rates for calls spendtag could not price"


def _config_key(bucket: str) -> str:
    return next(f for f, b in CARD_FLAGS.items() if b == bucket).replace("-", "_")


def _unit(bucket: str) -> str:
    return "USD per thousand searches" if bucket == "web_search_requests" else "USD per million tokens"


@dataclass(slots=True)
class Suggestion:
    """A rate card for one model's unpriced calls. ``rates``: bucket -> USD per million tokens
    (per thousand web searches) as text, or None where it has to be filled in."""

    provider: str
    model: str
    requests: int                           # unpriced calls
    priced_requests: int                    # calls of this model that are priced: a card replaces theirs too
    first: datetime
    last: datetime
    reasons: tuple[str, ...]
    rates: dict[str, str | None]
    listed: Mapping[str, str] = field(default_factory=dict)   # the model's standard list rates, for reference

    @property
    def complete(self) -> bool:
        """Every rate is filled in: the card can be added as it is."""
        return all(v is not None for v in self.rates.values())

    def toml(self) -> str:
        """A ``[[prices]]`` table for the config file."""
        lines = ["[[prices]]", f"model = {_toml_str(self.model)}", f"provider = {_toml_str(self.provider)}"]
        for bucket, rate in self.rates.items():
            key = _config_key(bucket)
            if rate is not None:
                lines.append(f"{key} = {_toml_str(rate)}")
                continue
            hint = f"list rate {self.listed[bucket]} (standard tier)" if bucket in self.listed else "no list price"
            lines.append(f"{key} = {_toml_str(FILL_IN)}   # {_unit(bucket)}; {hint}")
        lines.append(f"note = {_toml_str(NOTE)}")
        return "\n".join(lines)

    def command(self) -> str:
        """The same card as a ``spendtag prices override`` command."""
        words = ["spendtag", "prices", "override", self.model, "--provider", self.provider]
        for flag, bucket in CARD_FLAGS.items():
            if bucket in self.rates:
                words += [f"--{flag}", self.rates[bucket] or FILL_IN]
        words += ["--note", NOTE]
        return " ".join(shlex.quote(w) for w in words)


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def suggest(uses: Sequence[UnpricedUse], models: Sequence[ModelUse], pricer: Pricer) -> list[Suggestion]:
    """One complete rate card per (provider, model) with unpriced calls, most unpriced calls first."""
    groups: dict[tuple[str, str], list[UnpricedUse]] = {}
    for use in uses:
        groups.setdefault((use.provider, use.model), []).append(use)
    totals = {(m.provider, m.model): m.requests for m in models}
    out = []
    for (provider, model), group in groups.items():
        used = {b for u in group for b, n in u.tokens.items() if n}
        last = max(u.last for u in group)
        described = pricer.describe(provider, model, last)
        listed: dict[str, str] = dict(described["rates"]) if described else {}
        needed = [b for b in CARD_FLAGS.values()
                  if b in ("input_tokens", "output_tokens")
                  or (b in used and (b != "reasoning_tokens" or b in listed))]
        standard = all(u.service_tier in _STANDARD_TIERS and u.speed in _STANDARD_SPEEDS for u in group)
        rates = {b: listed.get(b) if standard else None for b in needed}
        requests = sum(u.requests for u in group)
        reasons = tuple(dict.fromkeys(_reason(u) for u in group))
        out.append(Suggestion(provider, model, requests, totals.get((provider, model), requests) - requests,
                              min(u.first for u in group), last, reasons, rates, listed))
    return sorted(out, key=lambda s: (-s.requests, s.provider, s.model))


def check(store: Store, pricer: Pricer) -> list[Suggestion]:
    """The suggestions for every model with unpriced calls in ``store``."""
    uses = store.unpriced()
    return suggest(uses, store.models(), pricer) if uses else []


def _reason(use: UnpricedUse) -> str:
    if use.reason is None:
        return "no price known for this model"
    reason = use.reason.removeprefix("unpriced: ")
    return reason
