"""What each client would be invoiced for a period: the bill library's own ``run_all``, with the
configured terms, over the period's usage summed per client instead of read call by call.

An invoice's total depends only on sums: each client's cost, its credited usage, the distinct
values of a per-unit tag, its share of the untagged spend and the credits owed to it. So the
ledger ``run_all`` reads here answers ``events`` for one client of the period with one summed
call per (provider, source, credit tag, unit tags), from one rollup grouping, and the
untagged split from the same grouping; everything else goes to the real ledger. Line items are
not what an issued invoice would list (one summed call stands for many); totals are exact.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from spendtag.bill.build import Request, Run, run_all
from spendtag.bill.config import BillingConfig
from spendtag.ledger.query import Aggregate, Filters, Totals
from spendtag.ledger.store import Store
from spendtag.periods import Range
from spendtag.usage import Cost, PricedEvent, Usage, UsageEvent


def group_keys(config: BillingConfig) -> list[str]:
    """The grouping that holds every sum an invoice of ``config``'s terms needs."""
    units = {t.unit_key for t in (config.default, *config.clients.values()) if t.model == "per-unit" and t.unit_key}
    tags = [config.client_key, config.credit.key, *sorted(units)]
    # Not the model: an invoice's total does not depend on it, and it would multiply the groups.
    return ["provider", "source", *dict.fromkeys(f"tag:{k}" for k in tags)]


@dataclass(frozen=True, slots=True)
class Billable:
    """Each client's total due (a Decimal in cents) and its calls with no price (not in the total)."""

    due: dict[str, Decimal]
    unpriced: dict[str, int]


def billable(store: Store, config: BillingConfig, period: str, rng: Range, tz: ZoneInfo,
             rows: Sequence[Aggregate], keys: Sequence[str]) -> Billable:
    """``rows``: the unfiltered period grouped by ``keys`` (which include :func:`group_keys`)."""
    req = Request(period=period, range=rng, tz=tz, config=config, by=config.by, allocation=config.allocation)
    run: Run = run_all(_Summed(store, req, rows, keys), req)
    return Billable({inv.client: inv.total_due for inv in run.invoices},
                    {inv.client: sum(n for _, _, n in inv.unpriced) for inv in run.invoices if inv.unpriced})


class _Summed:
    """A ledger whose calls of the period are summed per group; any other question goes to ``store``."""

    def __init__(self, store: Store, req: Request, rows: Sequence[Aggregate], keys: Sequence[str]) -> None:
        self._store = store
        self._base = req.base
        self._client_key = req.config.client_key
        self._by_client: dict[str | None, list[PricedEvent]] = {}
        at = req.range.since or datetime(1970, 1, 1, tzinfo=UTC)
        where = {k: i for i, k in enumerate(keys)}
        # Only the keys an invoice needs (the rows may be split further, e.g. by model and agent).
        kept = [where[k] for k in group_keys(req.config) if k in where]
        summed: dict[tuple[str | None, ...], Totals] = {}
        for a in rows:
            summed.setdefault(tuple(a.key[i] for i in kept), Totals()).merge(a.totals)
        names = [keys[i] for i in kept]
        for n, (key, totals) in enumerate(summed.items()):
            values = dict(zip(names, key, strict=True))
            client = values[f"tag:{self._client_key}"]
            tags = {k[4:]: str(v) for k, v in values.items() if k.startswith("tag:") and v is not None}
            unpriced = totals["unpriced_requests"]
            calls = self._by_client.setdefault(client, [])
            for part, present in (("p", totals.requests > unpriced), ("u", unpriced > 0)):
                if not present:
                    continue
                cost = totals.cost if part == "p" else 0
                event = UsageEvent(event_id=f"summed-{n}-{part}", ts=at, provider=str(values["provider"]),
                                   model="(summed)", source=str(values["source"]),
                                   usage=Usage(input_tokens=totals.tokens if part == "p" else 0), tags=tags)
                calls.append(PricedEvent(event, Cost({"input_tokens": cost} if cost else {}, cost, None,
                                                     priced=part == "p")))

    def _one_client(self, filters: Filters) -> str | None:
        tags = filters.tags
        if (filters.since, filters.until) != (self._base.since, self._base.until) or filters.dims \
                or filters.project or len(tags) != 1 or tags[0].key != self._client_key or tags[0].op != "eq":
            return None
        return tags[0].value

    def events(self, filters: Filters, *, limit: int | None = None) -> Iterator[PricedEvent]:
        client = self._one_client(filters)
        if client is None:
            return self._store.events(filters, limit=limit)
        return iter(self._by_client.get(client, []))

    def aggregate(self, filters: Filters, by: Sequence[str] = (), tz: ZoneInfo | None = None, *,
                  fields: Sequence[str] | None = None) -> list[Aggregate]:
        if filters == self._base and list(by) == [f"tag:{self._client_key}"]:
            out = []
            for client, calls in self._by_client.items():
                t = Totals()
                t.values[-1] = sum(c.cost.total for c in calls)
                out.append(Aggregate((client,), t))
            return out
        return self._store.aggregate(filters, by, tz, fields=fields)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

