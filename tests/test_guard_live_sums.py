"""LiveBudgets: the sums a guard checks calls against (ledger + pending + held), exact through every reload."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from conftest import make_event
from hypothesis import given, settings
from hypothesis import strategies as st

from spendtag.guard.budgets import Budget
from spendtag.guard.live import ESTIMATE, RESERVED, SPENT, LiveBudgets, SpendReader, ledger_spend
from spendtag.ledger import open_store
from spendtag.ledger.store import Store
from spendtag.periods import zone
from spendtag.tags import Selector

USD = 10**12
NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)
UTC_ZONE = zone("UTC")
ACME = {"client": "acme"}


def _acme(limit: int = 100 * USD, **kw: object) -> Budget:
    return Budget("acme", limit, "monthly", scope=(Selector.parse("client=acme"),), enforce="block", **kw)  # type: ignore[arg-type]


def test_sums_start_from_the_ledger_and_report_crossings(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "l.db"))
    store.record([make_event("old", NOW - timedelta(days=3), cost=50 * USD, tags=ACME)])
    acme = _acme(notify_percent=(Decimal(80),), stop_percent=Decimal(100))
    team = Budget("team", 1000 * USD, "monthly", notify_percent=(Decimal(9),))
    live = LiveBudgets(UTC_ZONE)
    live.load([acme, team], ledger_spend(store, [acme, team], NOW, UTC_ZONE), 0, NOW)
    assert (live.spent("acme"), live.spent("team")) == (50 * USD, 50 * USD)
    _, crossed = live.settle(None, 45 * USD, ACME, None, None, None, NOW)
    assert [(b.name, t) for b, t in crossed] == [("acme", 80 * USD), ("team", 90 * USD)]
    blocking = live.blocking(live.covering(ACME, None, None, None), NOW)
    assert [live.budgets[i].name for i in blocking] == ["acme"]
    assert live.verdict(blocking, 0) is None
    refused = live.verdict(blocking, 6 * USD)                  # 95 + 6 would pass the stop
    assert refused is not None and refused.reason == ESTIMATE and refused.until == datetime(2026, 4, 1, tzinfo=UTC)
    token = live.hold(4 * USD, ACME, None, None, None, NOW)    # 95 spent + 4 held: 1 left
    refused = live.verdict(blocking, 2 * USD)
    assert refused is not None and refused.reason == RESERVED and refused.in_flight == 1
    live.settle(token, 5 * USD, ACME, None, None, None, NOW)
    refused = live.verdict(blocking, 0)
    assert refused is not None and refused.reason == SPENT and refused.spent == 100 * USD
    assert "has reached its stop threshold: spent $100.00 of $100.00" in refused.message
    # A new month: nothing of the old one counts.
    april = datetime(2026, 4, 2, tzinfo=UTC)
    blocking = live.blocking(live.covering(ACME, None, None, None), april)
    assert live.verdict(blocking, 0) is None and live.spent("acme") == 0 and live.stale
    store.close()


def test_the_spend_reader_gives_each_budget_what_a_report_of_its_period_gives(store: Store) -> None:
    """One read per period, summed per budget over the dims rows it covers: equal to a query per budget,
    on SQLite and PostgreSQL, for tags, agents, keys, projects and every kind of period."""
    rows = [("a", NOW - timedelta(hours=2), {"client": "acme"}, "coder", None, "/w/acme/site"),
            ("b", NOW - timedelta(days=1), {"client": "acme", "env": "prod"}, "planner", "vk_1", "/w/acme/api"),
            ("c", NOW - timedelta(days=9), {"client": "globex"}, "coder", None, "/w/globex"),
            ("d", NOW - timedelta(days=40), {"client": "acme"}, None, "vk_1", None),
            ("e", NOW - timedelta(minutes=5), {}, "coder", None, "/w/acme"),
            ("f", NOW + timedelta(hours=1), {"client": "acme"}, None, None, None)]
    store.record([make_event(i, ts, cost=(n + 1) * USD, tags=tags, agent=agent, key=key, project=project)
                  for n, (i, ts, tags, agent, key, project) in enumerate(rows)])
    defined = [Budget("all", 1000 * USD), Budget("acme-m", 1000 * USD, scope=(Selector.parse("client=acme"),)),
               Budget("coder-d", 1000 * USD, "daily", agent="coder"),
               Budget("key-w", 1000 * USD, "weekly", key="vk_1"),
               Budget("site", 1000 * USD, "total", project="/w/acme"),
               Budget("prod", 1000 * USD, "total", scope=(Selector.parse("env=prod"),), start=date(2026, 3, 1)),
               Budget("none", 1000 * USD, scope=(Selector.parse("client=nobody"),))]
    want = {}
    for b in defined:
        rng, _ = b.period_at(NOW, UTC_ZONE)
        want[b.name] = sum(a.totals.cost for a in store.aggregate(b.filters(rng)))
    reader = SpendReader()
    assert reader.read(store, defined, NOW, UTC_ZONE) == want
    assert reader.read(store, defined, NOW, UTC_ZONE) == want          # from what it kept
    assert want["acme-m"] > 0 and want["none"] == 0 and want["site"] > 0
    # Which of its own calls the ledger holds yet (the SDK guard asks, in one query per 900 ids).
    assert store.recorded(["a", "zz", "c", *(f"x{i}" for i in range(2000))]) == {"a", "c"}
    assert store.recorded([]) == set()


# -- the invariant: whatever happens between reads, the sums are what the calls say ------------------

OPS = st.lists(st.one_of(
    st.tuples(st.just("hold"), st.integers(1, 10**6), st.sampled_from(["acme", "globex"])),
    st.tuples(st.just("settle"), st.integers(0, 10**6), st.integers(0, 30)),
    st.tuples(st.just("release"), st.integers(0, 30)),
    st.tuples(st.just("commit"),),
    st.tuples(st.just("deliver"),),
    st.tuples(st.just("reload"), st.booleans()),
), max_size=60)


@settings(max_examples=300, deadline=None)
@given(ops=OPS)
def test_reloads_never_drop_nor_double_count_a_call(ops: list[tuple[object, ...]]) -> None:
    """A model of the proxy: calls held, settled (pending), committed by a writer that tells the event
    loop later; the ledger read again at any moment, with budgets that come and go. After every step
    the sums equal what a fresh count of the calls gives."""
    acme, other = _acme(10**15), Budget("all", 10**15, "monthly", enforce="block")
    live = LiveBudgets(UTC_ZONE)
    ledger: dict[str, int] = {"acme": 0, "all": 0}     # what the ledger holds per budget
    committed_seq = 0
    holds: dict[int, tuple[int, str]] = {}            # token -> (amount, client)
    pending: dict[int, tuple[int, str]] = {}          # seq -> (cost, client)
    budgets = [acme, other]
    live.load(budgets, ledger, 0, NOW)
    tokens: list[int] = []
    told: list[int] = []                              # committed() calls not yet run by the event loop
    for op in ops:
        if op[0] == "hold":
            amount, client = int(op[1]), str(op[2])  # type: ignore[call-overload]
            token = live.hold(amount, {"client": client}, None, None, None, NOW)
            holds[token] = (amount, client)
            tokens.append(token)
        elif op[0] == "settle" and tokens:
            token = tokens.pop(int(op[2]) % len(tokens))  # type: ignore[call-overload]
            _, client = holds.pop(token)
            seq, _ = live.settle(token, int(op[1]), {"client": client}, None, None, None, NOW)  # type: ignore[call-overload]
            pending[seq] = (int(op[1]), client)  # type: ignore[call-overload]
        elif op[0] == "release" and tokens:
            token = tokens.pop(int(op[1]) % len(tokens))  # type: ignore[call-overload]
            holds.pop(token)
            live.release(token)
        elif op[0] == "commit" and pending:
            # The writer commits, and tells the event loop later (its callback waits in the loop's queue).
            committed_seq = max(pending)
            for cost, client in pending.values():
                ledger["all"] += cost
                if client == "acme":
                    ledger["acme"] += cost
            pending.clear()
            told.append(committed_seq)
        elif op[0] == "deliver" and told:
            live.committed(told.pop(0))
        elif op[0] == "reload":
            budgets = [acme, other] if op[1] else [other]
            live.load(budgets, {b.name: ledger[b.name] for b in budgets}, committed_seq, NOW)
        for b in budgets:
            is_acme = b.name == "acme"
            want_held = sum(a for a, c in holds.values() if not is_acme or c == "acme")
            want_spent = ledger[b.name] + sum(a for a, c in pending.values() if not is_acme or c == "acme")
            assert live.spent(b.name) == want_spent
            assert live.held().get(b.name, 0) == want_held
    while told:
        live.committed(told.pop(0))
    assert live.in_flight == len(holds) and live.pending == len(pending)
    assert all(live.spent(b.name) == ledger[b.name] + sum(a for a, c in pending.values()
                                                          if b.name == "all" or c == "acme") for b in budgets)
