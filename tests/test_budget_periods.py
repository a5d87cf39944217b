"""Budgets with no thresholds, `spendtag check`'s exit status, and fixed ranges that expired or have not started.

A budget with a limit and no thresholds notifies at 100% (a blocking one stops at 100%);
`check` fails for every budget over its limit; a fixed range outside its dates neither
alerts nor blocks and is shown as expired (or not started) with its final figures. Budgets
from the config file and from `budget set` behave the same.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import make_event
from hypothesis import given, settings
from hypothesis import strategies as st

from spendtag.attribution import Rules
from spendtag.cli.main import cli
from spendtag.guard import alerting, budgets
from spendtag.guard import hook as agent_hook
from spendtag.guard.budgets import Budget, BudgetError
from spendtag.guard.live import SPENT, LiveBudgets, Verdict, ledger_spend
from spendtag.ledger import open_store
from spendtag.ledger.store import Store
from spendtag.periods import zone
from spendtag.pricing.pricer import Pricer
from spendtag.server.proxy.caps import Caps, Hold, Refusal, SharedReservations
from spendtag.tags import Selector

USD = 10**12
UTC_ZONE = zone("UTC")
NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)
ACME = (Selector.parse("client=acme"),)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": "200"})


def run(*args: str) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


def spend(*events: tuple[str, datetime, int]) -> None:
    """Record calls (id, time, pico-USD) for client acme straight into the test's ledger."""
    store = open_store(os.environ["SPENDTAG_DB"])
    try:
        store.record([make_event(i, ts, cost=cost, tags={"client": "acme"}) for i, ts, cost in events])
    finally:
        store.close()


def listed() -> dict[str, dict[str, object]]:
    return {b["name"]: b for b in json.loads(run("budget", "list", "--format", "json"))}


def alert_ids() -> list[str]:
    return sorted(a["alert_id"] for a in json.loads(run("alerts", "--format", "json")))


# -- no thresholds ---------------------------------------------------------------------------------

def test_the_effective_thresholds_of_each_kind_of_budget() -> None:
    def labels(b: Budget) -> list[tuple[str, int, bool, bool]]:
        return [(t.label, t.amount, t.stop, t.implied) for t in b.thresholds()]

    assert labels(Budget("a", 100 * USD)) == [("100%", 100 * USD, False, True)]
    assert labels(Budget("a", 100 * USD, enforce="block")) == [("stop 100%", 100 * USD, True, True)]
    assert labels(Budget("a", 100 * USD, notify_percent=(Decimal(80),), enforce="block")) == [
        ("80%", 80 * USD, False, False), ("stop 100%", 100 * USD, True, True)]
    assert labels(Budget("a", 100 * USD, notify_percent=(Decimal(80),))) == [("80%", 80 * USD, False, False)]
    assert labels(Budget("a", 100 * USD, stop_percent=Decimal(90))) == [("stop 90%", 90 * USD, True, False)]
    assert Budget("a", 100 * USD).stop_amount is None
    assert Budget("a", 100 * USD, enforce="block").stop_amount == 100 * USD
    assert Budget("a", 100 * USD).to_dict() == {"name": "a", "limit": "100.00", "period": "monthly",
                                                "enforce": "warn", "forecast_alert": True}   # stored as given


@pytest.mark.parametrize("origin", ["cli", "config"])
def test_a_budget_with_no_thresholds_alerts_once_at_its_limit(origin: str, tmp_path: Path) -> None:
    if origin == "config":
        Path(os.environ["SPENDTAG_CONFIG"]).write_text(
            '[[budgets]]\nname = "team"\nlimit = "100"\nperiod = "monthly"\nforecast_alert = false\n')
    else:
        run("budget", "set", "team", "--monthly", "100", "--no-forecast-alert")
    now = datetime.now(UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    spend(("a", start, 99 * USD))
    run("check")                                           # evaluates alerts; $99 of $100
    assert alert_ids() == []
    spend(("b", start, USD))
    assert invoke("check").exit_code == 1                  # $100 of $100: at the limit
    assert alert_ids() == [f"team:{now:%Y-%m}:100%"]
    invoke("check")
    assert alert_ids() == [f"team:{now:%Y-%m}:100%"]       # once per period


def test_a_blocking_budget_with_no_stop_threshold_blocks_at_its_limit(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "l.db"))
    b = Budget("acme", 10 * USD, scope=ACME, notify_percent=(Decimal(50),), enforce="block")
    store.record([make_event("x", NOW - timedelta(days=1), cost=10 * USD, tags={"client": "acme"})])
    (decision,) = budgets.check(store, [b], tags={"client": "acme"}, now=NOW)
    assert (decision.allowed, decision.stopped, decision.over) == (False, True, True)
    assert decision.message == ("budget acme (client=acme, 2026-03) has reached its stop threshold: "
                                "spent $10.00 of $10.00")
    refused = _refusal(store, [b], NOW)
    assert refused is not None and refused.budget.name == "acme" and refused.reason == SPENT
    caps = Caps(store, lambda _: [b], UTC_ZONE, Pricer(), now=NOW)
    got = caps.reserve("openai", "gpt-4o-mini", {"client": "acme"}, key=None, project=None, agent=None,
                       input_tokens=10, max_output=10, now=NOW)
    assert isinstance(got, Refusal) and got.status == 429
    store.close()


