"""The ``Store`` protocol: everything above the ledger talks to storage through it.

One contract test suite (``tests/test_store_contract.py``) runs against every
implementation, so SQLite and PostgreSQL give the same numbers.

The contract, in words:

* ``record`` is idempotent on ``event_id``: an id already in the ledger (or repeated in the
  same batch, where the first copy wins) is counted as a duplicate and changes nothing.
  A batch is one transaction: after a crash either all of it is there or none.
* The ledger is append-only: events are never updated or deleted by these methods.
* ``aggregate`` sums exactly (integers) and its groups partition the filtered events: the
  sum over any grouping equals the ungrouped total.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from spendtag.ledger.query import Aggregate, Filters
from spendtag.pricing import PriceOverride
from spendtag.usage import PricedEvent


@dataclass(frozen=True, slots=True)
class RecordResult:
    inserted: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class ModelUse:
    provider: str
    model: str
    requests: int
    unpriced_requests: int
    first: datetime
    last: datetime


class Store(Protocol):
    url: str

    def record(self, events: Iterable[PricedEvent]) -> RecordResult: ...

    def aggregate(self, filters: Filters, by: Sequence[str] = (), tz: ZoneInfo | None = None) -> list[Aggregate]: ...

    def events(self, filters: Filters, *, limit: int | None = None) -> Iterator[PricedEvent]: ...

    def get_event(self, event_id: str) -> PricedEvent | None: ...

    def tag_keys(self, filters: Filters) -> list[str]: ...

    def count(self) -> int: ...

    def time_span(self) -> tuple[datetime, datetime] | None: ...

    def models(self) -> list[ModelUse]: ...

    def add_price_override(self, override: PriceOverride) -> int: ...

    def price_overrides(self) -> list[PriceOverride]: ...

    def remove_price_override(self, override_id: int) -> bool: ...

    def close(self) -> None: ...
