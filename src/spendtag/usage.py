"""The event model every capture path produces and every report reads.

A :class:`Usage` holds **disjoint** token buckets: no token is in two of them, so a cost is
the plain sum of bucket x rate and no bucket is ever counted twice. Providers report usage
with overlapping fields (OpenAI's ``prompt_tokens`` includes cached tokens, Anthropic's
``input_tokens`` does not); the parsers in :mod:`spendtag.capture` undo those overlaps.

A :class:`UsageEvent` is one call. Its ``event_id`` is the idempotency key: recording the
same id twice changes nothing. A :class:`PricedEvent` adds the :class:`Cost`, which
carries the price it used so that an invoice can be reproduced after prices change.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, Literal, NamedTuple

from spendtag.bounds import MAX_COUNT, check_cost, clean_text
from spendtag.errors import UsageFormatError

# Token buckets, in display order. All are disjoint except ``reasoning_tokens`` (info only,
# a subset of ``output_tokens``) and the two request counters.
TOKEN_BUCKETS: tuple[str, ...] = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
    "web_search_requests",
    "web_fetch_requests",
)
# Buckets that are billed (reasoning is inside output; web fetches have no fee of their own).
BILLED_TOKEN_BUCKETS: tuple[str, ...] = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
)

# Cost components, in pico-USD: the billed buckets, per-request fees, and a cost the
# provider reported itself (OpenRouter), used instead of list prices.
COST_COMPONENTS: tuple[str, ...] = (*BILLED_TOKEN_BUCKETS, "web_search_requests", "request_fee", "reported")

Status = Literal["ok", "error", "aborted"]
STATUSES: tuple[str, ...] = ("ok", "error", "aborted")


@dataclass(frozen=True, slots=True)
class Usage:
    """Disjoint usage of one call, plus the response-side modifiers that change its price."""

    input_tokens: int = 0            # uncached text input (tool results fed back included)
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0   # cache writes with a 5-minute (or unknown) TTL
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0           # billable output, reasoning included, audio excluded
    reasoning_tokens: int = 0        # informational: a subset of output_tokens
    input_audio_tokens: int = 0
    output_audio_tokens: int = 0
    web_search_requests: int = 0     # billed per request on top of tokens
    web_fetch_requests: int = 0
    service_tier: str | None = None  # as the *response* reports it: standard, batch, flex, priority...
    inference_geo: str | None = None
    speed: str | None = None
    estimated: bool = False          # some counts are estimates (stream cut before its usage arrived)
    reported_cost: int | None = None  # pico-USD the provider itself billed (OpenRouter's `cost`), if any

    def __post_init__(self) -> None:
        for value in _bucket_values(self):
            if type(value) is not int or value < 0:
                for name in TOKEN_BUCKETS:
                    value = getattr(self, name)
                    if type(value) is not int or value < 0:
                        raise UsageFormatError(f"{name} must be a non-negative integer, got {value!r}")
        if self.reasoning_tokens > self.output_tokens:
            raise UsageFormatError(
                f"reasoning_tokens ({self.reasoning_tokens}) cannot exceed output_tokens "
                f"({self.output_tokens}): reasoning is part of output"
            )
        for name in _TEXT_FIELDS:
            text = getattr(self, name)
            if text is not None and not text.isascii():
                object.__setattr__(self, name, clean_text(text))

    @property
    def total_input_tokens(self) -> int:
        """Every input token, cached or not (the figure long-context tiers are judged on)."""
        return (self.input_tokens + self.cache_read_tokens + self.cache_write_5m_tokens
                + self.cache_write_1h_tokens + self.input_audio_tokens)

    @property
    def total_tokens(self) -> int:
        return self.total_input_tokens + self.output_tokens + self.output_audio_tokens

    def replace(self, **changes: Any) -> Usage:
        """A copy with ``changes``, validated as a new Usage (``dataclasses.replace``, a third of the cost)."""
        values = {name: getattr(self, name) for name, _ in _USAGE_DEFAULTS}
        for name in changes:
            if name not in values:
                raise TypeError(f"Usage has no field {name!r}")
        values.update(changes)
        return Usage(**values)

    def checked(self) -> Usage:
        """This usage, if every count and the reported cost are within :mod:`spendtag.bounds`.

        Readers call it where they decode a call (the provider parsers check each count as
        they read it); a Usage read back from the ledger, or a sum of many, is not bound.
        """
        for name, value in zip(TOKEN_BUCKETS, _bucket_values(self), strict=True):
            if value > MAX_COUNT:
                raise UsageFormatError(f"{name} is {value}, above the bound of {MAX_COUNT:.0e} per call")
        if self.reported_cost is not None:
            check_cost(self.reported_cost, "the reported cost")
        return self

    def as_dict(self) -> dict[str, Any]:
        """Non-default fields only, for compact JSON."""
        out: dict[str, Any] = {}
        for name, default in _USAGE_DEFAULTS:
            value = getattr(self, name)
            if value != default:
                out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        """From normalised bucket names (as written by :meth:`as_dict`); unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise UsageFormatError(
                f"unknown usage field(s) {', '.join(sorted(unknown))}; expected some of {', '.join(sorted(known))}"
            )
        return cls(**dict(data)).checked()

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{name: getattr(self, name) + getattr(other, name) for name in TOKEN_BUCKETS})


