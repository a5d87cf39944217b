"""The price book: user overrides on top of list prices.

An override is either a **rate card** (replacement prices, for custom, fine-tuned or local
models) or a **multiplier** (a negotiated discount on whatever was resolved), valid for a
UTC date range and optionally scoped to tags. When several overrides of one kind match an
event, the later one in the book wins.

An override's model (an id or a glob) matches the model a call reported and the name that id
resolves to in the price data (:func:`spendtag.pricing.identity.model_name`), so an override
on ``claude-sonnet-4-5`` covers ``claude-sonnet-4-5-20250929`` and ``claude-sonnet-4.5``; one
on a dated id covers that id only.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from spendtag.errors import ConfigError, PricingError, TagError, did_you_mean
from spendtag.providers import normalise as canonical_provider
from spendtag.tags import Selector
from spendtag.usage import BILLED_TOKEN_BUCKETS, UsageEvent

# Buckets a rate card may price: tokens in USD per million, web searches in USD per thousand.
# Reasoning tokens are output tokens: a card without a reasoning rate bills them as output.
CARD_BUCKETS: tuple[str, ...] = (*BILLED_TOKEN_BUCKETS, "reasoning_tokens", "web_search_requests")
# Config key -> card bucket.
_CONFIG_RATE_KEYS: dict[str, str] = {
    "input": "input_tokens",
    "cache_read": "cache_read_tokens",
    "cache_write_5m": "cache_write_5m_tokens",
    "cache_write": "cache_write_5m_tokens",
    "cache_write_1h": "cache_write_1h_tokens",
    "output": "output_tokens",
    "input_audio": "input_audio_tokens",
    "output_audio": "output_audio_tokens",
    "reasoning": "reasoning_tokens",
    "web_search": "web_search_requests",
}
_CONFIG_OTHER_KEYS = ("id", "model", "provider", "multiplier", "from", "until", "scope", "note")


@dataclass(frozen=True)
class PriceOverride:
    """One override. Exactly one of ``rates`` (a replacement card) or ``multiplier`` is set.

    ``rates`` maps a bucket name to USD per **million** tokens, or per **thousand** requests
    for ``web_search_requests``. A card prices only the buckets it names: an event with
    tokens in a bucket the card leaves out is unpriced (an explicit 0 means free).
    """

    id: int | None
    model: str
    provider: str | None = None
    rates: Mapping[str, Decimal] | None = None
    multiplier: Decimal | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    scope: tuple[Selector, ...] = ()
    note: str = ""

    def __post_init__(self) -> None:
        if not self.model:
            raise PricingError("price override needs a model (an exact id or a glob such as 'ft:gpt-4o*')")
        if (self.rates is None) == (self.multiplier is None):
            raise PricingError(
                f"price override for {self.model!r} must set exactly one of rates (a rate card) or multiplier"
            )
        if self.rates is not None:
            unknown = set(self.rates) - set(CARD_BUCKETS)
            if unknown:
                raise PricingError(
                    f"price override for {self.model!r}: unknown bucket(s) {', '.join(sorted(unknown))}; "
                    f"use some of {', '.join(CARD_BUCKETS)}"
                )
            for bucket, value in self.rates.items():
                _check_amount(value, f"price override for {self.model!r}: rate for {bucket}")
        if self.multiplier is not None:
            _check_amount(self.multiplier, f"price override for {self.model!r}: multiplier")
        if self.valid_from and self.valid_until and self.valid_from >= self.valid_until:
            raise PricingError(
                f"price override for {self.model!r}: valid_from {self.valid_from} must be before "
                f"valid_until {self.valid_until} (valid_until is exclusive)"
            )

    @property
    def label(self) -> str:
        return f"override #{self.id}" if self.id is not None else f"override {self.model}"

    def applies_to(self, provider: str, model: str, name: str | None = None) -> bool:
        """Does the model/provider part match (dates and scope aside)? ``name``: the model's resolved name."""
        if self.provider is not None:
            wanted = self.provider.strip().lower()
            if wanted not in (provider.strip().lower(), canonical_provider(provider)):
                return False
        pattern = self.model.lower()
        return fnmatch.fnmatchcase(model.lower(), pattern) or (
            name is not None and fnmatch.fnmatchcase(name.lower(), pattern))

    def active_on(self, day: date) -> bool:
        if self.valid_from is not None and day < self.valid_from:
            return False
        return self.valid_until is None or day < self.valid_until


