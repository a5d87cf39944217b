"""Pulling the providers' admin usage and cost reports from a real local HTTP server serving the fixtures."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pull_support import (
    ANTHROPIC_COST,
    ANTHROPIC_TOKEN,
    ANTHROPIC_USAGE,
    OPENAI_COST,
    OPENAI_USAGE,
    FakeAdminAPI,
    Sleeps,
    Store,
    anthropic_routes,
    open_store,
    openai_routes,
    serve,
)

from spendtag.providers_api import anthropic, openai
from spendtag.providers_api.attribute import attribute, group, split
from spendtag.providers_api.http import ProviderAPIError, RetryPolicy, retry_after
from spendtag.providers_api.mapping import Rules
from spendtag.providers_api.model import CostRow, UsageRow
from spendtag.providers_api.pull import make_client, parse_interval, pull, recent

JAN5, JAN8 = date(2026, 1, 5), date(2026, 1, 8)
FAST = RetryPolicy(attempts=4, backoff=0.01, max_wait=5.0, timeout=5.0)
AT = datetime(2026, 1, 9, 12, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(tmp_path / "ledger.db")


def _sums(store: Store) -> dict[str, int]:
    rows = store.provider_usage("anthropic")
    names = ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "output_tokens",
             "web_search_requests")
    return {"rows": len(rows), **{n: sum(r.count(n) for r in rows) for n in names},
            "cost_rows": len(store.provider_costs("anthropic")),
            "cost": sum(c.amount for c in store.provider_costs("anthropic"))}


EXPECTED = {
    "rows": 3,
    "input_tokens": 1_500_000 + 820_000 + 1_210_000,
    "cache_read_tokens": 4_000_000 + 3_650_000,
    "cache_write_5m_tokens": 200_000,
    "cache_write_1h_tokens": 100_000,
    "output_tokens": 300_000 + 61_000 + 254_000,
    "web_search_requests": 160,
    "cost_rows": 6,
    "cost": 12_750_000_000_000,          # 1275 cents = $12.75 (FORMATS.md section 7)
}


def test_pages_429_and_500_mid_way_give_every_row_exactly_once(store: Store) -> None:
    routes = anthropic_routes()
    # Page 2 of the usage report: first rate limited (Retry-After), then a server error, then served.
    routes[ANTHROPIC_USAGE].faults[ANTHROPIC_TOKEN] = [
        (429, {"retry-after": "0.05"}, {"error": {"type": "rate_limit_error", "message": "slow down"}}),
        (500, {}, {"error": {"type": "api_error", "message": "Internal server error"}}),
    ]
    routes[ANTHROPIC_COST].faults[None] = [(503, {}, {"error": {"type": "overloaded_error", "message": "busy"}})]
    api = FakeAdminAPI(routes)
    sleeps = Sleeps()
    with serve(api) as url:
        client = make_client("anthropic", url, key="sk-ant-admin-test", sleep=sleeps, policy=FAST)
        result = pull(store, "anthropic", client, JAN5, JAN8, now=lambda: AT)

    assert result.complete
    assert [(f.report, f.pages, f.days, f.missing) for f in result.reports] == [
        ("usage", 2, [JAN5, date(2026, 1, 6), date(2026, 1, 7)], []),
        ("cost", 1, [JAN5, date(2026, 1, 6), date(2026, 1, 7)], []),
    ]
    assert _sums(store) == EXPECTED
    # Retry-After honoured for the 429; exponential backoff after it and for the 503.
    assert sleeps.calls == [0.05, 0.02, 0.01]
    usage_calls = api.requests_to(ANTHROPIC_USAGE)
    assert [s.param("page") for s in usage_calls] == [None, ANTHROPIC_TOKEN, ANTHROPIC_TOKEN, ANTHROPIC_TOKEN]
    first = usage_calls[0]
    assert first.param("starting_at") == "2026-01-05T00:00:00Z" and first.param("ending_at") == "2026-01-08T00:00:00Z"
    assert first.param("bucket_width") == "1d"
    assert [v for k, v in first.query if k == "group_by[]"] == [
        "model", "workspace_id", "api_key_id", "service_tier", "context_window"]
    assert first.headers["x-api-key"] == "sk-ant-admin-test"
    assert first.headers["anthropic-version"] == "2023-06-01"
    cost_call = api.requests_to(ANTHROPIC_COST)[0]
    assert [v for k, v in cost_call.query if k == "group_by[]"] == ["workspace_id", "description"]

    # The 2026-01-05 cost lines, exactly: cents strings to pico-USD.
    day5 = [c for c in store.provider_costs("anthropic") if c.day == JAN5]
    assert sum(c.amount for c in day5) == 12_750_000_000_000
    assert {c.bucket: c.amount for c in day5} == {
        "input_tokens": 4_500_000_000_000, "output_tokens": 4_500_000_000_000,
        "cache_read_tokens": 1_200_000_000_000, "cache_write_5m_tokens": 750_000_000_000,
        "cache_write_1h_tokens": 600_000_000_000, "web_search_requests": 1_200_000_000_000}

    # Re-running the same range replaces, never duplicates.
    with serve(FakeAdminAPI(anthropic_routes())) as url:
        again = pull(store, "anthropic", make_client("anthropic", url, key="k", policy=FAST), JAN5, JAN8)
    assert again.complete
    assert _sums(store) == EXPECTED
    statuses = store.provider_days("anthropic")
    assert [(s.report, s.day, s.complete) for s in statuses] == [
        (rep, d, True) for d in (JAN5, date(2026, 1, 6), date(2026, 1, 7)) for rep in ("cost", "usage")]
    assert len(store.provider_pulls("anthropic")) == 4


def test_a_page_that_keeps_failing_leaves_its_days_unpulled(store: Store) -> None:
    routes = anthropic_routes()
    routes[ANTHROPIC_USAGE].always_fail.add(ANTHROPIC_TOKEN)
    sleeps = Sleeps()
    with serve(FakeAdminAPI(routes)) as url:
        result = pull(store, "anthropic", make_client("anthropic", url, key="k", sleep=sleeps, policy=FAST),
                      JAN5, JAN8)
    assert not result.complete
    usage = result.reports[0]
    assert usage.days == [JAN5, date(2026, 1, 6)]
    assert usage.missing == [date(2026, 1, 7)]
    assert usage.error == f"page 2: {ANTHROPIC_USAGE}: HTTP 500: api_error: Internal server error after 4 attempts"
    assert len(sleeps.calls) == 3
    assert len(store.provider_usage("anthropic")) == 3        # pages that were read are kept
    status = {(s.report, s.day): (s.complete, s.error) for s in store.provider_days("anthropic")}
    assert status[("usage", date(2026, 1, 7))] == (False, usage.error)
    assert status[("usage", JAN5)] == (True, "")
    log = store.provider_pulls("anthropic")
    assert sorted((p.report, p.days_complete, p.days_missing, p.complete) for p in log) == [
        ("cost", 3, 0, True), ("usage", 2, 1, False)]


def test_a_failed_re_pull_keeps_what_an_earlier_pull_stored(store: Store) -> None:
    with serve(FakeAdminAPI(anthropic_routes())) as url:
        pull(store, "anthropic", make_client("anthropic", url, key="k", policy=FAST), JAN5, JAN8)
    routes = anthropic_routes()
    routes[ANTHROPIC_USAGE].always_fail.add(None)
    with serve(FakeAdminAPI(routes)) as url:
        result = pull(store, "anthropic", make_client("anthropic", url, key="k", sleep=Sleeps(), policy=FAST),
                      JAN5, JAN8)
    assert result.reports[0].missing == [JAN5, date(2026, 1, 6), date(2026, 1, 7)]
    assert _sums(store) == EXPECTED
    # Still marked complete from the earlier pull; the failure is noted.
    day5 = next(s for s in store.provider_days("anthropic") if s.report == "usage" and s.day == JAN5)
    assert day5.complete and "HTTP 500" in day5.error


def test_openai_usage_subtracts_cached_tokens_and_costs_are_exact_dollars(store: Store) -> None:
    api = FakeAdminAPI(openai_routes())
    with serve(api) as url:
        result = pull(store, "openai", make_client("openai", url, key="sk-admin-test", policy=FAST),
                      date(2026, 1, 1), date(2026, 1, 3))
    assert result.complete
    rows = store.provider_usage("openai")
    assert [(r.model, r.workspace, r.input_tokens, r.cache_read_tokens, r.output_tokens, r.requests)
            for r in rows] == [
        ("gpt-4o-mini-2024-07-18", "proj_Ab12Cd34Ef56Gh78", 529_480, 1_310_720, 20_411, 1203),
        ("gpt-5-2025-08-07", "proj_Zy98Xw76Vu54Ts32", 912_000, 0, 138_800, 100),
    ]
    costs = store.provider_costs("openai")
    assert [(c.model, c.bucket, c.amount, c.quantity) for c in costs] == [
        ("gpt-4o-mini-2024-07-18", "cache_read_tokens", 98_304_000_000, "1310720"),
        ("gpt-4o-mini-2024-07-18", "input_tokens", 79_422_000_000, "529480"),
        ("gpt-4o-mini-2024-07-18", "output_tokens", 12_246_600_000, "20411"),
        ("", "web_search_requests", 1_200_000_000_000, "120"),
    ]
    assert sum(c.amount for c in costs) == 1_389_972_600_000     # $1.3899726, no float drift
    first = api.requests_to(OPENAI_USAGE)[0]
    assert first.param("start_time") == "1767225600" and first.param("end_time") == "1767398400"
    assert [v for k, v in first.query if k == "group_by"] == ["model", "project_id", "api_key_id", "batch",
                                                               "service_tier"]
    assert first.headers["authorization"] == "Bearer sk-admin-test"
    assert [s.param("page") for s in api.requests_to(OPENAI_COST)] == [None, "page_AAAAAGlW_wBfJdKOAAAAAGlYUIA="]


def test_openai_rows_normalise_batch_audio_and_cache_writes() -> None:
    row = openai.usage_row(date(2026, 1, 1), {
        "input_tokens": 1000, "input_cached_tokens": 300, "input_cache_write_tokens": 100,
        "input_cache_write_12h_tokens": 40, "input_audio_tokens": 50, "output_tokens": 200,
        "output_audio_tokens": 20, "num_model_requests": 3, "batch": True, "service_tier": None})
    assert (row.input_tokens, row.cache_read_tokens, row.cache_write_5m_tokens, row.cache_write_1h_tokens,
            row.input_audio_tokens, row.output_tokens, row.output_audio_tokens, row.service_tier) == (
        550, 300, 60, 40, 50, 180, 20, "batch")
    with pytest.raises(ValueError, match="input_tokens is smaller than its parts"):
        openai.usage_row(date(2026, 1, 1), {"input_tokens": 10, "input_cached_tokens": 11, "output_tokens": 0})
    assert openai.split_line_item("gpt-4o-mini-2024-07-18, cached input") == ("gpt-4o-mini-2024-07-18", "cached input")
    assert openai.split_line_item("web search tool calls") == ("", "web search tool calls")
    assert openai.dollars_to_pico(0.1) == 100_000_000_000
    with pytest.raises(ValueError):
        openai.dollars_to_pico("0.1")


def test_anthropic_amounts_are_cents_strings() -> None:
    assert anthropic.cents_to_pico("450.00000") == 4_500_000_000_000
    assert anthropic.cents_to_pico("0.00001") == 100_000          # a ten-millionth of a dollar
    with pytest.raises(ProviderAPIError):
        anthropic.cents_to_pico(450.0)


def test_auth_errors_are_not_retried_and_never_echo_the_key(store: Store) -> None:
    routes = anthropic_routes()
    routes[ANTHROPIC_USAGE].faults[None] = [(401, {}, {"error": {"message": "invalid x-api-key"}})]
    sleeps = Sleeps()
    with serve(FakeAdminAPI(routes)) as url:
        result = pull(store, "anthropic", make_client("anthropic", url, key="sk-ant-secret", sleep=sleeps,
                                                      policy=FAST), JAN5, JAN8)
    usage = result.reports[0]
    assert usage.error == f"page 1: {ANTHROPIC_USAGE}: HTTP 401: invalid x-api-key"
    assert "sk-ant-secret" not in usage.error and sleeps.calls == []
    assert usage.missing == [JAN5, date(2026, 1, 6), date(2026, 1, 7)]


def test_a_provider_error_that_quotes_a_key_is_stored_with_its_type_and_code_and_the_key_redacted(
        store: Store) -> None:
    routes = anthropic_routes()
    quoted = "sk-ant-admin01-Zx81TqLm0c9VbN4sRw7YhU2eKa5Jd3Fg"
    routes[ANTHROPIC_USAGE].faults[None] = [(403, {}, {"type": "error", "error": {
        "type": "permission_error", "message": f"key {quoted} is not an admin key"}})]
    with serve(FakeAdminAPI(routes)) as url:
        result = pull(store, "anthropic", make_client("anthropic", url, key="k", sleep=Sleeps(), policy=FAST),
                      JAN5, JAN8)
    expected = f"page 1: {ANTHROPIC_USAGE}: HTTP 403: permission_error: key [redacted] is not an admin key"
    assert result.reports[0].error == expected
    stored = [d.error for d in store.provider_days("anthropic")] + [p.error for p in store.provider_pulls("anthropic")]
    assert expected in stored and not any(quoted in e or "Zx81" in e for e in stored)


def test_missing_key_and_bad_options_are_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    from spendtag.errors import SpendtagError

    monkeypatch.delenv("ANTHROPIC_ADMIN_KEY", raising=False)
    with pytest.raises(SpendtagError, match="set ANTHROPIC_ADMIN_KEY"):
        make_client("anthropic")
    with pytest.raises(SpendtagError, match="cannot pull from 'gemini'"):
        make_client("gemini", key="k")
    assert parse_interval("1h") == 3600 and parse_interval("30m") == 1800 and parse_interval("2d") == 172_800
    with pytest.raises(SpendtagError, match="too short"):
        parse_interval("5s")
    assert recent(date(2026, 3, 10)) == (date(2026, 3, 9), date(2026, 3, 11))


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert retry_after("7", now) == 7.0
    assert retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0
    assert retry_after("soon", now) is None and retry_after(None) is None


@given(st.integers(-10**15, 10**15), st.lists(st.integers(0, 10**9), min_size=1, max_size=20))
def test_a_bill_split_adds_up_exactly(amount: int, weights: list[int]) -> None:
    if sum(weights) == 0:
        weights = [*weights[:-1], 1]
    parts = split(amount, weights)
    assert sum(parts) == amount
    total = sum(weights)
    for part, w in zip(parts, weights, strict=True):
        assert abs(part * total - amount * w) < total          # each within one pico of its exact share


def test_api_key_attribution_splits_each_bill_line_by_tokens_of_its_kind() -> None:
    day = date(2026, 3, 1)
    usage = [UsageRow("anthropic", day, "claude-sonnet-4-5-20250929", api_key_id="k1", workspace="w",
                      input_tokens=1, output_tokens=30),
             UsageRow("anthropic", day, "claude-sonnet-4-5-20250929", api_key_id="k2", workspace="w",
                      input_tokens=2, output_tokens=10)]
    costs = [CostRow("anthropic", day, 10, model="claude-sonnet-4-5-20250929", workspace="w", bucket="input_tokens"),
             CostRow("anthropic", day, 8, model="claude-sonnet-4-5-20250929", workspace="w", bucket="output_tokens"),
             CostRow("anthropic", day, 5, model="claude-opus-4-1", workspace="w", bucket="input_tokens")]
    rules = Rules.from_config({"mapping": {"anthropic:api_key:k1": {"client": "acme"}}})
    groups, total = group(attribute(usage, costs, rules), "key")
    assert [(g.label, g.cost) for g in groups] == [("k1", 3 + 6), ("k2", 7 + 2), ("(none)", 5)]
    assert total.cost == 23
    by_client, _ = group(attribute(usage, costs, rules), "client")
    assert [(g.label, g.cost) for g in by_client] == [("acme", 9), ("(unmapped)", 14)]     # unmapped last