def test_budget_show_lists_the_effective_thresholds() -> None:
    run("budget", "set", "plain", "--monthly", "200")
    run("budget", "set", "hard", "--monthly", "300", "--notify-at", "80", "--enforce", "block")
    shown = run("budget", "show", "plain").splitlines()
    assert shown[shown.index("thresholds:") + 1:shown.index("thresholds:") + 2] == ["  · 100% (default) at $200.00"]
    shown = run("budget", "show", "hard").splitlines()
    at = shown.index("thresholds:")
    assert shown[at + 1:at + 3] == ["  · 80% at $240.00", "  · stop 100% (default) at $300.00 · blocks calls"]
    assert run("budget", "set", "hard", "--monthly", "300", "--notify-at", "80", "--enforce", "block") == (
        "budget hard: everything, $300.00 monthly, alerts at 80%, stop 100% (default)\n")
    thresholds = listed()["hard"]["thresholds"]
    assert thresholds == [{"label": "80%", "amount_usd": "240.00", "stop": False, "default": False},
                          {"label": "stop 100%", "amount_usd": "300.00", "stop": True, "default": True}]


# -- spendtag check: exit status ---------------------------------------------------------------------

def test_check_fails_for_every_budget_over_its_limit_with_thresholds_or_not() -> None:
    run("budget", "set", "plain", "--scope", "client=acme", "--monthly", "100")
    run("budget", "set", "notify", "--scope", "client=acme", "--monthly", "100", "--notify-at", "50")
    run("budget", "set", "roomy", "--scope", "client=acme", "--monthly", "1000")
    now = datetime.now(UTC)
    spend(("a", now.replace(day=1, hour=0, minute=0, second=0, microsecond=0), 60 * USD))
    ok = invoke("check", "--scope", "client=acme")
    assert ok.exit_code == 0
    assert ok.stdout == ("ok   budget notify: spent $60.00 of $100.00 (60.0%)\n"
                         "ok   budget plain: spent $60.00 of $100.00 (60.0%)\n"
                         "ok   budget roomy: spent $60.00 of $1,000.00 (6.0%)\n")
    spend(("b", now.replace(day=1, hour=1, minute=0, second=0, microsecond=0), 50 * USD))
    over = invoke("check", "--scope", "client=acme")
    assert over.exit_code == 1
    assert over.stdout == ("OVER budget notify: spent $110.00 of $100.00 (110.0%), over its limit\n"
                           "OVER budget plain: spent $110.00 of $100.00 (110.0%), over its limit\n"
                           "ok   budget roomy: spent $110.00 of $1,000.00 (11.0%)\n")
    assert invoke("check", "--budget", "roomy").exit_code == 0
    assert invoke("check", "--budget", "plain").exit_code == 1
    missing = invoke("check", "--budget", "nope")
    assert missing.exit_code == 2 and "no budget 'nope'" in missing.output
    assert "Exit status:" in run("check", "--help") and "2  a usage or configuration error" in run("check", "--help")


# -- fixed ranges: expired, not started --------------------------------------------------------------

