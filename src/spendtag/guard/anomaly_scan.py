"""Anomaly detection over the ledger: hourly spend and calls per scope, judged against each scope's own past."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from spendtag.guard.anomalies import Anomaly, Settings, detect
from spendtag.ledger.query import Filters
from spendtag.ledger.store import Store
from spendtag.periods import zone
from spendtag.report.breakdown import group_key

Series = dict[datetime, tuple[int, int]]
MANUAL_SOURCE = "manual"


def hourly(store: Store, by: str, since: datetime, until: datetime) -> dict[str, Series]:
    """Per scope value: UTC hour -> (cost in pico-USD, calls)."""
    key = group_key(by)
    out: dict[str, Series] = {}
    for a in store.aggregate(Filters(since=since, until=until), [key, "hour", "source"], zone("UTC")):
        scope, label, source = a.key
        if source == MANUAL_SOURCE:
            continue   # fixed costs (record-cost) are stated amounts, not usage: never an anomaly
        hour = datetime.strptime(label or "", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        points = out.setdefault(scope or "(none)", {})
        cost, calls = points.get(hour, (0, 0))
        points[hour] = (cost + a.totals.cost, calls + a.totals.requests)
    return out


def find_anomalies(store: Store, by: str, *, now: datetime, recent: timedelta, history: timedelta,
                   settings: Settings | None = None) -> list[Anomaly]:
    """Anomalies in the last ``recent`` hours, each scope against its own preceding ``history``."""
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    split = end - recent
    series = hourly(store, by, split - history, end)
    found: list[Anomaly] = []
    for scope, points in sorted(series.items()):
        past = {h: v for h, v in points.items() if h < split}
        latest = {h: v for h, v in points.items() if h >= split}
        if latest:
            found.extend(detect(past, latest, scope=f"{by}={scope}", settings=settings or Settings()))
    return sorted(found, key=lambda a: (a.hour, a.scope))
