"""Claude's 5-hour blocks, their burn rate and projection, quota, and the commands that show them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import make_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendtag.cli.main import cli
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.ledger.store import Store
from spendtag.report.sessions import Quota, blocks, current_block, percent
from spendtag.usage import PricedEvent, Usage

DAY = datetime(2026, 3, 14, tzinfo=UTC)


def at(hh: int, mm: int = 0, day: datetime = DAY) -> datetime:
    return day + timedelta(hours=hh, minutes=mm)


def call(event_id: str, ts: datetime, *, cost: int = 1_000_000, tokens: int = 100, project: str = "/p/a",
         model: str = "claude-sonnet-4-5", source: str = "claude-code") -> object:
    return make_event(event_id, ts, cost=cost, usage=Usage(input_tokens=tokens), project=project, model=model,
                      source=source, session="s", agent="claude-code")


@pytest.fixture
def ledger(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'ledger.db'}")


def test_blocks_start_at_the_hour_of_the_first_call_and_last_five_hours(ledger: Store) -> None:
    ledger.record([  # type: ignore[list-item]
        call("a", at(10, 17), cost=100, tokens=10),
        call("b", at(11, 5), cost=200, tokens=20, project="/p/b", model="claude-haiku-4-5"),
        call("c", at(14, 59), cost=400, tokens=40),
        call("d", at(15, 0), cost=800, tokens=80),        # the first block ends at 15:00: a new one
        call("e", at(23, 30), cost=1_600, tokens=160),    # after a gap: starts at 23:00
        call("x", at(12), cost=10**9, source="proxy"),   # not Claude Code: in no block
    ])
    found = blocks(ledger, since=DAY)
    assert [(b.start, b.end, b.first, b.last) for b in found] == [
        (at(10), at(15), at(10, 17), at(14, 59)),
        (at(15), at(20), at(15), at(15)),
        (at(23), at(28), at(23, 30), at(23, 30)),
    ]
    assert [(b.totals.requests, b.totals.cost, b.totals.tokens) for b in found] == [
        (3, 700, 70), (1, 800, 80), (1, 1_600, 160)]
    assert found[0].models == {"claude-sonnet-4-5", "claude-haiku-4-5"}
    assert found[0].projects == {"/p/a": 50, "/p/b": 20}


def test_burn_rate_is_cost_per_hour_of_activity_and_projection_carries_it_to_the_end(ledger: Store) -> None:
    ledger.record([call("a", at(10, 20), cost=300_000), call("b", at(10, 50), cost=300_000),  # type: ignore[list-item]
                   call("c", at(11, 20), cost=600_000)])
    block = current_block(ledger, now=at(12))
    assert block is not None and block.active(at(12)) and not block.active(at(15))
    assert block.burn_rate == 1_200_000                       # 1.2M pico-USD over 1 hour of activity
    assert block.projected(at(12)) == 1_200_000 + 1_200_000 * 3   # three hours left until 15:00
    assert current_block(ledger, now=at(15, 1)) is None       # that block is over, and no call since
    single = blocks(ledger, since=DAY, until=at(10, 30))[0]
    assert single.first == single.last and single.burn_rate == 300_000 * 60   # a minute at least


def test_quota_limits_and_percentages() -> None:
    q = Quota.from_config({"tokens_per_block": "1000", "messages_per_block": 40, "plan": "max5"})
    assert (q.tokens_per_block, q.messages_per_block, q.plan) == (1000, 40, "max5")
    assert Quota.from_config(None) == Quota()
    assert percent(333, 1000) == Decimal("33.3") and percent(5, None) is None and percent(5, 0) is None


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_blocks_quota_and_watch_commands_show_the_active_block(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0)
    first = start if now - start >= timedelta(minutes=1) else start - timedelta(hours=1)
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.record([call("old", now - timedelta(days=2), cost=5_000_000),  # type: ignore[list-item]
                  call("p1", first, cost=1_000_000, tokens=300, project="/p/acme"),
                  call("p2", now - timedelta(seconds=30), cost=2_000_000, tokens=100, project="/p/globex")])
    store.close()
    shown = json.loads(run("blocks", "--days", "1", "--format", "json"))
    assert len(shown) == 1
    block = shown[0]
    assert block["active"] is True and block["requests"] == 2 and block["cost_usd"] == "0.000003"
    assert block["start"] == first.isoformat() and block["tokens"] == 400
    assert Decimal(block["burn_rate_usd_per_hour"]) > 0 and Decimal(block["projected_usd"]) >= Decimal("0.000003")
    assert len(json.loads(run("blocks", "--days", "3", "--format", "json"))) == 2
    day = f"{now - timedelta(days=2):%Y-%m-%d}"
    old = json.loads(run("blocks", "--since", day, "--until", f"{now - timedelta(days=1):%Y-%m-%dT%H:%M:%S}Z",
                         "--format", "json"))
    assert [(b["requests"], b["cost_usd"]) for b in old] == [(1, "0.000005")]
    assert "not both" in CliRunner().invoke(cli, ["blocks", "--days", "2", "--since", day]).output
    (tmp_path / "config.toml").write_text('[quota]\ntokens_per_block = 1000\nmessages_per_block = 8\n')
    out = run("quota")
    assert "tokens: 400 of 1,000 (40.0%)" in out and "messages: 2 of 8 (25.0%)" in out
    assert out.index("/p/acme: 300 tokens") < out.index("/p/globex: 100 tokens")
    out = run("watch", "--once")
    assert "today: <$0.01" in out and "5-hour block: <$0.01, burn rate <$0.01/h" in out


def naive_blocks(events: list[PricedEvent], since: datetime, until: datetime | None,
                 sources: tuple[str, ...]) -> list[tuple[object, ...]]:
    """Blocks the plain way: every call in time order, in the block it falls in or starting one."""
    out: list[dict[str, Any]] = []
    for p in sorted(events, key=lambda p: (p.event.ts, p.event.event_id)):
        e = p.event
        if e.ts < since or (until is not None and e.ts >= until) or e.source not in sources:
            continue
        if not out or e.ts >= out[-1]["end"]:
            start = e.ts.replace(minute=0, second=0, microsecond=0)
            out.append({"start": start, "end": start + timedelta(hours=5), "first": e.ts, "calls": 0, "cost": 0,
                        "tokens": 0, "models": set(), "projects": {}})
        block = out[-1]
        block["last"] = e.ts
        block["calls"] += 1
        block["cost"] += p.cost.total
        block["tokens"] += e.usage.total_tokens
        block["models"].add(e.model)
        project = e.project or "(none)"
        block["projects"][project] = block["projects"].get(project, 0) + e.usage.total_tokens
    return [tuple(b[k] for k in ("start", "end", "first", "last", "calls", "cost", "tokens", "models", "projects"))
            for b in out]


call_st = st.builds(
    lambda i, minutes, seconds, source, project, model, tokens, cost: make_event(
        f"c{i}", DAY + timedelta(minutes=minutes, seconds=seconds), source=source, project=project, model=model,
        usage=Usage(input_tokens=tokens, output_tokens=tokens // 3), cost=cost, session="s"),
    # Whole hours often: a call at the very end of a block starts the next one.
    st.integers(0, 500), st.one_of(st.integers(0, 60 * 24 * 3), st.integers(0, 72).map(lambda h: h * 60)),
    st.sampled_from([0, 0, 13, 59]),
    st.sampled_from(["claude-code", "claude-code", "proxy"]), st.sampled_from(["/p/a", "/p/b", None]),
    st.sampled_from(["claude-sonnet-4-5", "claude-opus-4-1"]), st.integers(0, 10**6), st.integers(0, 10**9))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(call_st, max_size=60), since_min=st.integers(-60, 60 * 24 * 3),
       span_min=st.one_of(st.none(), st.integers(1, 60 * 24 * 3)))
def test_blocks_equal_the_plain_computation_over_every_call(store: Store, events: list[PricedEvent],
                                                          since_min: int, span_min: int | None) -> None:
    store.record(events)
    recorded = list(store.events(Filters()))
    since = DAY + timedelta(minutes=since_min, seconds=13)
    until = None if span_min is None else since + timedelta(minutes=span_min)
    got = [(b.start, b.end, b.first, b.last, b.totals.requests, b.totals.cost, b.totals.tokens, b.models,
            b.projects) for b in blocks(store, since=since, until=until)]
    assert got == naive_blocks(recorded, since, until, ("claude-code",))


def test_blocks_of_another_agent_or_of_every_agent(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.record([call("c1", now - timedelta(hours=30), cost=1_000_000),  # type: ignore[list-item]
                  call("x1", now - timedelta(hours=20), cost=4_000_000, source="codex", model="gpt-5"),
                  call("x2", now - timedelta(hours=19), cost=2_000_000, source="codex", model="gpt-5")])
    store.close()

    def shown(*args: str) -> list[tuple[int, str]]:
        return [(b["requests"], b["cost_usd"]) for b in json.loads(run("blocks", "--days", "3", "--format", "json",
                                                                       *args))]

    assert shown() == [(1, "0.000001")]                              # Claude's, as before
    assert shown("--agent", "codex") == [(2, "0.000006")]
    assert shown("--all-agents") == [(1, "0.000001"), (2, "0.000006")]
    assert shown("--agent", "codex", "--agent", "claude-code") == shown("--all-agents")
    assert "not both" in CliRunner().invoke(cli, ["blocks", "--agent", "codex", "--all-agents"]).output
    assert "no gemini-cli usage" in run("blocks", "--agent", "gemini-cli")