def test_phase_of_each_kind_of_budget() -> None:
    q1 = Budget("q1", USD, "total", start=date(2026, 1, 1), end=date(2026, 4, 1))
    assert [q1.phase_at(datetime(2025, 12, 31, 23, tzinfo=UTC), UTC_ZONE),
            q1.phase_at(datetime(2026, 1, 1, tzinfo=UTC), UTC_ZONE),
            q1.phase_at(datetime(2026, 3, 31, 23, 59, tzinfo=UTC), UTC_ZONE),
            q1.phase_at(datetime(2026, 4, 1, tzinfo=UTC), UTC_ZONE)] == ["upcoming", "current", "current", "expired"]
    # The range is in the budget's zone: in Berlin, 1 April starts at 22:00 UTC on 31 March.
    assert q1.phase_at(datetime(2026, 3, 31, 22, tzinfo=UTC), zone("Europe/Berlin")) == "expired"
    until_only = Budget("u", USD, "total", end=date(2026, 4, 1))
    assert until_only.phase_at(datetime(2000, 1, 1, tzinfo=UTC), UTC_ZONE) == "current"
    assert until_only.phase_at(datetime(2026, 4, 2, tzinfo=UTC), UTC_ZONE) == "expired"
    assert Budget("f", USD, "total", start=date(2030, 1, 1)).phase_at(NOW, UTC_ZONE) == "upcoming"
    for period in ("daily", "weekly", "monthly"):
        assert Budget("p", USD, period).phase_at(NOW, UTC_ZONE) == "current"
    assert Budget("t", USD, "total").phase_at(NOW, UTC_ZONE) == "current"


def test_a_date_range_on_a_calendar_budget_is_refused_from_the_config_file_as_from_the_cli() -> None:
    with pytest.raises(BudgetError, match="a start or end date makes a fixed range: use period total"):
        Budget("m", USD, "monthly", end=date(2026, 4, 1))
    Path(os.environ["SPENDTAG_CONFIG"]).write_text(
        '[[budgets]]\nname = "m"\nlimit = "10"\nperiod = "monthly"\nend = "2026-04-01"\n')
    result = invoke("budget", "list")
    assert result.exit_code == 2
    assert "config.toml:5: [[budgets]] #1 (m) end: a start or end date makes a fixed range: use period total, " \
           "not monthly" in result.output
    Path(os.environ["SPENDTAG_CONFIG"]).write_text("")
    cli_result = invoke("budget", "set", "m", "--monthly", "10", "--until", "2026-04-01")
    assert cli_result.exit_code == 2 and "use them with --total" in cli_result.output


@pytest.mark.parametrize("origin", ["cli", "config"])
def test_an_expired_budget_shows_its_final_figures_and_never_fails_check_or_alerts(origin: str) -> None:
    if origin == "config":
        Path(os.environ["SPENDTAG_CONFIG"]).write_text(
            '[[budgets]]\nname = "q1"\nlimit = "100"\nperiod = "total"\nscope = ["client=acme"]\n'
            'start = "2025-01-01"\nend = "2025-04-01"\nnotify_percent = [80]\nenforce = "block"\n')
    else:
        run("budget", "set", "q1", "--scope", "client=acme", "--total", "100", "--from", "2025-01-01",
            "--until", "2025-04-01", "--notify-at", "80", "--enforce", "block")
    spend(("q1-a", datetime(2025, 2, 10, tzinfo=UTC), 90 * USD), ("q1-b", datetime(2025, 3, 31, tzinfo=UTC), 30 * USD),
          ("after", datetime(2025, 4, 1, tzinfo=UTC), 500 * USD))
    row = listed()["q1"]
    assert {k: row[k] for k in ("period", "spent_usd", "percent", "status", "phase", "days_left", "crossed")} == {
        "period": "2025-01-01 – 2025-04-01", "spent_usd": "120.00", "percent": "120.0", "status": "expired",
        "phase": "expired", "days_left": None, "crossed": ["80%", "stop 100%"]}
    table = run("budget", "list")
    assert "expired" in table and "stopped" not in table
    shown = run("budget", "show", "q1").splitlines()
    assert shown[1] == ("period 2025-01-01 – 2025-04-01: ended; final figures: spent $120.00 of $100.00 (120.0%) · "
                        "expired (no alerts, no enforcement)")
    assert shown[2:5] == ["thresholds:", "  ✔ 80% at $80.00", "  ✔ stop 100% (default) at $100.00"]
    result = invoke("check", "--scope", "client=acme")
    assert result.exit_code == 0
    assert result.stdout == ("-    budget q1 (client=acme, 2025-01-01 – 2025-04-01) has expired: it ended with "
                             "$120.00 of $100.00 (120.0%)\n")
    assert alert_ids() == []


