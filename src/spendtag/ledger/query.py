"""What a report asks of a store: filters, a grouping, and the totals it gets back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import add as _plus
from typing import Any

from spendtag.errors import SpendtagError
from spendtag.periods import TIME_GROUPS
from spendtag.tags import Selector, matches_all
from spendtag.usage import COST_COMPONENTS, TOKEN_BUCKETS

# Dimensions every event has (possibly empty). "session" is kept on events only (it has too
# many values to roll up), so grouping or filtering by it reads the events table.
DIMENSIONS: tuple[str, ...] = ("provider", "model", "project", "agent", "key", "user", "source", "status")
EVENT_DIMENSIONS: tuple[str, ...] = (*DIMENSIONS, "session")

class QueryError(SpendtagError, ValueError):
    """A grouping or filter the ledger cannot answer."""


def check_group(key: str) -> str:
    """A group key: a dimension, a time group, or ``tag:<key>``."""
    if key in EVENT_DIMENSIONS or key in TIME_GROUPS or (key.startswith("tag:") and len(key) > 4):
        return key
    raise QueryError(f"cannot group by {key!r}")


@dataclass(frozen=True, slots=True)
class Filters:
    """Which events a query covers. Empty fields mean 'no condition'.

    ``project`` matches the path itself and everything under it (``~/clients/acme``
    covers ``~/clients/acme/api``).
    """

    since: datetime | None = None
    until: datetime | None = None
    tags: tuple[Selector, ...] = ()
    dims: Mapping[str, tuple[str, ...]] = field(default_factory=dict)   # dimension -> allowed values
    project: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in self.dims:
            if name not in EVENT_DIMENSIONS or name == "project":
                raise QueryError(f"cannot filter on {name!r}")

    def matches_dims(self, dims: Mapping[str, str], tags: Mapping[str, str]) -> bool:
        """True if an event with these dimensions and tags passes every condition but time and session.

        A model condition also takes the name the model resolves to in the price data, so
        ``claude-sonnet-4-5`` covers ``claude-sonnet-4-5-20250929`` (see pricing.identity).
        """
        for name, allowed in self.dims.items():
            if name == "session":
                continue
            value = dims.get(name, "")
            if value in allowed:
                continue
            if name == "model" and value:
                from spendtag.pricing.identity import model_name  # loads the price data: only when asked

                if model_name(dims.get("provider") or None, value) in allowed:
                    continue
            return False
        if self.project:
            path = dims.get("project", "")
            if not any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.project):
                return False
        return matches_all(self.tags, tags)


TOTAL_FIELDS: tuple[str, ...] = (
    "requests",
    "unpriced_requests",
    "estimated_requests",
    "error_requests",
    *TOKEN_BUCKETS,
    *(f"cost_{c}" for c in COST_COMPONENTS),
    "cost",
)


@dataclass(slots=True)
class Totals:
    """Sums over a set of events. Money fields are pico-USD ints."""

    values: list[int] = field(default_factory=lambda: [0] * len(TOTAL_FIELDS))

    def add(self, row: Sequence[int]) -> None:
        values = self.values
        if len(row) == len(values):
            values[:] = map(_plus, values, row)     # one pass in C: a report adds thousands of rows
            return
        for i, v in enumerate(row):
            values[i] += v

    def merge(self, other: Totals) -> None:
        self.add(other.values)

    def __getitem__(self, name: str) -> int:
        return self.values[_INDEX[name]]

    @property
    def requests(self) -> int:
        return self.values[0]

    @property
    def cost(self) -> int:
        return self.values[-1]

    @property
    def tokens(self) -> int:
        """Every token, input and output (reasoning is inside output, so not added again)."""
        return sum(self[b] for b in TOKEN_BUCKETS if b.endswith("_tokens") and b != "reasoning_tokens")

    def as_dict(self) -> dict[str, Any]:
        return dict(zip(TOTAL_FIELDS, self.values, strict=True))


_INDEX = {name: i for i, name in enumerate(TOTAL_FIELDS)}


@dataclass(slots=True)
class Aggregate:
    """One group of a grouped query: its key (one value per group key; None = absent) and totals."""

    key: tuple[str | None, ...]
    totals: Totals
