"""``spendtag pull``, ``pull show``, ``pull status`` and ``reconcile`` end to end, with exact output."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from pull_support import (
    ANTHROPIC_TOKEN,
    ANTHROPIC_USAGE,
    FakeAdminAPI,
    anthropic_routes,
    open_store,
    openai_routes,
    serve,
)

from spendtag.cli.main import cli
from spendtag.cli.pull import COMMANDS
from spendtag.recording import Recorder
from spendtag.usage import Usage, UsageEvent

CONFIG = """
[pull.mapping]
"anthropic:workspace:wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ" = { client = "acme" }
"openai:project:proj_Ab12Cd34Ef56Gh78" = { client = "globex" }
"openai:model:gpt-5*" = { team = "research" }
"""


@pytest.fixture(autouse=True)
def _provider_ledger(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Until the lead adds ProviderTables to SQLiteStore, the CLI opens the test store."""
    import spendtag.ledger

    monkeypatch.setattr(spendtag.ledger, "open_store", open_store)
    monkeypatch.setattr("spendtag.providers_api.http.default_sleep", lambda s: None)
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-admin-test")
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-test")
    (tmp_path / "config.toml").write_text(CONFIG)
    # The CLI finds `pull` and `reconcile` lazily once the lead lists them; register them for these tests.
    for command in COMMANDS:
        monkeypatch.setitem(cli.commands, command.name or "", command)


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": "160"})
    assert result.exit_code == code, result.output
    return result.output


def test_pull_then_show_by_client_with_mapping_rules() -> None:
    with serve(FakeAdminAPI(anthropic_routes())) as url:
        out = run("pull", "anthropic", "--since", "2026-01-05", "--until", "2026-01-08", "--base-url", url)
    assert out == ("anthropic usage: 3 day(s) replaced, 3 row(s), 2 page(s)\n"
                   "anthropic cost: 3 day(s) replaced, 6 row(s), 1 page(s)\n")
    with serve(FakeAdminAPI(openai_routes())) as url:
        out = run("pull", "openai", "--since", "2026-01-01", "--until", "2026-01-03", "--base-url", url)
    assert out == ("openai usage: 2 day(s) replaced, 2 row(s), 2 page(s)\n"
                   "openai cost: 2 day(s) replaced, 4 row(s), 2 page(s)\n")

    out = run("pull", "show", "--period", "2026-01", "--by", "client", "--format", "csv")
    assert out == (
        "client,requests,input_tokens,cache_read_tokens,cache_write_5m_tokens,cache_write_1h_tokens,output_tokens,"
        "input_audio_tokens,output_audio_tokens,web_search_requests,cost_usd\n"
        "acme,,2710000,7650000,200000,100000,554000,0,0,160,12.75\n"
        "globex,1203,529480,1310720,0,0,20411,0,0,0,0.1899726\n"
        "(unmapped),100,1732000,0,0,0,199800,0,0,0,1.20\n"
        "total,1303,4971480,8960720,200000,100000,774211,0,0,160,14.1399726\n"
    )
    out = run("pull", "show", "--period", "2026-01", "--by", "team", "--format", "csv")
    assert out.splitlines()[1:] == ["research,100,912000,0,0,0,138800,0,0,0,1.20",
                                    "(unmapped),1203,4059480,8960720,200000,100000,635411,0,0,160,12.9399726",
                                    "total,1303,4971480,8960720,200000,100000,774211,0,0,160,14.1399726"]
    out = run("pull", "show", "anthropic", "--since", "2026-01-05", "--until", "2026-01-08", "--by", "day")
    assert "│ 2026-01-05 │        - │ 2,320,000 │  4,000,000 │     300,000 │ 361,000 │          120 │ $12.75 │" in out
    assert "│ total      │        - │ 3,530,000 │  7,650,000 │     300,000 │ 615,000 │          160 │ $12.75 │" in out

    # Re-running the pull changes nothing.
    with serve(FakeAdminAPI(anthropic_routes())) as url:
        run("pull", "anthropic", "--since", "2026-01-05", "--until", "2026-01-08", "--base-url", url)
    again = run("pull", "show", "--period", "2026-01", "--by", "client", "--format", "csv")
    assert again.splitlines()[-1] == "total,1303,4971480,8960720,200000,100000,774211,0,0,160,14.1399726"

    status = run("pull", "status", "anthropic")
    lines = [re.sub(r"^\S+ \S+ ", "", line) for line in status.splitlines()]
    assert lines[0] in ("anthropic cost 2026-01-05..2026-01-08 1 page(s), 3 day(s): complete",
                        "anthropic usage 2026-01-05..2026-01-08 2 page(s), 3 day(s): complete")
    assert len(lines) == 4