def test_a_budget_not_started_yet_counts_nothing_before_its_start() -> None:
    today = datetime.now(UTC).date()
    start, end = today + timedelta(days=30), today + timedelta(days=60)
    run("budget", "set", "next", "--scope", "client=acme", "--total", "10", "--from", start.isoformat(),
        "--until", end.isoformat(), "--enforce", "block")
    spend(("now", datetime.now(UTC) - timedelta(minutes=1), 50 * USD))
    row = listed()["next"]
    assert (row["status"], row["phase"], row["spent_usd"], row["days_left"]) == ("not started", "upcoming",
                                                                                 "0.00", None)
    result = invoke("check", "--scope", "client=acme")
    assert result.exit_code == 0 and result.stdout.startswith("-    budget next (client=acme, ")
    assert f"has not started: it starts on {start}" in result.stdout
    assert alert_ids() == []


def _expired_block(tmp_path: Path) -> tuple[Store, Budget]:
    store = open_store(str(tmp_path / "l.db"))
    b = Budget("q4", 10 * USD, "total", scope=ACME, start=date(2025, 10, 1), end=date(2026, 1, 1),
               notify_percent=(Decimal(50),), stop_percent=Decimal(100), enforce="block")
    store.record([make_event("x", datetime(2025, 11, 5, tzinfo=UTC), cost=15 * USD, tags={"client": "acme"})])
    return store, b


def test_an_expired_budget_never_alerts_nor_refuses_anywhere(tmp_path: Path) -> None:
    s, b = _expired_block(tmp_path)
    assert alerting.due(s, [b], NOW, UTC_ZONE) == []                                     # alerts
    (decision,) = budgets.check(s, [b], tags={"client": "acme"}, now=NOW)                # check, `spendtag run`
    assert (decision.allowed, decision.over, decision.phase, decision.spent) == (True, False, "expired", 15 * USD)
    live = _live(s, [b], NOW)                                                            # SDK enforcement
    assert live.blocking(live.covering({"client": "acme"}, None, None, None), NOW) == ()
    assert live.settle(None, USD, {"client": "acme"}, None, None, None, NOW)[1] == []      # no threshold crossed
    caps = Caps(s, lambda _: [b], UTC_ZONE, Pricer())                                      # the proxy
    got = caps.reserve("openai", "gpt-4o-mini", {"client": "acme"}, key=None, project=None, agent=None,
                       input_tokens=10, max_output=10, now=datetime.now(UTC))
    assert got is None                                   # no blocking budget in effect: nothing to reserve
    shared = SharedReservations(lambda: open_store(str(tmp_path / "l.db")), "h", UTC_ZONE)
    try:
        assert shared.checks([b], datetime.now(UTC)) == []                               # replicas' ledger holds
    finally:
        shared.close()
    rules = Rules.from_config({"/home/u/acme/**": {"client": "acme"}})                  # the Claude Code hook
    prompt = {"hook_event_name": "UserPromptSubmit", "session_id": "s", "cwd": "/home/u/acme"}
    assert agent_hook.claude_code(prompt, s, [b], rules, UTC_ZONE, tmp_path / "asked.json", now=NOW) is None
    s.close()


def test_the_same_budget_alerts_and_refuses_while_in_effect(tmp_path: Path) -> None:
    """The control for the test above: inside its range the same budget alerts and blocks."""
    s, b = _expired_block(tmp_path)
    during = datetime(2025, 12, 1, tzinfo=UTC)
    assert sorted(a.threshold for a in alerting.due(s, [b], during, UTC_ZONE)) == ["50%", "stop 100%"]
    (decision,) = budgets.check(s, [b], tags={"client": "acme"}, now=during)
    assert (decision.allowed, decision.over, decision.phase) == (False, True, "current")
    assert _refusal(s, [b], during) is not None
    caps = Caps(s, lambda _: [b], UTC_ZONE, Pricer(), now=during)
    got = caps.reserve("openai", "gpt-4o-mini", {"client": "acme"}, key=None, project=None, agent=None,
                       input_tokens=10, max_output=10, now=during)
    assert isinstance(got, Refusal) and "budget q4" in got.message
    s.close()