def parse_rate(name: str, value: str | None) -> Decimal | None:
    """A rate or multiplier as typed (``--input 3``, a form field): a number from 0 to 1,000,000, or None."""
    if value is None or not value.strip():
        return None
    try:
        result = Decimal(value.strip())
    except InvalidOperation:
        raise PricingError(f"{name} {value[:80]!r} is not a number") from None
    if not result.is_finite() or not 0 <= result <= 1_000_000:
        raise PricingError(f"{name} must be a number from 0 to 1,000,000")
    return result


def override_from_text(model: str, *, provider: str | None = None, rates: Mapping[str, str | None] | None = None,
                       multiplier: str | None = None, valid_from: date | None = None,
                       valid_until: date | None = None, scope: Iterable[str] = (), note: str = "",
                       label: Callable[[str], str] = lambda key: key) -> PriceOverride:
    """An override from typed values: ``rates`` keyed like the config file (input, cache_read, output...).

    ``label`` names a field in an error (``--cache-read`` for the command line).
    """
    card: dict[str, Decimal] = {}
    for key, text in (rates or {}).items():
        if key not in _CONFIG_RATE_KEYS:
            raise PricingError(f"unknown rate {key!r}; use some of {', '.join(_CONFIG_RATE_KEYS)}")
        found = parse_rate(label(key), text)
        if found is not None:
            card[_CONFIG_RATE_KEYS[key]] = found
    return PriceOverride(id=None, model=model.strip(), provider=(provider or "").strip() or None,
                         rates=card or None, multiplier=parse_rate(label("multiplier"), multiplier),
                         valid_from=valid_from, valid_until=valid_until,
                         scope=tuple(Selector.parse(s) for s in scope if s.strip()), note=note)