def test_a_failing_pull_says_which_days_and_exits_non_zero(tmp_path: Path) -> None:
    routes = anthropic_routes()
    routes[ANTHROPIC_USAGE].always_fail.add(ANTHROPIC_TOKEN)
    with serve(FakeAdminAPI(routes)) as url:
        # The base URL from the config file this time.
        (tmp_path / "config.toml").write_text(f'[pull]\nanthropic_base_url = "{url}"\n' + CONFIG)
        result = CliRunner().invoke(cli, ["pull", "anthropic", "--since", "2026-01-05", "--until", "2026-01-08"],
                                    catch_exceptions=False, env={"COLUMNS": "160"})
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (
        "anthropic usage: 2 day(s) replaced, 3 row(s), 1 page(s); INCOMPLETE 1 day(s) not pulled: 2026-01-07 "
        f"(page 2: {ANTHROPIC_USAGE}: HTTP 500: api_error: Internal server error after 5 attempts)")
    assert "some days were not pulled" in result.stderr


def test_pull_without_a_key_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_ADMIN_KEY")
    out = run("pull", "anthropic", "--since", "2026-01-05", code=2)
    assert out == "error: no admin key: set ANTHROPIC_ADMIN_KEY to an admin API key of your anthropic organisation\n"


def test_pull_every_loops_until_interrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    rounds: list[tuple[str, str]] = []

    def fake_pull(store, provider, api, since, until):  # type: ignore[no-untyped-def]
        from spendtag.providers_api.model import PullResult

        rounds.append((since.isoformat(), until.isoformat()))
        if len(rounds) == 3:
            raise KeyboardInterrupt
        return PullResult(provider, since, until)

    monkeypatch.setattr("spendtag.providers_api.pull.pull", fake_pull)
    monkeypatch.setattr("spendtag.providers_api.pull.time.sleep", lambda s: None)
    result = CliRunner().invoke(cli, ["pull", "anthropic", "--every", "1h", "--since", "2026-01-01"],
                                catch_exceptions=False)
    assert result.exit_code == 0
    assert rounds[0][0] == "2026-01-01" and rounds[1][1] == rounds[2][1]
    assert len({r for r in rounds[1:]}) == 1                      # later rounds: the last 2 days again
    assert "stopped" in result.stderr


def test_drift_alert_then_reconcile_json_and_table() -> None:
    with serve(FakeAdminAPI(anthropic_routes())) as url:
        run("pull", "anthropic", "--since", "2026-01-05", "--until", "2026-01-08", "--base-url", url)
    # Nothing in the ledger yet: 100% drift, alerted once through the console channel.
    args = ("reconcile", "--provider", "anthropic", "--since", "2026-01-05", "--until", "2026-01-08",
            "--alert-over", "5%", "--format", "json")
    first = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert "Spend drift for scope provider=anthropic (5%) in 2026-01-05..2026-01-08." in first.stderr
    assert "alert: drift +100.0% for anthropic in 2026-01-05..2026-01-08" in first.stderr
    second = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert second.exit_code == 0 and "drift" not in second.stderr
    # The 2026-01-05 Sonnet usage as 40 calls (each under the 200k long-context tier), priced by spendtag.
    store = open_store(os.environ["SPENDTAG_DB"])
    usage = Usage(input_tokens=37_500, output_tokens=7_500, cache_read_tokens=100_000, cache_write_5m_tokens=5_000,
                  cache_write_1h_tokens=2_500, web_search_requests=3)
    Recorder(store).record(UsageEvent(f"e{i}", datetime(2026, 1, 5, 10, tzinfo=UTC), "anthropic",
                                      "claude-sonnet-4-5-20250929", usage) for i in range(40))
    store.close()
    out = run("reconcile", "--provider", "anthropic", "--since", "2026-01-05", "--until", "2026-01-08",
              "--format", "json")
    data = json.loads(out)
    day5 = data["days"][0]
    assert (day5["day"], day5["ledger_usd"], day5["provider_usd"], day5["difference_usd"]) == (
        "2026-01-05", "12.75", "12.75", "0.00")
    day6 = data["days"][1]
    assert day6["difference_usd"] == "0.00" and day6["provider_usd"] == "0.00"
    assert day6["causes"] == []          # the fixture bills nothing that day: no difference to explain
    haiku = next(m for m in data["models"] if m["model"] == "claude-haiku-4-5")
    assert haiku["provider_tokens"] == 881_000 and haiku["ledger_tokens"] == 0
    table = run("reconcile", "--provider", "anthropic", "--since", "2026-01-05", "--until", "2026-01-08")
    assert "total (days pulled): ledger $12.75, provider $12.75, difference $0.00 (0.0%)" in table