_TEXT_FIELDS = ("service_tier", "inference_geo", "speed")
_USAGE_DEFAULTS: tuple[tuple[str, Any], ...] = tuple((f.name, f.default) for f in dataclasses.fields(Usage))
_bucket_values = attrgetter(*TOKEN_BUCKETS)     # every bucket's value at once (validating each call's Usage)


@dataclass(frozen=True, slots=True)
class PriceRef:
    """The price a cost was computed with: enough to reproduce it, and to explain it."""

    provider: str
    model: str                      # the price source's model id (may differ from the reported model)
    rates: Mapping[str, str]        # bucket -> USD per unit as a decimal string (per token, per request)
    price_date: str                 # the event's own date the rates were resolved for (YYYY-MM-DD)
    source: str                     # e.g. "genai-prices 0.2.3", or "override:3"
    note: str = ""                  # e.g. "batch variant", "long context tier >200k", "x0.85 override #2"


@dataclass(frozen=True, slots=True)
class Cost:
    """A priced call, in pico-USD per component. ``total`` is their exact sum."""

    components: Mapping[str, int]   # bucket -> pico-USD (only non-zero ones need be present)
    total: int
    price: PriceRef | None          # unpriced: None for an unknown model, else a PriceRef whose note says why
    priced: bool = True

    def __post_init__(self) -> None:
        if sum(self.components.values()) != self.total:
            raise ValueError("cost components must sum to the total")

    @classmethod
    def unpriced(cls) -> Cost:
        return cls(components={}, total=0, price=None, priced=False)


def new_event_id() -> str:
    """A new unique id that sorts by creation time (the UUIDv7 layout).

    Time-ordered ids land at the end of the ledger's id index, which keeps recording fast
    (random ids scatter inserts across it).
    """
    ms = time.time_ns() // 1_000_000
    rand = _random_bits()
    value = (ms & 0xFFFFFFFFFFFF) << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62 | (rand & 0x3FFFFFFFFFFFFFFF)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _random_bits() -> int:
    """74 random bits from the process's generator (reseeded after a fork; ids must be unique,
    not secret), without a system call per id."""
    global _getrandbits
    if _getrandbits is None:
        from random import getrandbits  # not at module level: start-up time the status line cannot spare

        _getrandbits = getrandbits
    return _getrandbits(74)


_getrandbits: Callable[[int], int] | None = None


def utc(ts: datetime) -> datetime:
    """An aware UTC datetime; naive datetimes are taken as UTC."""
    tz = ts.tzinfo
    if tz is UTC:
        return ts
    if tz is None:
        return ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


@dataclass(slots=True)
class UsageEvent:
    """One LLM call, as any capture path sees it. See the module docstring for the contract."""

    event_id: str
    ts: datetime
    provider: str
    model: str
    usage: Usage
    tags: dict[str, str] = field(default_factory=dict)
    project: str | None = None
    session: str | None = None
    agent: str | None = None
    key: str | None = None          # virtual key id (never the key itself)
    user: str | None = None
    source: str = "api"             # proxy, sdk, claude-code, codex, otlp, pull, cli, ingest, demo...
    status: Status = "ok"
    response_id: str | None = None  # the provider's own id, kept as information

    def __post_init__(self) -> None:
        self.ts = utc(self.ts)
        if not self.event_id:
            raise UsageFormatError("event_id must not be empty")
        if self.status not in STATUSES:
            raise UsageFormatError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        # Text is valid UTF-8 before anything stores it: lone surrogates (from a JSON escape
        # or bytes decoded with surrogateescape) become U+FFFD here, for every reader.
        for name in _EVENT_TEXT:
            text = getattr(self, name)
            if text is not None and not text.isascii():
                setattr(self, name, clean_text(text))
        tags = self.tags
        if tags and not all(k.isascii() and v.isascii() for k, v in tags.items()):
            self.tags = {clean_text(k): clean_text(v) for k, v in tags.items()}


_EVENT_TEXT = ("event_id", "provider", "model", "project", "session", "agent", "key", "user", "source",
               "response_id")


@dataclass(slots=True)
class PricedEvent:
    """A :class:`UsageEvent` with its :class:`Cost`: what the ledger stores."""

    event: UsageEvent
    cost: Cost


class SessionTitle(NamedTuple):
    """What a session is about, as an agent-log reader found it (``ReadResult.titles``).

    ``kind`` says how sure it is: ``"summary"`` is the agent's own title for the session
    (Claude Code's ``summary`` lines): it replaces whatever the session had, a later one an
    earlier one. ``"prompt"`` is the opening words of the session's first user prompt: kept
    only when the session has no title yet.
    """

    text: str
    kind: str


TITLE_KINDS = ("summary", "prompt")
TITLE_LENGTH = 60       # a prompt's opening words: about this many characters


def title_from_prompt(text: str) -> str | None:
    """A prompt's opening words as a title: one line of at most TITLE_LENGTH characters, cut at a word."""
    words = " ".join(text.split())
    if not words:
        return None
    if len(words) <= TITLE_LENGTH:
        return words
    cut = words[:TITLE_LENGTH + 1].rsplit(" ", 1)[0] if " " in words[:TITLE_LENGTH + 1] else words[:TITLE_LENGTH]
    return cut[:TITLE_LENGTH].rstrip(" ,.;:") + "…"
