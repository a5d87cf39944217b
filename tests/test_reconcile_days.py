"""``reconcile``: days not begun yet are not "not pulled", and its text output keeps config text literal."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from spendtag.cli.main import cli
from spendtag.ledger import open_store
from spendtag.ledger.provider_tables import ProviderReports, ProviderStore
from spendtag.providers_api.model import CostRow, Fetched, UsageRow
from spendtag.reconcile import reconcile

SONNET = "claude-sonnet-4-5-20250929"
USD = 10**12
AT = datetime(2026, 3, 10, tzinfo=UTC)


def _pulled(store: ProviderStore, days: list[date], since: date, until: date) -> None:
    """The provider billed one unmapped API key $0.0045 of Sonnet on each of ``days`` (pulled in full)."""
    usage = [UsageRow("anthropic", d, SONNET, api_key_id="apikey_unmapped", workspace="wrk_a",
                      service_tier="standard", input_tokens=1000, output_tokens=100) for d in days]
    costs = [CostRow("anthropic", d, int(Decimal("0.0045") * USD), model=SONNET, bucket="input_tokens",
                     token_type="uncached_input_tokens", cost_type="tokens", workspace="wrk_a") for d in days]
    span = [since + timedelta(days=i) for i in range((until - since).days)]
    missing = [d for d in span if d not in days]
    store.save_provider_pull("anthropic", since, until, Fetched("usage", usage, days, missing, 1), AT)
    store.save_provider_pull("anthropic", since, until, Fetched("cost", costs, days, missing, 1), AT)


def _store(path: Path) -> ProviderStore:
    store = open_store(str(path))
    assert isinstance(store, ProviderReports)   # both ledgers keep provider reports
    return store


def test_days_after_today_are_future_not_missing(tmp_path: Path) -> None:
    store = _store(tmp_path / "l.db")
    # Pulled on 2026-03-10 for the whole month: the 1st-9th complete, the 10th in progress, the rest not yet begun.
    _pulled(store, [date(2026, 3, d) for d in range(1, 10)], date(2026, 3, 1), date(2026, 4, 1))
    rec = reconcile(store, "anthropic", date(2026, 3, 1), date(2026, 4, 1), period="2026-03",
                    today=date(2026, 3, 10))
    store.close()
    assert rec.not_pulled == [date(2026, 3, 10)]           # today: really not (fully) pulled
    assert rec.future == [date(2026, 3, d) for d in range(11, 32)]
    assert [d.key for d in rec.days] == [f"2026-03-{d:02d}" for d in range(1, 10)]
    assert rec.total.provider_cost == 9 * 4_500_000_000


def test_a_past_period_has_no_future_days(tmp_path: Path) -> None:
    store = _store(tmp_path / "l.db")
    _pulled(store, [date(2026, 3, 1)], date(2026, 3, 1), date(2026, 3, 3))
    rec = reconcile(store, "anthropic", date(2026, 3, 1), date(2026, 3, 3), today=date(2026, 6, 1))
    store.close()
    assert (rec.not_pulled, rec.future) == ([date(2026, 3, 2)], [])


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_prints_the_mapping_hint_literally_and_leaves_future_days_out(tmp_path: Path) -> None:
    import os

    today = datetime.now(UTC).date()
    since, until = today - timedelta(days=2), today + timedelta(days=3)
    store = _store(Path(os.environ["SPENDTAG_DB"]))
    _pulled(store, [since, since + timedelta(days=1)], since, today + timedelta(days=1))
    store.close()
    out = _run("reconcile", "--provider", "anthropic", "--since", since.isoformat(), "--until", until.isoformat())
    # The cause names the config table; rich markup once swallowed "[pull.mapping]" whole.
    assert "(unmapped): add a [pull.mapping] rule to compare it with the ledger" in out
    assert f"not pulled (1 day(s), left out of the totals): {today.isoformat()}; " in out
    later = [today + timedelta(days=1), today + timedelta(days=2)]
    assert f"not begun yet (UTC): {later[0]} to {later[1]} (2 days), not compared" in out
    assert later[0].isoformat() not in out.split("not begun yet")[0]
    data = json.loads(_run("reconcile", "--provider", "anthropic", "--since", since.isoformat(),
                           "--until", until.isoformat(), "--format", "json"))
    assert data["not_pulled"] == [today.isoformat()]
    assert data["future"] == [d.isoformat() for d in later]
    assert data["keys"][0]["causes"] == ["(unmapped): add a [pull.mapping] rule to compare it with the ledger"]
