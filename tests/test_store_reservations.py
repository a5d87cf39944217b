"""Store contract for shared budget reservations (proxy replicas), for every implementation."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from conftest import make_event

from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.ledger.reservation_tables import BudgetCheck
from spendtag.ledger.store import Store
from spendtag.tags import Selector

NOW = datetime(2026, 3, 14, 10, tzinfo=UTC)
LATER = NOW + timedelta(seconds=30)
MARCH = Filters(since=datetime(2026, 3, 1, tzinfo=UTC), until=datetime(2026, 4, 1, tzinfo=UTC),
                tags=(Selector.parse("client=acme"),))


def check(stop: int) -> BudgetCheck:
    return BudgetCheck("acme", "2026-03", MARCH, stop)


def test_reserve_counts_the_ledger_and_live_reservations(store: Store) -> None:
    store.record([make_event("e1", NOW - timedelta(hours=1), cost=600, tags={"client": "acme"}),
                  make_event("e2", NOW, cost=5000, tags={"client": "globex"})])        # another budget's spend
    assert store.reserve("h1", "p1", 300, [check(1000)], NOW, LATER).ok                 # 600 + 300 <= 1000
    refused = store.reserve("h2", "p2", 200, [check(1000)], NOW, LATER)                 # 600 + 300 + 200 > 1000
    assert (refused.ok, refused.budget, refused.spent) == (False, "acme", 900)
    assert store.reservations(NOW) == {"acme": 300}
    store.release_reservations(["h1"])
    assert store.reservations(NOW) == {}
    assert store.reserve("h2", "p2", 200, [check(1000)], NOW, LATER).ok


def test_expired_reservations_stop_counting_unless_extended(store: Store) -> None:
    assert store.reserve("h1", "dead", 900, [check(1000)], NOW, NOW + timedelta(seconds=5)).ok
    assert store.reserve("h2", "alive", 50, [check(1000)], NOW, NOW + timedelta(seconds=5)).ok
    store.extend_reservations("alive", NOW + timedelta(seconds=60))
    later = NOW + timedelta(seconds=10)
    assert store.reservations(later) == {"acme": 50}                                    # the dead holder's expired
    assert not store.reserve("h3", "p", 1000, [check(1000)], later, later + timedelta(seconds=5)).ok
    assert store.reserve("h3", "p", 950, [check(1000)], later, later + timedelta(seconds=5)).ok


def test_a_call_under_several_budgets_is_refused_by_any(store: Store) -> None:
    other = BudgetCheck("everyone", "2026-03", Filters(since=MARCH.since, until=MARCH.until), 100)
    assert not store.reserve("h1", "p", 150, [check(1000), other], NOW, LATER).ok
    assert store.reservations(NOW) == {}                                               # nothing half-reserved
    assert store.reserve("h1", "p", 80, [check(1000), other], NOW, LATER).ok
    assert store.reservations(NOW) == {"acme": 80, "everyone": 80}
    store.release_reservations(["h1"])
    assert store.reservations(NOW) == {}


def test_at_the_stop_nothing_more_is_admitted(store: Store) -> None:
    store.record([make_event("e1", NOW, cost=1000, tags={"client": "acme"})])
    assert not store.reserve("h1", "p", 0, [check(1000)], NOW, LATER).ok               # even a free call


def test_concurrent_reservations_from_many_connections_admit_only_what_fits(store: Store) -> None:
    connections = [open_store(store.url) for _ in range(8)]      # as many proxy replicas
    admitted: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(connections))

    def worker(i: int) -> None:
        barrier.wait()
        outcome = connections[i].reserve(f"h{i}", f"p{i}", 300, [check(1000)], NOW, LATER)
        if outcome.ok:
            with lock:
                admitted.append(f"h{i}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(connections))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in connections:
        c.close()
    assert len(admitted) == 3                                    # 3 x 300 <= 1000 < 4 x 300
    assert store.reservations(NOW) == {"acme": 900}
