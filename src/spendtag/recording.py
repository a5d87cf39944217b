"""Recording: price events and write them to the ledger, in batches, idempotently.

This is the one path every capture route uses to reach the ledger (``record``, ``ingest``,
``demo``; later the proxy and importers), so pricing and idempotency work the same way
everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from spendtag.bounds import check_time
from spendtag.capture.parsers import parse_response, parse_usage
from spendtag.errors import UsageFormatError
from spendtag.ledger.store import RecordResult, Store
from spendtag.pricing import PriceBook, PriceOverride
from spendtag.settings import Settings
from spendtag.tags import check_tags
from spendtag.usage import PricedEvent, Usage, UsageEvent, new_event_id, utc

if TYPE_CHECKING:
    from spendtag.pricing.pricer import Pricer

BATCH_SIZE = 5_000


def price_book(store: Store, settings: Settings | None) -> PriceBook:
    """Config-file overrides first, then the ledger's own (later ones win when several match)."""
    overrides: list[PriceOverride] = []
    if settings is not None and settings.sections.get("prices"):
        overrides.extend(PriceBook.from_config(settings.sections["prices"], path=str(settings.config_path))
                         .overrides)
    overrides.extend(store.price_overrides())
    return PriceBook(overrides)


@dataclass
class IngestStats:
    inserted: int = 0
    duplicates: int = 0
    skipped: int = 0                          # lines with nothing billable
    malformed: int = 0
    problems: list[str] = field(default_factory=list)   # "line 12: not JSON (...)", first few only

    def note(self, where: str, message: str) -> None:
        self.malformed += 1
        if len(self.problems) < 20:
            self.problems.append(f"{where}: {message}")


class Recorder:
    """Prices events and records them. One per store; cheap to keep for a process's life."""

    def __init__(self, store: Store, pricer: Pricer | None = None) -> None:
        from spendtag.pricing.pricer import Pricer

        self.store = store
        self.pricer = pricer or Pricer(PriceBook(store.price_overrides()))

    def record(self, events: Iterable[UsageEvent]) -> RecordResult:
        """Price and record in batches, each its own transaction (a crash keeps whole batches).

        (A writer thread overlapping pricing with writing was measured slower: both halves
        hold the interpreter lock most of the time.)
        """
        inserted = duplicates = 0
        for batch in _batches(events, BATCH_SIZE):
            result = self.store.record(self.pricer.price_many(batch))
            inserted += result.inserted
            duplicates += result.duplicates
        return RecordResult(inserted, duplicates)

    def record_one(self, event: UsageEvent) -> tuple[PricedEvent, bool]:
        """Record one event; returns it priced and whether it was new."""
        priced = PricedEvent(event, self.pricer.price(event))
        result = self.store.record([priced])
        return priced, result.inserted == 1


def _batches(items: Iterable[UsageEvent], size: int) -> Iterator[list[UsageEvent]]:
    batch: list[UsageEvent] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def build_event(
    provider: str,
    model: str | None,
    usage: Mapping[str, Any] | Usage,
    *,
    tags: Mapping[str, str] | None = None,
    project: str | None = None,
    session: str | None = None,
    agent: str | None = None,
    key: str | None = None,
    user: str | None = None,
    event_id: str | None = None,
    ts: datetime | None = None,
    source: str = "api",
    status: str = "ok",
) -> UsageEvent:
    """An event from a provider's own usage JSON (or a whole response body, or a ``Usage``).

    Event id: the one given; else the provider response's own id when the JSON is a whole
    response that has one (prefixed with the provider); else a new unique id.
    """
    response_id = None
    if isinstance(usage, Usage):
        parsed_usage = usage.checked()
    elif _is_response(usage):
        parsed = parse_response(provider, usage)
        if parsed.usage is None:
            raise UsageFormatError("the response has no usage to record")
        parsed_usage, response_id = parsed.usage, parsed.response_id
        model = model or parsed.model
        provider = parsed.provider
    else:
        parsed_usage = parse_usage(provider, usage)
    if not model:
        raise UsageFormatError("a model is needed (pass --model, or a response body that names it)")
    if event_id is None:
        event_id = f"{provider}:{response_id}" if response_id else new_event_id()
    return UsageEvent(
        event_id=event_id,
        ts=check_time(utc(ts), "--ts") if ts else datetime.now(UTC),
        provider=provider,
        model=model,
        usage=parsed_usage,
        tags=check_tags(dict(tags or {})),
        project=project,
        session=session,
        agent=agent,
        key=key,
        user=user,
        source=source,
        status=status,  # type: ignore[arg-type]
        response_id=response_id,
    )


def _is_response(data: Mapping[str, Any]) -> bool:
    return ("usage" in data and isinstance(data.get("usage"), Mapping)) or "usageMetadata" in data
