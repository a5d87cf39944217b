"""The Store contract: every implementation must pass this file unchanged.

The reference for every aggregate is a plain Python computation over the events that were
recorded, so the rollup/raw planning can never drift from what a person would add up.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest.mock import patch

import pytest
from conftest import make_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendtag.ledger import rollup_store
from spendtag.ledger.query import TOTAL_FIELDS, Filters, QueryError, Totals
from spendtag.ledger.store import EventPage, Store
from spendtag.periods import TIME_GROUPS, time_label, zone
from spendtag.pricing import PriceOverride
from spendtag.tags import Selector
from spendtag.usage import PricedEvent, Usage


def _row(p: PricedEvent) -> list[int]:
    u, c = p.event.usage, p.cost
    values: dict[str, int] = {
        "requests": 1,
        "unpriced_requests": 0 if c.priced else 1,
        "estimated_requests": int(u.estimated),
        "error_requests": 0 if p.event.status == "ok" else 1,
        "cost": c.total,
    }
    for f in TOTAL_FIELDS:
        if f.startswith("cost_"):
            values[f] = c.components.get(f[5:], 0)
        elif f not in values:
            values[f] = getattr(u, f)
    return [values[f] for f in TOTAL_FIELDS]


def _key(p: PricedEvent, by: list[str], tz: Any) -> tuple[str | None, ...]:
    e = p.event
    out: list[str | None] = []
    for k in by:
        if k.startswith("tag:"):
            out.append(e.tags.get(k[4:]))
        elif k in TIME_GROUPS:
            out.append(time_label(k, e.ts, tz))
        else:
            out.append(getattr(e, k) or None)
    return tuple(out)


def _matches(p: PricedEvent, f: Filters) -> bool:
    e = p.event
    if f.since and e.ts < f.since:
        return False
    if f.until and e.ts >= f.until:
        return False
    dims = {k: (getattr(e, k) or "") for k in ("provider", "model", "project", "agent", "key", "user",
                                                  "source", "status", "session")}
    for name, allowed in f.dims.items():
        if dims[name] not in allowed:
            return False
    return f.matches_dims(dims, e.tags)


def naive(events: list[PricedEvent], f: Filters, by: list[str], tz: Any) -> dict[tuple[str | None, ...], list[int]]:
    out: dict[tuple[str | None, ...], Totals] = {}
    seen: set[str] = set()
    for p in events:
        if p.event.event_id in seen or not _matches(p, f):
            continue
        seen.add(p.event.event_id)
        out.setdefault(_key(p, by, tz), Totals()).add(_row(p))
    return {k: v.values for k, v in out.items()}


def got(store: Store, f: Filters, by: list[str], tz: Any) -> dict[tuple[str | None, ...], list[int]]:
    return {a.key: a.totals.values for a in store.aggregate(f, by, tz)}


# -- idempotency and durability -----------------------------------------------------------

def test_record_is_idempotent_on_event_id(store: Store) -> None:
    events = [make_event(f"e{i}", cost=1_000 + i, tags={"client": "acme"}) for i in range(5)]
    first = store.record(events)
    again = store.record(events)
    assert (first.inserted, first.duplicates) == (5, 0)
    assert (again.inserted, again.duplicates) == (0, 5)
    assert store.count() == 5
    total = store.aggregate(Filters())[0].totals
    assert total.cost == sum(1_000 + i for i in range(5))
    assert total.requests == 5


def test_duplicate_ids_within_one_batch_first_copy_wins(store: Store) -> None:
    a = make_event("same", cost=111)
    b = make_event("same", cost=999)
    result = store.record([a, b])
    assert (result.inserted, result.duplicates) == (1, 1)
    stored = store.get_event("same")
    assert stored is not None and stored.cost.total == 111


def test_money_and_usage_round_trip_exactly(store: Store) -> None:
    usage = Usage(input_tokens=123_456, cache_read_tokens=7, cache_write_5m_tokens=8, cache_write_1h_tokens=9,
                  output_tokens=1_000, reasoning_tokens=400, web_search_requests=3, service_tier="batch",
                  inference_geo="us", speed="fast")
    original = make_event("rt", usage=usage, cost=10**18 + 7, tags={"client": "acme", "env": "prod"},
                          project="/home/u/clients/acme", session="s1", agent="planner", key="k1", user="u1",
                          source="cli", response_id="msg_1")
    store.record([original])
    back = store.get_event("rt")
    assert back is not None
    assert back.event == original.event
    assert back.cost == original.cost
    assert back.cost.price == original.cost.price


def test_unpriced_is_counted_not_zeroed(store: Store) -> None:
    store.record([make_event("p", cost=500), make_event("u", model="mystery-1", priced=False)])
    total = store.aggregate(Filters())[0].totals
    assert total["unpriced_requests"] == 1
    assert total.requests == 2
    back = store.get_event("u")
    assert back is not None and back.cost.priced is False and back.cost.price is None


# -- aggregates against the naive reference -------------------------------------------------

BASE = datetime(2026, 2, 27, tzinfo=UTC)
ZONES = ["UTC", "Europe/Berlin", "Asia/Kolkata", "America/New_York", "Asia/Kathmandu"]
GROUPS = ["tag:client", "tag:env", "model", "provider", "agent", "project", "session", "key", "user", "source",
          "status", *TIME_GROUPS]

event_st = st.builds(
    lambda i, minutes, client, env, model, agent, session, cost, priced, status: make_event(
        f"ev{i}", BASE + timedelta(minutes=minutes), model=model, cost=cost, priced=priced,
        tags={k: v for k, v in (("client", client), ("env", env)) if v is not None},
        agent=agent, session=session, project=f"/p/{client or 'none'}", status=status,
    ),
    st.integers(0, 60),
    st.integers(0, 60 * 24 * 40),
    st.sampled_from(["acme", "globex", None]),
    st.sampled_from(["prod", None]),
    st.sampled_from(["claude-sonnet-4-5", "gpt-4o"]),
    st.sampled_from(["planner", None]),
    st.sampled_from(["s1", "s2", None]),
    st.integers(0, 10**12),
    st.booleans(),
    st.sampled_from(["ok", "ok", "error"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    events=st.lists(event_st, max_size=40),
    by=st.lists(st.sampled_from(GROUPS), max_size=2, unique=True),
    tz=st.sampled_from(ZONES),
    since_min=st.one_of(st.none(), st.integers(-100, 60 * 24 * 41)),
    span_min=st.integers(1, 60 * 24 * 41),
    selector=st.sampled_from([None, "client=acme", "client!=acme", "env", "!env"]),
)
def test_aggregate_matches_naive_sums(store: Store, events: list[PricedEvent], by: list[str], tz: str,
                                      since_min: int | None, span_min: int, selector: str | None) -> None:
    store.record(events)
    everything = list(store.events(Filters()))
    since = None if since_min is None else BASE + timedelta(minutes=since_min, seconds=17)
    until = None if since is None else since + timedelta(minutes=span_min)
    f = Filters(since=since, until=until, tags=(Selector.parse(selector),) if selector else ())
    zi = zone(tz)
    assert got(store, f, by, zi) == naive(everything, f, by, zi)
    # The sum over any grouping (untagged/absent group included) equals the ungrouped total.
    grouped = Totals()
    for a in store.aggregate(f, by, zi):
        grouped.merge(a.totals)
    plain = store.aggregate(f, [], zi)
    assert grouped.values == (plain[0].totals.values if plain else Totals().values)


def test_filters_on_dimensions_and_project_prefix(store: Store) -> None:
    store.record([
        make_event("a", project="/home/u/clients/acme", agent="planner", cost=10),
        make_event("b", project="/home/u/clients/acme/api", agent="coder", cost=20),
        make_event("c", project="/home/u/clients/acmecorp", agent="planner", cost=40),
        make_event("d", project="/home/u/clients/globex", agent="planner", session="s9", cost=80),
    ])
    f = Filters(project=("/home/u/clients/acme",))
    assert store.aggregate(f)[0].totals.cost == 30
    f = Filters(dims={"agent": ("planner",)})
    assert store.aggregate(f)[0].totals.cost == 130
    f = Filters(dims={"session": ("s9",)})
    assert store.aggregate(f)[0].totals.cost == 80
    assert [p.event.event_id for p in store.events(Filters(dims={"agent": ("coder",)}))] == ["b"]


def test_events_are_returned_in_time_order_with_limit(store: Store) -> None:
    store.record([make_event(f"t{i}", BASE + timedelta(hours=10 - i)) for i in range(10)])
    ids = [p.event.event_id for p in store.events(Filters(), limit=3)]
    assert ids == ["t9", "t8", "t7"]


def test_models_lists_priced_and_unpriced_use(store: Store) -> None:
    store.record([make_event("a"), make_event("b", model="my-local-llm", provider="local", priced=False)])
    uses = {(m.provider, m.model): (m.requests, m.unpriced_requests) for m in store.models()}
    assert uses == {("anthropic", "claude-sonnet-4-5"): (1, 0), ("local", "my-local-llm"): (1, 1)}


def test_price_overrides_are_kept_and_removed(store: Store) -> None:
    first = store.add_price_override(PriceOverride(
        id=None, model="my-local-*", rates={"input_tokens": Decimal("0"), "output_tokens": Decimal("0")},
        note="local models are free"))
    second = store.add_price_override(PriceOverride(
        id=None, model="claude-sonnet-4-5", provider="anthropic", multiplier=Decimal("0.85"),
        valid_from=date(2026, 3, 1), valid_until=date(2026, 4, 1), scope=(Selector.parse("client=acme"),)))
    listed = store.price_overrides()
    assert [o.id for o in listed] == [first, second]
    assert listed[1].multiplier == Decimal("0.85") and listed[1].scope == (Selector.parse("client=acme"),)
    assert listed[0].rates == {"input_tokens": Decimal("0"), "output_tokens": Decimal("0")}
    assert store.remove_price_override(first) is True
    assert store.remove_price_override(first) is False
    assert [o.id for o in store.price_overrides()] == [second]


# -- attribution after the fact --------------------------------------------------------------

def test_retag_a_session_moves_only_its_events_and_keeps_totals(store: Store) -> None:
    store.record([
        make_event("s1a", BASE, session="s1", agent="coder", cost=100),
        make_event("s1b", BASE + timedelta(hours=30), session="s1", agent="coder", cost=200),
        make_event("s2a", BASE + timedelta(hours=1), session="s2", agent="coder", cost=400),
    ])
    before = store.aggregate(Filters())[0].totals.values

    def tag_acme(dims: Any, tags: Any) -> dict[str, str]:
        return {**tags, "client": "acme"}

    moved = store.retag(Filters(dims={"session": ("s1",)}), tag_acme, "tag session s1 client=acme")
    assert moved == 2
    by_client = got(store, Filters(), ["tag:client"], zone("UTC"))
    assert {k: v[-1] for k, v in by_client.items()} == {("acme",): 300, (None,): 400}
    assert store.aggregate(Filters())[0].totals.values == before
    # Every rollup level agrees with the events after the move.
    everything = list(store.events(Filters()))
    for by in (["tag:client", "day"], ["tag:client", "hour"], ["tag:client", "session"]):
        assert got(store, Filters(), by, zone("UTC")) == naive(everything, Filters(), by, zone("UTC"))
    event = store.get_event("s1b")
    assert event is not None and event.event.tags == {"client": "acme"} and event.cost.total == 200


def test_retag_by_rule_on_project_and_time_range(store: Store) -> None:
    store.record([
        make_event("a", BASE, project="/home/u/clients/acme/api", cost=1),
        make_event("b", BASE + timedelta(days=2), project="/home/u/clients/acme/web", cost=2),
        make_event("c", BASE, project="/home/u/other", cost=4),
    ])

    def rule(dims: Any, tags: Any) -> dict[str, str] | None:
        return {**tags, "client": "acme"} if dims["project"].startswith("/home/u/clients/acme/") else None

    assert store.retag(Filters(until=BASE + timedelta(days=1)), rule, "rules") == 1
    by_client = {k: v[-1] for k, v in got(store, Filters(), ["tag:client"], zone("UTC")).items()}
    assert by_client == {("acme",): 1, (None,): 6}
    assert store.retag(Filters(), rule, "rules") == 1          # the rest; "a" already has the tag
    by_client = {k: v[-1] for k, v in got(store, Filters(), ["tag:client"], zone("UTC")).items()}
    assert by_client == {("acme",): 3, (None,): 4}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(event_st, max_size=40), session=st.sampled_from([None, "s1", "s2"]),
       since_min=st.one_of(st.none(), st.integers(-100, 60 * 24 * 41)), span_min=st.integers(1, 60 * 24 * 41),
       only=st.sampled_from(["", "/p/acme", "/p/none"]), chunk=st.sampled_from([1, 2, 900]))
def test_retag_moves_exactly_the_matching_events_and_keeps_rollups_true(
        store: Store, events: list[PricedEvent], session: str | None, since_min: int | None, span_min: int,
        only: str, chunk: int) -> None:
    """Whatever the filter, rule and batch sizes: the right events change tags and every rollup equals its events."""
    store.record(events)
    before = {p.event.event_id: p for p in store.events(Filters())}
    since = None if since_min is None else BASE + timedelta(minutes=since_min, seconds=17)
    until = None if since is None else since + timedelta(minutes=span_min)
    f = Filters(since=since, until=until, dims={"session": (session,)} if session else {})
    run = "a" if not before else str(len(before))

    def rule(dims: Any, tags: Any) -> dict[str, str] | None:
        return {**tags, "team": run} if dims["project"].startswith(only) else None

    # Small batches take the paths a ledger with thousands of dims rows takes (more than one
    # UPDATE per retag, rollups rebuilt piece by piece).
    store._IN_CHUNK = chunk  # type: ignore[attr-defined]
    with patch.object(rollup_store, "_REMAP_CHUNK", chunk):
        moved = store.retag(f, rule, "test")
    expected = {i: ({**p.event.tags, "team": run} if _matches(p, f) and p.event.project.startswith(only)
                    else p.event.tags) for i, p in before.items()}
    after = {p.event.event_id: p for p in store.events(Filters())}
    assert {i: p.event.tags for i, p in after.items()} == expected
    assert moved == sum(1 for i, p in before.items() if expected[i] != p.event.tags)
    assert {i: p.cost for i, p in after.items()} == {i: p.cost for i, p in before.items()}
    everything = list(after.values())
    for by in (["day", "session"], ["hour", "tag:team"], ["tag:team", "session"], ["model", "tag:client"]):
        assert got(store, Filters(), by, zone("UTC")) == naive(everything, Filters(), by, zone("UTC"))


def test_session_ids_by_prefix(store: Store) -> None:
    store.record([make_event("a", session="2a20090e-8953"), make_event("b", session="2a2b"),
                  make_event("c", session="9f"), make_event("d", session="2a%_x"), make_event("e")])
    assert set(store.session_ids("2a2")) == {"2a20090e-8953", "2a2b"}
    assert store.session_ids("2a20") == ["2a20090e-8953"]
    assert store.session_ids("2a%") == ["2a%_x"]          # the prefix is text, not a pattern
    assert store.session_ids("2a20090e-8953") == ["2a20090e-8953"]
    assert store.session_ids("x") == []
    assert len(store.session_ids("2a", limit=2)) == 2


def test_vocabulary_names_what_recorded_calls_carry(store: Store) -> None:
    assert store.vocabulary().empty
    assert store.vocabulary().tags == {}
    store.record([make_event("a", tags={"client": "acme", "env": "prod"}, agent="planner", project="/w/acme"),
                  make_event("b", tags={"client": "globex"}, provider="openai", model="gpt-4o"),
                  make_event("c", priced=False, model="house-9", source="cli")])
    vocab = store.vocabulary()
    assert not vocab.empty
    assert vocab.tags == {"client": {"acme", "globex"}, "env": {"prod"}}
    assert vocab.dims["model"] == {"claude-sonnet-4-5", "gpt-4o", "house-9"}
    assert vocab.dims["provider"] == {"anthropic", "openai"}
    assert vocab.dims["agent"] == {"planner"}                  # empty values are not values
    assert vocab.dims["project"] == {"/w/acme"}
    assert vocab.dims["source"] == {"api", "cli"}
    # A retag that moves every call off a tag set leaves its dims row behind, without calls:
    # the vocabulary follows the calls, not the rows.
    store.retag(Filters(tags=(Selector.parse("client=globex"),)), lambda d, t: {"client": "initech"}, "rename")
    assert store.vocabulary().tags["client"] == {"acme", "initech"}


# -- budgets, alerts, imports ----------------------------------------------------------------

def test_budgets_are_saved_replaced_and_removed(store: Store) -> None:
    store.save_budget("acme", {"limit": "300", "period": "monthly"})
    store.save_budget("acme", {"limit": "350", "period": "monthly"})
    store.save_budget("team", {"limit": "200", "period": "monthly"})
    assert store.budgets() == {"acme": {"limit": "350", "period": "monthly"},
                               "team": {"limit": "200", "period": "monthly"}}
    assert store.remove_budget("acme") is True
    assert store.remove_budget("acme") is False
    assert list(store.budgets()) == ["team"]


def test_an_alert_fires_once(store: Store) -> None:
    from spendtag.ledger.store import AlertRecord, Delivery

    alert = AlertRecord("acme:2026-03:80%", "threshold", "acme", "2026-03", "80%", 240 * 10**12, 300 * 10**12,
                        BASE, {"scope": "client=acme"})
    assert store.add_alert(alert) is True
    assert store.add_alert(alert) is False
    assert store.alerts() == [alert]
    store.add_delivery(Delivery(alert.alert_id, "ops", False, 1, "HTTP 500", BASE))
    store.add_delivery(Delivery(alert.alert_id, "ops", True, 2, None, BASE + timedelta(seconds=1)))
    assert [(d.ok, d.attempts) for d in store.deliveries(alert.alert_id)] == [(False, 1), (True, 2)]


def test_import_state_round_trips(store: Store) -> None:
    from spendtag.ledger.store import ImportState

    assert store.import_state("/x.jsonl") is None
    state = ImportState("/x.jsonl", "claude-code", 120, 130, 5, "abc", {"pending": ["m1"]})
    store.save_import_state(state)
    assert store.import_state("/x.jsonl") == state
    store.save_import_state(ImportState("/x.jsonl", "claude-code", 130, 130, 6, "abc"))
    found = store.import_state("/x.jsonl")
    assert found is not None and found.offset == 130 and found.state == {}
    store.save_import_states([ImportState("/y.jsonl", "codex", 7, 9, 11, "h")])
    assert store.import_summaries() == {"/x.jsonl": (130, 6, 130), "/y.jsonl": (9, 11, 7)}


def test_session_titles_summary_replaces_prompt_keeps_first(store: Store) -> None:
    from spendtag.ledger.store import ImportState
    from spendtag.usage import SessionTitle

    assert store.session_titles(["A", "B"]) == {}
    store.save_session_titles({"A": SessionTitle("fix the login bug", "prompt"), "B": SessionTitle("", "prompt")})
    store.save_session_titles({"A": SessionTitle("a later prompt", "prompt")})         # a prompt never replaces
    assert store.session_titles(["A", "B", "C"]) == {"A": "fix the login bug"}
    store.save_session_titles({"A": SessionTitle("Login bug fixed", "summary")})       # the agent's own title does
    store.save_session_titles({"A": SessionTitle("one more prompt", "prompt")})
    assert store.session_titles(["A"]) == {"A": "Login bug fixed"}
    store.save_session_titles({"A": SessionTitle("Login bug: tests too", "summary")})  # and a later one of it
    assert store.session_titles(["A"]) == {"A": "Login bug: tests too"}
    # Saved with an import's file states, in their transaction.
    store.save_import_states([ImportState("/z.jsonl", "claude-code", 1, 1, 1, "h",
                                          titles={"C": SessionTitle("Ünïcode ✓ title", "summary"),
                                                  "A": SessionTitle("not this", "prompt")})])
    assert store.session_titles(["A", "C", "A"]) == {"A": "Login bug: tests too", "C": "Ünïcode ✓ title"}
    many = {f"s{i}": SessionTitle(f"t{i}", "prompt") for i in range(2500)}
    store.save_session_titles(many)
    assert store.session_titles(list(many)) == {k: t.text for k, t in many.items()}


def test_sessions_list_spans_totals_and_dims(store: Store) -> None:
    store.record([
        make_event("a1", BASE + timedelta(minutes=5), session="A", agent="coder", cost=10, tags={"client": "acme"}),
        make_event("a2", BASE + timedelta(hours=2, minutes=7), session="A", agent="coder", model="gpt-4o", cost=20,
                   tags={"client": "acme"}),
        make_event("b1", BASE + timedelta(hours=5), session="B", agent="planner", cost=1),
        make_event("n1", BASE + timedelta(hours=6), cost=1000),          # no session: never listed
    ])
    found = store.sessions(Filters())
    assert [s.session for s in found] == ["B", "A"]                       # most recently active first
    a = found[1]
    assert (a.first, a.last) == (BASE + timedelta(minutes=5), BASE + timedelta(hours=2, minutes=7))
    assert a.totals.cost == 30 and a.totals.requests == 2
    assert sorted(d["model"] for d, _ in a.dims) == ["claude-sonnet-4-5", "gpt-4o"]
    assert all(t == {"client": "acme"} for _, t in a.dims)
    assert [s.session for s in store.sessions(Filters(), by_cost=True)] == ["A", "B"]
    assert [s.session for s in store.sessions(Filters(), min_cost=5)] == ["A"]
    assert [s.session for s in store.sessions(Filters(tags=(Selector.parse("client=acme"),)))] == ["A"]
    assert [s.session for s in store.sessions(Filters(since=BASE + timedelta(hours=1)))] == ["B", "A"]
    late = store.sessions(Filters(since=BASE + timedelta(hours=1)))[1]
    assert late.first == BASE + timedelta(hours=2, minutes=7) and late.totals.cost == 20


def test_revise_keeps_the_previous_cost_and_updates_every_total(store: Store) -> None:
    store.record([make_event("r1", BASE, cost=300, tags={"client": "acme"}),
                  make_event("r2", BASE + timedelta(days=1), cost=500, tags={"client": "acme"}),
                  make_event("r3", BASE, cost=7, tags={"client": "globex"})])
    cheaper = make_event("r1", BASE, cost=150, tags={"client": "acme"})
    unchanged = make_event("r2", BASE + timedelta(days=1), cost=500, tags={"client": "acme"})
    assert store.revise([cheaper, unchanged, make_event("missing", BASE, cost=1)], "discount") == 1
    now = store.get_event("r1")
    assert now is not None and now.cost == cheaper.cost
    (before,) = store.revisions("r1")
    assert before.cost.total == 300
    everything = list(store.events(Filters()))
    for by in (["tag:client"], ["tag:client", "day"], ["tag:client", "hour"], ["session"]):
        assert got(store, Filters(), by, zone("UTC")) == naive(everything, Filters(), by, zone("UTC"))
    assert {k: v[-1] for k, v in got(store, Filters(), ["tag:client"], zone("UTC")).items()} == {
        ("acme",): 650, ("globex",): 7}


def test_event_page_orders_counts_and_bounds_cost(store: Store) -> None:
    store.record([make_event(f"p{i}", BASE + timedelta(minutes=i), cost=c, agent="coder" if i % 2 else "planner",
                             tags={"client": "acme" if i < 4 else "globex"})
                  for i, c in enumerate([50, 10, 40, 10, 30, 20])])
    page = store.event_page(Filters(), limit=2)
    assert [e.event.event_id for e in page.events] == ["p5", "p4"] and page.total == 6
    assert [e.event.event_id for e in store.event_page(Filters(), order="ts", offset=4, limit=5).events] == ["p4", "p5"]
    by_cost = store.event_page(Filters(), order="-cost", limit=10).events
    assert [e.event.event_id for e in by_cost] == ["p0", "p2", "p4", "p5", "p3", "p1"]   # ties: event_id descending
    assert [e.event.event_id for e in store.event_page(Filters(), order="cost", limit=2).events] == ["p1", "p3"]
    bounded = store.event_page(Filters(), order="ts", min_cost=20, max_cost=40)
    assert [e.event.event_id for e in bounded.events] == ["p2", "p4", "p5"] and bounded.total == 3
    tagged = store.event_page(Filters(tags=(Selector.parse("client=acme"),), dims={"agent": ("coder",)}), order="ts")
    assert [e.event.event_id for e in tagged.events] == ["p1", "p3"] and tagged.total == 2
    assert store.event_page(Filters(tags=(Selector.parse("client=nobody"),))) == EventPage([], 0)
    assert store.event_page(Filters(), offset=10).events == [] and store.event_page(Filters(), offset=10).total == 6
    with pytest.raises(QueryError, match="cannot order events"):
        store.event_page(Filters(), order="model")


def test_sessions_page_with_offset_and_cost_range(store: Store) -> None:
    store.record([make_event(f"s{i}", BASE + timedelta(hours=i), session=f"S{i}", cost=(i + 1) * 10)
                  for i in range(5)])
    assert [s.session for s in store.sessions(Filters(), limit=2, offset=1)] == ["S3", "S2"]
    assert [s.session for s in store.sessions(Filters(), by_cost=True, offset=3)] == ["S1", "S0"]
    assert [s.session for s in store.sessions(Filters(), min_cost=20, max_cost=40)] == ["S3", "S2", "S1"]


def test_sessions_take_totals_the_caller_already_has(store: Store) -> None:
    store.record([make_event(f"s{i}", BASE + timedelta(hours=i), session=f"S{i % 3}", cost=(i + 1) * 10)
                  for i in range(7)])
    f = Filters(since=BASE + timedelta(hours=1))
    grouped = {a.key[0]: a.totals for a in store.aggregate(f, ["session"]) if a.key[0]}
    for kwargs in ({}, {"by_cost": True}, {"min_cost": 60, "limit": 1, "offset": 1}):
        assert store.sessions(f, totals=grouped, **kwargs) == store.sessions(f, **kwargs)  # type: ignore[arg-type]


def test_recent_session_pages_counts_and_costs_match_the_long_way(store: Store) -> None:
    """The session rollup pages, counts and costs sessions as summing every session would, ragged edges too."""
    import random

    rng = random.Random(7)
    store.record([make_event(f"r{i}", BASE + timedelta(minutes=rng.randrange(0, 600)),
                             session=rng.choice(["S1", "S2", "S3", "S4", "S5", "S6", "S7", ""]),
                             cost=rng.randrange(0, 50), model=rng.choice(["claude-sonnet-4-5", "gpt-4o"]),
                             tags=rng.choice([{}, {"client": "acme"}, {"client": "globex"}]))
                  for i in range(200)])
    for f in (Filters(), Filters(since=BASE + timedelta(minutes=95), until=BASE + timedelta(minutes=430)),
              Filters(tags=(Selector.parse("client=acme"),), since=BASE + timedelta(minutes=17)),
              Filters(dims={"model": ("gpt-4o",)}), Filters(since=BASE + timedelta(days=3))):
        grouped = {a.key[0]: a.totals for a in store.aggregate(f, ["session"]) if a.key[0]}
        whole = store.sessions(f, totals=grouped)
        assert store.session_count(f) == len(grouped) == len(whole)
        assert store.session_costs(f) == {s: t.cost for s, t in grouped.items()}
        for offset in (0, 2, 5, 9):
            assert store.sessions(f, limit=3, offset=offset) == whole[offset:offset + 3]


# -- bulk import ----------------------------------------------------------------------------

def _import_parts(events: list[PricedEvent], cuts: list[int]) -> list[Any]:
    from spendtag.ledger.rollup_store import ImportPartBuilder
    from spendtag.ledger.store import ImportState

    bounds = sorted({0, len(events), *(c for c in cuts if c <= len(events))})
    files = []
    for n, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        builder = ImportPartBuilder()
        for p in events[a:b]:
            builder.add(p)
        files.append((builder.part(), ImportState(f"/log{n}.jsonl", "claude-code", b - a, b - a, n, "h", {"n": n})))
    return files


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(event_st, max_size=30), cuts=st.lists(st.integers(0, 30), max_size=4),
       before=st.integers(0, 6))
def test_record_import_is_record_with_the_files_states(store: Store, events: list[PricedEvent], cuts: list[int],
                                                       before: int) -> None:
    """Compact parts (some ids already recorded, some repeated across parts) sum like record does."""
    store.record(events[:before])
    known = {p.event.event_id: p.cost.total for p in store.events(Filters())}
    first: dict[str, int] = {}
    for p in events:
        first.setdefault(p.event.event_id, p.cost.total)
    files = _import_parts(events, cuts)
    result = store.record_import(iter(files))
    new = set(first) - set(known)
    assert (result.inserted, result.duplicates) == (len(new), len(events) - len(new))
    everything = list(store.events(Filters()))
    costs = {p.event.event_id: p.cost.total for p in everything}
    assert costs == {**first, **known}                   # the first copy wins; what was there stays
    for by in (["day", "session"], ["model", "tag:client"], ["hour"]):
        assert got(store, Filters(), by, zone("UTC")) == naive(everything, Filters(), by, zone("UTC"))
    for (_part, state) in files:
        assert store.import_state(state.path) == state
    again = store.record_import(iter(files))
    assert (again.inserted, again.duplicates) == (0, len(events))


def test_agent_imports_count_files_and_calls_per_agent(store: Store) -> None:
    from spendtag.ledger.store import AgentImports, ImportState

    assert store.agent_imports(["claude-code", "codex"]) == {"claude-code": AgentImports("claude-code"),
                                                              "codex": AgentImports("codex")}
    store.save_import_states([ImportState("/a.jsonl", "claude-code", 1, 1, 1, "h"),
                              ImportState("/b.jsonl", "claude-code", 1, 1, 1, "h"),
                              ImportState("/c.jsonl", "codex", 1, 1, 1, "h")])
    last = BASE + timedelta(hours=5, minutes=17, seconds=3)
    store.record([
        make_event("c1", ts=BASE, source="claude-code", agent="claude-code"),
        make_event("c2", ts=last, source="claude-code", agent="claude-code/agent-x"),   # a sub-agent's call
        make_event("c3", ts=last - timedelta(minutes=1), source="claude-code", agent="claude-code", priced=False),
        make_event("p1", ts=last + timedelta(days=1), source="proxy", agent="claude-code"),   # not imported
    ])
    found = store.agent_imports(["claude-code", "codex", "gemini-cli"])
    claude, codex, gemini = found["claude-code"], found["codex"], found["gemini-cli"]
    assert (claude.files, claude.calls, claude.last_call) == (2, 3, last)
    assert claude.read_at is not None and abs(claude.read_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert (codex.files, codex.calls, codex.last_call) == (1, 0, None)
    assert gemini == AgentImports("gemini-cli")
    assert store.agent_imports([]) == {}


def test_a_store_that_refuses_writes_changes_nothing(store: Store) -> None:
    from spendtag.ledger.store import ImportState

    store.record([make_event("r1", ts=BASE)])
    store.refuse_writes()
    with pytest.raises(Exception, match="(?i)read.?only|readonly"):
        store.record([make_event("r2", ts=BASE)])
    with pytest.raises(Exception, match="(?i)read.?only|readonly"):
        store.save_import_state(ImportState("/x.jsonl", "codex", 1, 1, 1, "h"))
    assert store.count() == 1 and store.import_state("/x.jsonl") is None
    assert [a.totals.requests for a in store.aggregate(Filters())] == [1]