def test_a_hold_remembers_the_budgets_it_was_reserved_against(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "l.db"))
    live = Budget("live", 100 * USD, scope=ACME, enforce="block")
    done = Budget("done", 100 * USD, "total", scope=ACME, end=date(2025, 1, 1), enforce="block")
    caps = Caps(store, lambda _: [live, done], UTC_ZONE, Pricer())
    now = datetime.now(UTC)
    hold = caps.reserve("openai", "gpt-4o-mini", {"client": "acme"}, key=None, project=None, agent=None,
                        input_tokens=1000, max_output=1000, now=now)
    assert isinstance(hold, Hold) and [b.name for b in hold.budgets] == ["live"] and hold.amount > 0
    assert caps.outstanding == {"live": hold.amount}
    caps.settle(hold, hold.amount // 2, {"client": "acme"}, key=None, project=None, agent=None, ts=now)
    assert caps.outstanding == {}                         # never a negative hold on the expired budget
    store.close()


@settings(max_examples=60, deadline=None)
@given(start=st.dates(date(2024, 1, 1), date(2027, 12, 31)), days=st.integers(1, 400),
       at=st.datetimes(datetime(2023, 6, 1), datetime(2029, 1, 1)))
def test_a_fixed_range_is_in_effect_exactly_inside_its_dates(start: date, days: int, at: datetime) -> None:
    end = start + timedelta(days=days)
    b = Budget("r", USD, "total", start=start, end=end, enforce="block")
    now = at.replace(tzinfo=UTC)
    inside = datetime(start.year, start.month, start.day, tzinfo=UTC) <= now < datetime(end.year, end.month,
                                                                                         end.day, tzinfo=UTC)
    assert b.in_effect(now, UTC_ZONE) == inside
    expected = "current" if inside else ("upcoming" if now.date() < start else "expired")
    assert b.phase_at(now, UTC_ZONE) == expected


def test_proxy_metrics_show_only_budgets_in_effect(tmp_path: Path) -> None:
    from spendtag.server.proxy.metrics import Metrics

    store = open_store(str(tmp_path / "l.db"))
    live = Budget("live", 100 * USD, scope=ACME, enforce="block")
    done = Budget("done", 100 * USD, "total", scope=ACME, end=date(2025, 1, 1), enforce="block")
    text = Metrics([], Caps(store, lambda _: [live, done], UTC_ZONE, Pricer())).render().decode()
    assert 'spendtag_budget_spent_usd{budget="live"} 0.0' in text
    assert 'budget="done"' not in text
    store.close()


def test_the_dashboard_shows_an_expired_budget_as_expired_and_not_as_a_current_period() -> None:
    from fastapi.testclient import TestClient

    from spendtag import settings as settings_mod
    from spendtag.server.dashboard.app import create_app

    run("budget", "set", "q1", "--scope", "client=acme", "--total", "100", "--from", "2025-01-01",
        "--until", "2025-04-01", "--enforce", "block")
    run("budget", "set", "monthly", "--scope", "client=acme", "--monthly", "1000")
    spend(("q1-a", datetime(2025, 2, 10, tzinfo=UTC), 120 * USD), ("now", datetime.now(UTC), USD))
    db = os.environ["SPENDTAG_DB"]
    client = TestClient(create_app(db, settings_mod.load({"db": db})))
    rows = {b["name"]: b for b in client.get("/api/v1/budgets").json()}
    assert {k: rows["q1"][k] for k in ("phase", "state", "spent_usd", "days_left", "period")} == {
        "phase": "expired", "state": "expired", "spent_usd": "120.00", "days_left": None,
        "period": "2025-01-01 – 2025-04-01"}
    assert (rows["monthly"]["phase"], rows["monthly"]["state"]) == ("current", "ok")
    assert rows["monthly"]["thresholds"] == [{"label": "100%", "amount_usd": "1000.00", "stop": False,
                                              "default": True, "crossed": False}]
    assert [b["name"] for b in client.get("/api/v1/overview").json()["budgets"]] == ["monthly"]
    assert [b["name"] for b in client.get("/api/v1/summary?key=client&value=acme").json()["budgets"]] == ["monthly"]
    page = client.get("/budgets").text
    row = page[page.index('data-budget="q1"'):]
    row = row[:row.index("</tr>")]
    assert '<td class="state">expired</td>' in row


def _live(store: Store, defined: list[Budget], now: datetime) -> LiveBudgets:
    live = LiveBudgets(UTC_ZONE)
    live.load(defined, ledger_spend(store, defined, now, UTC_ZONE), 0, now)
    return live


def _refusal(store: Store, defined: list[Budget], now: datetime, estimate: int = 0) -> Verdict | None:
    live = _live(store, defined, now)
    return live.verdict(live.blocking(live.covering({"client": "acme"}, None, None, None), now), estimate)
