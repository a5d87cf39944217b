"""``spendtag mcp`` through the official SDK's own client over stdio: every tool listed and called, its numbers
equal to the CLI's JSON for the same question, and the ledger unchanged by all of it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from spendtag.cli.main import cli

pytest.importorskip("mcp")

SONNET = '{"input_tokens": 1200, "output_tokens": 340, "cache_read_input_tokens": 5000}'
GPT = '{"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}'
TOOLS = {"spend", "budget_status", "forecast", "session_cost", "top_sessions"}


def _cli(db: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", str(db), *args], catch_exceptions=False, env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    return result.output


def _cli_json(db: Path, *args: str) -> Any:
    return json.loads(_cli(db, *args))


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    db = tmp_path / "ledger.db"
    now = datetime.now(UTC).replace(microsecond=0)
    start = max(now - timedelta(hours=3), now.replace(day=1, hour=0, minute=0, second=0))
    calls = [  # (session, project, client, provider, usage, minutes after start)
        ("s-acme-1", "/work/clients/acme/api", "acme", "anthropic", SONNET, 0),
        ("s-acme-1", "/work/clients/acme/api", "acme", "anthropic", SONNET, 1),
        ("s-acme-2", "/work/clients/acme/web", "acme", "openai", GPT, 2),
        ("s-globex", "/work/clients/globex", "globex", "anthropic", SONNET, 3),
        ("s-acme-2", "/work/clients/acme/web", "acme", "anthropic", SONNET, 4),
    ]
    for i, (session, project, client, provider, usage, minutes) in enumerate(calls):
        model = "claude-sonnet-4-5" if provider == "anthropic" else "gpt-4o"
        ts = (start + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
        _cli(db, "record", "--provider", provider, "--model", model, "--usage", usage, "--tag", f"client={client}",
             "--session", session, "--project", project, "--agent", "claude-code", "--event-id", f"e{i}",
             "--ts", ts)
    _cli(db, "budget", "set", "acme", "--scope", "client=acme", "--monthly", "5", "--notify-at", "50")
    _cli(db, "budget", "set", "all", "--monthly", "0.01")
    return db


def _digest(db: Path) -> str:
    return hashlib.sha256(db.read_bytes()).hexdigest()


async def _session(db: Path, calls: list[tuple[str, dict[str, Any]]], cwd: Path) -> tuple[set[str], list[Any]]:
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-m", "spendtag.cli.main", "--db", str(db), "mcp"],
                                   env={**os.environ, "COLUMNS": "160"}, cwd=cwd)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        listed = await session.list_tools()
        results = [await session.call_tool(name, args) for name, args in calls]
    return {t.name for t in listed.tools}, results


def _call_all(db: Path, calls: list[tuple[str, dict[str, Any]]], cwd: Path) -> tuple[set[str], list[Any]]:
    return asyncio.run(_session(db, calls, cwd))


def _pico(usd: str | None) -> int | None:
    return None if usd is None else int(Decimal(usd) * 10**12)


def test_every_tool_is_listed_read_only_and_answers_as_the_cli_does(ledger: Path, tmp_path: Path) -> None:
    before = _digest(ledger)
    period = datetime.now(UTC).strftime("%Y-%m")
    calls: list[tuple[str, dict[str, Any]]] = [
        ("spend", {"tags": ["client=acme"], "period": period}),
        ("spend", {"project": "/work/clients/acme/web", "by": "model"}),
        ("budget_status", {}),
        ("forecast", {"budget": "acme"}),
        ("session_cost", {"session": "s-acme-2"}),
        ("session_cost", {"project": "/work/clients/acme"}),
        ("top_sessions", {"limit": 2}),
        ("spend", {"tags": ["client=nobody"]}),            # a mistake: one line, an error result
    ]
    names, results = _call_all(ledger, calls, tmp_path)
    assert names == TOOLS
    data = [r.structured_content for r in results[:-1]]
    assert all(not r.is_error for r in results[:-1])
    assert all(r.content[0].text == d["text"] for r, d in zip(results, data, strict=False))

    # spend == spendtag report --format json, for the same selection
    report = _cli_json(ledger, "report", "--tag", "client=acme", "--period", period, "--format", "json")
    assert data[0]["total"] == {**report["total"], "cost_pico": _pico(report["total"]["cost_usd"]),
                                "cost_components_pico": {k: _pico(v) for k, v in
                                                         report["total"]["cost_components_usd"].items()}}
    assert data[0]["total"]["requests"] == 4 and data[0]["total"]["cost_pico"] > 0
    by_model = _cli_json(ledger, "report", "--by", "model", "--project", "/work/clients/acme/web", "--format", "json")
    assert [(r["model"], r["cost_usd"]) for r in data[1]["rows"]] == [(r["model"], r["cost_usd"])
                                                                     for r in by_model["rows"]]
    assert data[1]["total"]["cost_usd"] == by_model["total"]["cost_usd"]

    # budget_status == spendtag budget list --format json, plus what is left
    budgets = {b["name"]: b for b in _cli_json(ledger, "budget", "list", "--format", "json")}
    got = {b["name"]: b for b in data[2]["budgets"]}
    assert set(got) == {"acme", "all"}
    for name, b in budgets.items():
        for key in ("spent_usd", "limit_usd", "percent", "status", "crossed", "projected_usd"):
            assert got[name][key] == b[key], (name, key)
        assert got[name]["spent_pico"] == _pico(b["spent_usd"])
        left = max(Decimal(0), Decimal(b["limit_usd"]) - Decimal(b["spent_usd"]))
        assert Decimal(got[name]["left_usd"]) == left and got[name]["left_pico"] == _pico(str(left))
    assert got["all"]["left_pico"] == 0 and got["all"]["status"] != "ok"

    # forecast == spendtag forecast --budget acme --format json
    fc = _cli_json(ledger, "forecast", "--budget", "acme", "--format", "json")
    assert {k: data[3][k] for k in fc} == fc and data[3]["spent_pico"] == _pico(fc["spent_usd"])

    # session_cost == spendtag session ID --format json; without an id, the latest session under the project
    detail = _cli_json(ledger, "session", "s-acme-2", "--format", "json")
    assert {k: data[4][k] for k in detail} == detail and data[4]["cost_pico"] == _pico(detail["cost_usd"])
    assert data[5]["session"] == "s-acme-2" and data[5]["cost_usd"] == detail["cost_usd"]

    # top_sessions == spendtag sessions --by-cost --format json
    top = _cli_json(ledger, "sessions", "--by-cost", "--limit", "2", "--format", "json")
    assert [{k: s[k] for k in top[0]} for s in data[6]["sessions"]] == top
    costs = [s["cost_pico"] for s in data[6]["sessions"]]
    assert len(costs) == 2 and costs == sorted(costs, reverse=True) and costs[1] > 0

    assert results[-1].is_error and "nobody" in results[-1].content[0].text

    assert _digest(ledger) == before                                       # not a byte of the ledger changed
    assert len(_cli_json(ledger, "export", "--format", "json")) == 5


def test_the_server_cannot_write_even_if_asked(ledger: Path) -> None:
    """The store the server uses refuses writes (a tool that tried would fail, not record)."""
    from spendtag.ledger import open_store
    from spendtag.server.mcp.answers import Ledger, spend

    store = open_store(str(ledger))
    try:
        store.refuse_writes()
        before = spend(Ledger(store, [], _rules(), _utc()), tags=["client=acme"])
        with pytest.raises(Exception, match="(?i)readonly|read-only"):
            store.remove_budget("acme")
        assert spend(Ledger(store, [], _rules(), _utc()), tags=["client=acme"]) == before
    finally:
        store.close()


def _rules() -> Any:
    from spendtag.attribution import Rules

    return Rules.from_config(None)


def _utc() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("UTC")
