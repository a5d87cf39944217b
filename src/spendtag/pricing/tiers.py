"""Tier prices the bundled genai-prices data lacks: a small table spendtag maintains.

genai-prices is the price source; this table only fills holes it has today, each entry
with the page it comes from and the day that page was read. The Pricer uses genai-prices'
own price whenever it has one, so an entry here never overrides the data; a test
(``tests/test_pricing_tiers.py``) fails as soon as genai-prices covers an entry, so it can
be dropped rather than kept in two places.

* :data:`FAST_MODE`: Anthropic fast mode (``usage.speed: "fast"``) as a multiple of the
  model's standard token rates, long-context tier included; per-request fees (web search)
  are not multiplied. genai-prices has fast prices for Opus 4.8 and later models only.
* :data:`EARLIER_TIERS`: providers whose tier prices in genai-prices start on the day
  genai-prices verified them, not on the day the provider introduced them. A call on an
  earlier day is priced with those rates while the model's standard price then was the
  same as on that day (the premium is a fixed multiple of it); otherwise it is not
  guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Premium:
    """A multiple of a model's standard token rates under one request modifier."""

    provider: str               # genai-prices provider id
    model: str                  # genai-prices model id (dated ids and aliases resolve to it)
    when: tuple[str, str]       # the modifier, e.g. ("speed", "fast")
    multiplier: Decimal
    source: str                 # where the figure is published
    checked: date               # when it was last read there

    @property
    def label(self) -> str:
        return f"spendtag tier table: {self.source}, checked {self.checked.isoformat()}"


@dataclass(frozen=True, slots=True)
class EarlierTier:
    """genai-prices' ``service_tier`` prices for ``provider`` also hold before their start date."""

    provider: str
    tiers: frozenset[str]       # service_tier values (after aliases: "fast" is "priority")
    source: str
    checked: date

    @property
    def label(self) -> str:
        return f"spendtag tier table: {self.source}, checked {self.checked.isoformat()}"


_FAST_MODE_PAGE = "https://platform.claude.com/docs/en/build-with-claude/fast-mode#pricing"

# Opus 4.6 and 4.7 fast mode: $30 / $150 per MTok against $5 / $25 standard (6x), cache
# multipliers on top. The same figure is in genai-prices' own OpenRouter entries
# (anthropic/claude-opus-4.6-fast, anthropic/claude-opus-4.7-fast) and in ccusage 20's
# fast-multiplier table; Opus 4.8 and later are 2x, which genai-prices carries itself.
FAST_MODE: tuple[Premium, ...] = (
    Premium("anthropic", "claude-opus-4-6", ("speed", "fast"), Decimal(6), _FAST_MODE_PAGE, date(2026, 12, 7)),
    Premium("anthropic", "claude-opus-4-7", ("speed", "fast"), Decimal(6), _FAST_MODE_PAGE, date(2026, 12, 7)),
)

# OpenAI's priority rates (openai.com/api-priority-processing) have not changed for any model
# listed on both the first and the latest version of that page; genai-prices models them
# (and flex) only from 2026-10-12, the day it verified them.
EARLIER_TIERS: tuple[EarlierTier, ...] = (
    EarlierTier("openai", frozenset({"priority", "flex"}),
                "https://openai.com/api-priority-processing/ and https://developers.openai.com/api/docs/pricing",
                date(2026, 12, 7)),
)

_PREMIUMS = {(p.provider, p.model, p.when): p for p in FAST_MODE}
_EARLIER = {(e.provider, tier): e for e in EARLIER_TIERS for tier in e.tiers}


def premium(provider: str, model: str, key: str, value: str) -> Premium | None:
    """The table's multiple for ``model`` (genai-prices ids) under ``key=value``, if any."""
    return _PREMIUMS.get((provider, model, (key, value)))


def earlier_tier(provider: str, tier: str) -> EarlierTier | None:
    """The table's entry saying ``provider``'s ``tier`` prices hold before genai-prices starts them."""
    return _EARLIER.get((provider, tier))