def _check_amount(value: object, what: str) -> None:
    if not isinstance(value, Decimal):
        raise PricingError(f"{what} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite() or value < 0:
        raise PricingError(f"{what} must be a finite non-negative number, got {value}")


class PriceBook:
    """An ordered collection of overrides; later overrides win over earlier ones."""

    def __init__(self, overrides: Iterable[PriceOverride] = ()) -> None:
        self.overrides: tuple[PriceOverride, ...] = tuple(overrides)
        self._candidates: dict[tuple[str, str], tuple[PriceOverride, ...]] = {}

    def __len__(self) -> int:
        return len(self.overrides)

    def candidates(self, provider: str, model: str, name: str | None = None) -> tuple[PriceOverride, ...]:
        """Overrides whose provider and model (or its resolved ``name``) match, latest first (cached)."""
        key = (provider, model)
        found = self._candidates.get(key)
        if found is None:
            found = tuple(o for o in reversed(self.overrides) if o.applies_to(provider, model, name))
            self._candidates[key] = found
        return found

    def match(self, event: UsageEvent, name: str | None = None) -> tuple[PriceOverride | None, PriceOverride | None]:
        """The (rate card, multiplier) that apply to ``event``, whose model resolves to ``name``; either may be None."""
        candidates = self.candidates(event.provider, event.model, name)
        if not candidates:
            return None, None
        day = event.ts.date()
        card: PriceOverride | None = None
        multiplier: PriceOverride | None = None
        for override in candidates:
            if not override.active_on(day):
                continue
            if override.scope and not all(s.matches(event.tags) for s in override.scope):
                continue
            if override.rates is not None:
                card = card or override
            else:
                multiplier = multiplier or override
            if card and multiplier:
                break
        return card, multiplier

    @classmethod
    def from_config(cls, entries: list[Mapping[str, Any]], *, path: str = "config") -> PriceBook:
        """Build from config tables such as ``{model="ft:gpt-4o*", input=3.75, output=15}``.

        Rates are USD per million tokens (``web_search`` per thousand requests); numbers may
        be strings, ints or TOML floats (read through ``str()``, never float arithmetic).
        """
        if not isinstance(entries, list):
            raise ConfigError("prices must be a list of tables", path=path, key="prices",
                              fix='write each override as a [[prices]] table with model = "..."')
        return cls(_entry(i + 1, entry, path) for i, entry in enumerate(entries))


def _entry(n: int, entry: Mapping[str, Any], path: str) -> PriceOverride:
    where = ""

    def fail(message: str, fix: str, key: str | None = None) -> ConfigError:
        return ConfigError(f"price override #{n}{where}: {message}", path=path,
                           key=("prices", n - 1, *((key,) if key else ())), fix=fix)

    if not isinstance(entry, Mapping):
        raise fail("must be a table", 'write it as {model = "...", input = 3.0, output = 15.0}')
    if isinstance(entry.get("model"), str):
        where = f" (model {entry['model']!r})"
    known = set(_CONFIG_RATE_KEYS) | set(_CONFIG_OTHER_KEYS)
    unknown = sorted(set(entry) - known)
    if unknown:
        raise fail(f"unknown key(s) {', '.join(unknown)}", did_you_mean(unknown[0], sorted(known)), unknown[0])
    model = entry.get("model")
    if not isinstance(model, str) or not model.strip():
        raise fail("model is missing", 'add model = "exact-id" or a glob such as "ft:gpt-4o*"', "model")
    provider = entry.get("provider")
    if provider is not None and (not isinstance(provider, str) or not provider.strip()):
        raise fail("provider must be a non-empty string",
                   'write provider = "openai", or leave it out for any provider', "provider")
    if "cache_write" in entry and "cache_write_5m" in entry:
        raise fail("both cache_write and cache_write_5m given", "keep cache_write_5m only", "cache_write")
    rates = {bucket: _number(entry[key], key, fail)
             for key, bucket in _CONFIG_RATE_KEYS.items() if key in entry}
    multiplier = _number(entry["multiplier"], "multiplier", fail) if "multiplier" in entry else None
    if rates and multiplier is not None:
        raise fail("has both rates and a multiplier",
                   "split it into two entries, a rate card and a multiplier (the multiplier applies on top)")
    if not rates and multiplier is None:
        raise fail("sets no price", 'add rates (input = 3.0, output = 15.0, per MTok) or multiplier = "0.85"')
    override_id = entry.get("id", n)
    if type(override_id) is not int:
        raise fail("id must be an integer", "write id = 7, or leave it out to number entries in order", "id")
    note = entry.get("note", "")
    if not isinstance(note, str):
        raise fail("note must be a string", 'write note = "negotiated discount"', "note")
    try:
        return PriceOverride(
            id=override_id,
            model=model.strip(),
            provider=provider.strip().lower() if isinstance(provider, str) else None,
            rates=rates or None,
            multiplier=multiplier,
            valid_from=_day(entry.get("from"), "from", fail),
            valid_until=_day(entry.get("until"), "until", fail),
            scope=_scope(entry.get("scope"), fail),
            note=note,
        )
    except PricingError as exc:
        raise fail(str(exc), "correct the values above") from None


# The largest rate (USD per million tokens, or per thousand requests) or multiplier an override
# may set: far above any real price, and small enough that no cost made with it leaves exact arithmetic.
_MOST = Decimal(1_000_000)


def _number(value: object, key: str, fail: Any) -> Decimal:
    if isinstance(value, bool):
        raise fail(f"{key} must be a number, got a boolean", f'write {key} = "1.25"', key)
    if isinstance(value, float):
        value = str(value)  # TOML floats: their shortest repr, never binary arithmetic
    if isinstance(value, int | str | Decimal):
        try:
            number = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            number = Decimal("NaN")
        if number.is_finite() and 0 <= number <= _MOST:
            return number
    shown = value if not isinstance(value, str) or len(value) <= 60 else value[:60] + "…"
    raise fail(f"{key} must be a non-negative number up to {_MOST:,}, got {shown!r}",
               f'write {key} = "1.25" (a number or a string)', key)


def _day(value: object, key: str, fail: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        raise fail(f"{key} must be a date, not a date-time", f"write {key} = {value.date().isoformat()}", key)
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise fail(f"{key} must be a date such as 2026-01-01, got {value!r}", f'write {key} = "2026-01-01"', key)


def _scope(value: object, fail: Any) -> tuple[Selector, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise fail("scope must be a list of tag selectors", 'write scope = ["client=acme"]', "scope")
    try:
        return tuple(Selector.parse(s) for s in items)
    except TagError as exc:
        raise fail(f"bad scope: {exc}", 'write scope = ["client=acme", "env!=dev"]', "scope") from None
