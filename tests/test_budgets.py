"""Budgets end to end: definitions (CLI and config), thresholds, alerts once, checks, the hook."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import make_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendtag.attribution import Rules
from spendtag.cli.main import cli
from spendtag.guard import alerting, budgets
from spendtag.guard import hook as agent_hook
from spendtag.guard.budgets import Budget
from spendtag.ledger import open_store
from spendtag.ledger.store import Store
from spendtag.money import parse_usd
from spendtag.periods import zone
from spendtag.tags import Selector

USD = 10**12
NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)


def run(*args: str, ok: bool = True, input: str | None = None) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, input=input, env={"COLUMNS": "200"})
    if ok:
        assert result.exit_code == 0, result.output
    return result.stdout


def record_usd(event_id: str, usd: str, **tags: str) -> None:
    """Record a call costing exactly ``usd`` (a local model priced $1 per million input tokens)."""
    tokens = int(parse_usd(usd) // 10**6)
    run("record", "--provider", "local", "--model", "budget-test-model", "--usage",
        json.dumps({"prompt_tokens": tokens, "completion_tokens": 0}), "--event-id", event_id,
        *[f"--tag={k}={v}" for k, v in tags.items()])


@pytest.fixture(autouse=True)
def _priced_test_model() -> None:
    run("prices", "override", "budget-test-model", "--input", "1", "--output", "0")


# -- the seeds' examples, as written -------------------------------------------------------------

def test_the_seed_examples_work_as_written() -> None:
    assert run("budget", "set", "team", "--monthly", "200", "--notify-at", "80") == (
        "budget team: everything, $200.00 monthly, alerts at 80%\n")
    assert run("budget", "set", "daily-cap", "--daily", "10") == (
        "budget daily-cap: everything, $10.00 daily, alerts at 100% (default)\n")
    assert run("budget", "set", "acme-web", "--project", "/home/u/clients/acme/web", "--monthly", "50") == (
        "budget acme-web: project=/home/u/clients/acme/web, $50.00 monthly, alerts at 100% (default)\n")
    assert run("budget", "set", "acme", "--scope", "client=acme", "--monthly", "300", "--notify-at", "80",
               "--stop-at", "100", "--enforce", "block") == (
        "budget acme: client=acme, $300.00 monthly, alerts at 80%, stop 100%\n")
    listed = {b["name"]: b for b in json.loads(run("budget", "list", "--format", "json"))}
    assert set(listed) == {"team", "daily-cap", "acme-web", "acme"}
    assert listed["acme"]["limit_usd"] == "300.00" and listed["acme"]["enforce"] == "block"
    assert listed["daily-cap"]["period"] == datetime.now(UTC).date().isoformat()
    assert run("budget", "remove", "daily-cap") == "budget daily-cap removed\n"
    assert "daily-cap" not in run("budget", "list")


def test_config_file_budgets_agree_with_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "spendtag.toml"
    config.write_text('[[budgets]]\nname = "acme"\nlimit = "300"\nperiod = "monthly"\nscope = ["client=acme"]\n'
                      'notify_percent = [80]\nstop_percent = 100\nenforce = "block"\n')
    monkeypatch.setenv("SPENDTAG_CONFIG", str(config))
    run("budget", "set", "acme-cli", "--scope", "client=acme", "--monthly", "300", "--notify-at", "80",
        "--stop-at", "100", "--enforce", "block")
    rows = {b["name"]: b for b in json.loads(run("budget", "list", "--format", "json"))}
    file_b, cli_b = rows.pop("acme"), rows.pop("acme-cli")
    assert file_b.pop("origin") == "config" and cli_b.pop("origin") == "ledger"
    file_b.pop("name"), cli_b.pop("name")
    assert file_b == cli_b
    result = CliRunner().invoke(cli, ["budget", "set", "acme", "--monthly", "5"])
    assert result.exit_code == 2 and "defined in the config file" in result.output


# -- thresholds and alerts -------------------------------------------------------------------------

def test_one_large_call_fires_every_threshold_it_jumps_once() -> None:
    run("budget", "set", "acme", "--scope", "client=acme", "--monthly", "100", "--notify-at", "50,80",
        "--stop-at", "100", "--no-forecast-alert")
    record_usd("small", "10", client="acme")
    assert json.loads(run("alerts", "--format", "json")) == []
    record_usd("big", "95", client="acme")                    # 10 -> 105: 50%, 80% and stop 100% at once
    fired = json.loads(run("alerts", "--format", "json"))
    period = datetime.now(UTC).strftime("%Y-%m")
    assert sorted(a["alert_id"] for a in fired) == [f"acme:{period}:50%", f"acme:{period}:80%",
                                                     f"acme:{period}:stop 100%"]
    assert all(a["payload"]["spent_usd"] == "105.00" for a in fired)
    record_usd("more", "1", client="acme")
    record_usd("other-client", "500", client="globex")
    assert len(json.loads(run("alerts", "--format", "json"))) == 3


def _alerts_for(store: Store, budget: Budget, batches: list[list[Any]]) -> set[str]:
    fired: set[str] = set()
    for batch in batches:
        store.record(batch)
        fired |= {a.id for a in alerting.due(store, [budget], NOW, zone("UTC"))}
    return fired


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(costs=st.lists(st.integers(0, 40 * USD), min_size=1, max_size=12), data=st.data())
def test_alerts_fired_do_not_depend_on_arrival_order_or_batching(tmp_path_factory: pytest.TempPathFactory,
                                                                  costs: list[int], data: st.DataObject) -> None:
    budget = Budget("acme", 100 * USD, "monthly", scope=(Selector.parse("client=acme"),),
                    notify_percent=(parse_pct("25"), parse_pct("50"), parse_pct("80")), notify_amount=(60 * USD,),
                    stop_percent=parse_pct("100"), forecast_alert=False)
    events = [make_event(f"e{i}", NOW - timedelta(hours=i + 1), cost=c, tags={"client": "acme"})
              for i, c in enumerate(costs)]
    shuffled = data.draw(st.permutations(events))
    cut = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=4)))
    batches = [list(shuffled[a:b]) for a, b in zip([0, *cut], [*cut, len(events)], strict=True) if b > a]
    one_by_one = open_store(str(tmp_path_factory.mktemp("a") / "l.db"))
    in_batches = open_store(str(tmp_path_factory.mktemp("b") / "l.db"))
    try:
        a = _alerts_for(one_by_one, budget, [[e] for e in events])
        b = _alerts_for(in_batches, budget, batches)
    finally:
        one_by_one.close()
        in_batches.close()
    total = sum(costs)
    expected = {f"acme:2026-03:{t.label}" for t in budget.thresholds() if total >= t.amount}
    assert a == b == expected


def parse_pct(text: str) -> Any:
    from decimal import Decimal

    return Decimal(text)


# -- enforcement -------------------------------------------------------------------------------------

def test_check_exits_non_zero_at_a_stop_threshold() -> None:
    run("budget", "set", "acme", "--scope", "client=acme", "--monthly", "100", "--stop-at", "100",
        "--enforce", "block")
    record_usd("a", "40", client="acme")
    assert run("check", "--scope", "client=acme").startswith("ok   budget acme: spent $40.00 of $100.00 (40.0%)")
    record_usd("b", "60", client="acme")
    result = CliRunner().invoke(cli, ["check", "--scope", "client=acme"])
    assert result.exit_code == 1
    assert "STOP budget acme (client=acme," in result.output and "spent $100.00 of $100.00" in result.output
    assert run("check", "--scope", "client=globex") == "no budget covers this scope\n"


def test_library_check_gives_a_decision_with_the_reset_time(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "l.db"))
    b = Budget("acme", 10 * USD, "monthly", scope=(Selector.parse("client=acme"),), stop_percent=parse_pct("100"),
               enforce="block")
    store.record([make_event("x", NOW - timedelta(days=1), cost=11 * USD, tags={"client": "acme"})])
    (decision,) = budgets.check(store, [b], tags={"client": "acme"}, now=NOW)
    assert decision.allowed is False and decision.spent == 11 * USD and decision.limit == 10 * USD
    assert decision.retry_after == datetime(2026, 4, 1, tzinfo=UTC)
    assert budgets.check(store, [b], tags={"client": "globex"}, now=NOW) == []
    warn_only = Budget("acme", 10 * USD, "monthly", scope=b.scope, stop_percent=parse_pct("100"))
    (soft,) = budgets.check(store, [warn_only], tags={"client": "acme"}, now=NOW)
    assert soft.allowed is True and soft.message.endswith("(warn only)")
    store.close()


# -- a real webhook receiver ----------------------------------------------------------------------------

class _Receiver(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []
    secret = b"s3cret"

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        signature = self.headers.get("X-Spendtag-Signature", "")
        expected = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            self.send_response(401)
            self.end_headers()
            return
        type(self).bodies.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.bodies = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def test_threshold_alert_reaches_a_signed_webhook_once(receiver: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "spendtag.toml"
    config.write_text(f'[alerts.channels.ops]\ntype = "webhook"\nurl = "{receiver}"\n'
                      'secret_env = "SPENDTAG_TEST_WEBHOOK_SECRET"\n')
    monkeypatch.setenv("SPENDTAG_CONFIG", str(config))
    monkeypatch.setenv("SPENDTAG_TEST_WEBHOOK_SECRET", "s3cret")
    run("budget", "set", "acme", "--scope", "client=acme", "--monthly", "100", "--notify-at", "80",
        "--channel", "ops", "--no-forecast-alert")
    record_usd("a", "50", client="acme")
    assert _Receiver.bodies == []
    record_usd("b", "35", client="acme")
    record_usd("c", "5", client="acme")
    assert len(_Receiver.bodies) == 1
    body = _Receiver.bodies[0]
    assert body["budget"] == "acme" and body["threshold"] == "80%"
    assert body["spent_usd"] == "85.00" and body["limit_usd"] == "100.00"
    deliveries = json.loads(run("alerts", "--format", "json"))[0]["deliveries"]
    assert [(d["channel"], d["ok"]) for d in deliveries] == [("ops", True)]


# -- Claude Code hook ------------------------------------------------------------------------------------

def test_hook_blocks_at_a_blocking_stop_and_asks_once_at_a_notice(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "l.db"))
    rules = Rules.from_config({"/home/u/clients/acme/**": {"client": "acme"}})
    soft = Budget("acme", 100 * USD, "monthly", scope=(Selector.parse("client=acme"),),
                  notify_percent=(parse_pct("80"),))
    hard = Budget("acme", 100 * USD, "monthly", scope=(Selector.parse("client=acme"),),
                  stop_percent=parse_pct("100"), enforce="block")
    state = tmp_path / "asked.json"
    prompt = {"hook_event_name": "UserPromptSubmit", "session_id": "s1", "cwd": "/home/u/clients/acme/api"}
    store.record([make_event("x", NOW - timedelta(days=1), cost=85 * USD, tags={"client": "acme"})])
    tz = zone("UTC")
    first = agent_hook.claude_code(prompt, store, [soft], rules, tz, state, now=NOW)
    assert first is not None and first["decision"] == "block"
    assert "spent $85.00 of $100.00 (85.0%), $15.00 left" in first["reason"]
    again = agent_hook.claude_code(prompt, store, [soft], rules, tz, state, now=NOW)
    assert again is not None and "decision" not in again and "$15.00 left" in again["systemMessage"]
    elsewhere = {**prompt, "cwd": "/home/u/other"}
    assert agent_hook.claude_code(elsewhere, store, [soft], rules, tz, state, now=NOW) is None
    store.record([make_event("y", NOW - timedelta(hours=1), cost=20 * USD, tags={"client": "acme"})])
    blocked = agent_hook.claude_code(prompt, store, [hard], rules, tz, state, now=NOW)
    assert blocked is not None and blocked["decision"] == "block" and "stop threshold reached" in blocked["reason"]
    start = agent_hook.claude_code({**prompt, "hook_event_name": "SessionStart"}, store, [hard], rules, tz, state,
                                   now=NOW)
    assert start is not None and "systemMessage" in start
    store.close()


def test_hook_install_is_idempotent(tmp_path: Path) -> None:
    settings_path = tmp_path / "claude" / "settings.json"
    settings_path.parent.mkdir()
    settings_path.write_text(json.dumps({"model": "opus", "hooks": {"Stop": [{"hooks": []}]}}))
    out = run("hook", "install", "--settings", str(settings_path))
    assert out == f"installed in {settings_path}\n"
    data = json.loads(settings_path.read_text())
    assert data["model"] == "opus" and "Stop" in data["hooks"]
    assert data["hooks"]["UserPromptSubmit"][0]["hooks"][0]["command"] == "spendtag hook claude-code"
    assert run("hook", "install", "--settings", str(settings_path)) == f"already installed in {settings_path}\n"
    assert len(json.loads(settings_path.read_text())["hooks"]["SessionStart"]) == 1


def test_anomaly_docs_match_the_detector() -> None:
    import spendtag.guard.anomalies as detector

    page = (Path(__file__).resolve().parents[1] / "docs" / "anomalies.md").read_text()
    for heading in ("How the detector works", "What it will not catch"):
        assert f"## {heading}" in page and heading in (detector.__doc__ or "")
    for phrase in ("**Slow drifts.**", "**5x**", "**$1**", "600 calls"):
        assert phrase in page and phrase in (detector.__doc__ or "")


def test_anomalies_command_flags_a_runaway_agent_from_the_ledger() -> None:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    store = open_store(os_db())
    events = []
    for h in range(24 * 6, 1, -1):          # six quiet days: $0.50 an hour in five calls
        for c in range(5):
            events.append(make_event(f"n{h}-{c}", now - timedelta(hours=h, minutes=c), agent="planner",
                                     cost=USD // 10))
    for c in range(300):                   # the last hour: a retry loop, $30 in 300 calls
        events.append(make_event(f"loop{c}", now - timedelta(minutes=50) + timedelta(seconds=c), agent="planner",
                                 cost=USD // 10))
    store.record(events)
    store.close()
    found = json.loads(run("anomalies", "--by", "agent", "--hours", "3", "--format", "json"))
    kinds = {(a["scope"], a["kind"]) for a in found}
    assert ("agent=planner", "spend") in kinds and ("agent=planner", "request_rate") in kinds
    assert "planner" in found[0]["explanation"]
    assert json.loads(run("alerts", "--format", "json")) == []                   # listing alone never alerts
    run("anomalies", "--by", "agent", "--hours", "3", "--alert")
    recorded = json.loads(run("alerts", "--format", "json"))
    assert {a["kind"] for a in recorded} == {"anomaly"} and len(recorded) == len(found)
    run("anomalies", "--by", "agent", "--hours", "3", "--alert")
    assert len(json.loads(run("alerts", "--format", "json"))) == len(found)      # once per scope, hour and kind


def test_forecast_command_projects_the_month() -> None:
    today = datetime.now(UTC)
    store = open_store(os_db())
    store.record([make_event(f"f{d}", today - timedelta(days=d), cost=10 * USD, tags={"client": "acme"})
                  for d in range(0, 40)])
    store.close()
    data = json.loads(run("forecast", "--scope", "client=acme", "--limit", "100", "--format", "json"))
    spent = parse_usd(data["spent_usd"])
    assert spent == 10 * USD * today.day
    assert parse_usd(data["low_usd"]) <= parse_usd(data["projected_usd"]) <= parse_usd(data["high_usd"])
    assert parse_usd(data["projected_usd"]) >= spent
    assert data["run_out"] is not None


def os_db() -> str:
    import os

    return os.environ["SPENDTAG_DB"]


def test_budget_show_prints_recommendations(tmp_path: Path) -> None:
    run("budget", "set", "team", "--monthly", "1000")
    store = open_store(os_db())
    from spendtag.usage import Usage

    events = [make_event(f"r{i}", datetime.now(UTC) - timedelta(minutes=i), model="gpt-4o", provider="openai",
                         usage=Usage(input_tokens=100_000, output_tokens=1_000), cost=USD, agent="summariser")
              for i in range(120)]
    store.record(events)
    store.close()
    out = run("budget", "show", "team")
    assert "recommendation: gpt-4o is 100% of this spend ($120.00); the same tokens on gpt-4o-mini would cost" in out
    assert "recommendation: agent summariser: 120 calls, only 0% of input read from cache" in out


def test_fixed_costs_are_never_anomalies() -> None:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    store = open_store(os_db())
    store.record([make_event(f"q{h}", now - timedelta(hours=h), agent="planner", cost=USD // 100)
                  for h in range(2, 24 * 3)])
    store.close()
    run("record-cost", "500", "--tag", "client=acme", "--note", "annual seat")
    assert json.loads(run("anomalies", "--by", "agent", "--hours", "3", "--format", "json")) == []
