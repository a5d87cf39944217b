"""Event exports for invoices and spreadsheets: one row per call, money as exact decimals.

CSV cells that a spreadsheet would run as a formula (starting with ``= + - @``, a tab or a
carriage return) are prefixed with a single quote. Only text that came from outside is
neutralised; numbers spendtag writes itself are left as numbers.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

from spendtag.ledger.query import Filters
from spendtag.ledger.store import Store
from spendtag.money import exact_str
from spendtag.usage import COST_COMPONENTS, TOKEN_BUCKETS, PricedEvent

FORMATS = ("csv", "json", "jsonl")
BASE_COLUMNS = ("event_id", "time_utc", "provider", "model", "project", "session", "agent", "key", "user",
                "source", "status")
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """A text cell a spreadsheet will show as text, never evaluate."""
    return "'" + cell if cell.startswith(_DANGEROUS) else cell


def columns(tag_keys: Iterable[str]) -> list[str]:
    return [
        *BASE_COLUMNS,
        *(f"tag:{k}" for k in sorted(tag_keys)),
        *TOKEN_BUCKETS,
        *(f"cost_{c}" for c in COST_COMPONENTS),
        "cost_usd",
        "priced",
        "estimated",
        "service_tier",
        "price_model",
        "price_date",
        "price_source",
        "price_note",
        "price_rates",
    ]


def row(priced: PricedEvent, tag_keys: Iterable[str]) -> dict[str, Any]:
    """One event as a flat record: ints for counts, exact decimal strings for money."""
    e, c = priced.event, priced.cost
    out: dict[str, Any] = {
        "event_id": e.event_id,
        "time_utc": e.ts.isoformat().replace("+00:00", "Z"),
        "provider": e.provider,
        "model": e.model,
        "project": e.project or "",
        "session": e.session or "",
        "agent": e.agent or "",
        "key": e.key or "",
        "user": e.user or "",
        "source": e.source,
        "status": e.status,
    }
    for k in sorted(tag_keys):
        out[f"tag:{k}"] = e.tags.get(k, "")
    for b in TOKEN_BUCKETS:
        out[b] = getattr(e.usage, b)
    for comp in COST_COMPONENTS:
        out[f"cost_{comp}"] = exact_str(c.components.get(comp, 0))
    out["cost_usd"] = exact_str(c.total) if c.priced else ""
    out["priced"] = c.priced
    out["estimated"] = e.usage.estimated
    out["service_tier"] = e.usage.service_tier or ""
    p = c.price
    out["price_model"] = p.model if p else ""
    out["price_date"] = p.price_date if p else ""
    out["price_source"] = p.source if p else ""
    out["price_note"] = p.note if p else ""
    out["price_rates"] = json.dumps(dict(sorted(p.rates.items()))) if p else ""
    return out


def _csv_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return neutralise(str(value))


def chunks(store: Store, filters: Filters, fmt: str, *, events: Iterable[PricedEvent] | None = None,
           size: int = 1000) -> Iterator[str]:
    """The export as pieces of text (``size`` events each), for a file or an HTTP response."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    tag_keys = store.tag_keys(filters)
    source = store.events(filters) if events is None else events
    buf = io.StringIO()
    cols = columns(tag_keys)
    writer = csv.writer(buf, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(cols)
    elif fmt == "json":
        buf.write("[")
    for n, priced in enumerate(source, 1):
        record = row(priced, tag_keys)
        if fmt == "csv":
            writer.writerow([_csv_value(record[c]) for c in cols])
        elif fmt == "jsonl":
            buf.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            buf.write(("," if n > 1 else "") + "\n" + json.dumps(record, ensure_ascii=False))
        if n % size == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    if fmt == "json":
        buf.write("\n]\n")
    yield buf.getvalue()


def cost_bounded(store: Store, filters: Filters, min_cost: int | None, max_cost: int | None,
                 page: int = 5000) -> Iterator[PricedEvent]:
    """Events passing ``filters`` whose cost is within the bounds (inclusive), oldest first."""
    offset = 0
    while True:
        found = store.event_page(filters, order="ts", offset=offset, limit=page, min_cost=min_cost,
                                 max_cost=max_cost).events
        yield from found
        if len(found) < page:
            return
        offset += page


def write(store: Store, filters: Filters, fmt: str, out: IO[str]) -> int:
    """Write every event that passes ``filters`` to ``out``; return how many."""
    n = 0

    def counted() -> Iterator[PricedEvent]:
        nonlocal n
        for priced in store.events(filters):
            n += 1
            yield priced

    for piece in chunks(store, filters, fmt, events=counted()):
        out.write(piece)
    return n
