"""The command line, end to end through click's runner, with exact output."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from spendtag.cli.main import cli

README = Path(__file__).resolve().parents[1] / "README.md"
DOCS = Path(__file__).resolve().parents[1] / "docs"

SONNET = '{"input_tokens": 1000, "output_tokens": 100}'                      # $0.003 + $0.0015
GPT4O = '{"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}'  # $0.0025 + $0.001


def run(*args: str, input: str | None = None, ok: bool = True) -> str:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False, env={"COLUMNS": "160"})
    if ok:
        assert result.exit_code == 0, result.output
    return result.output


def seed() -> None:
    run("record", "--provider", "anthropic", "--model", "claude-sonnet-4-5", "--usage", SONNET,
        "--tag", "client=acme", "--agent", "planner", "--event-id", "a1", "--ts", "2026-03-14T10:00:00Z")
    run("record", "--provider", "anthropic", "--model", "claude-sonnet-4-5", "--usage", SONNET,
        "--tag", "client=acme,env=prod", "--agent", "coder", "--event-id", "a2", "--ts", "2026-03-15T23:30:00Z")
    run("record", "--provider", "openai", "--model", "gpt-4o", "--usage", GPT4O,
        "--tag", "client=globex", "--event-id", "g1", "--ts", "2026-03-20T09:00:00Z")
    run("record", "--provider", "openai", "--model", "gpt-4o", "--usage", GPT4O,
        "--event-id", "u1", "--ts", "2026-04-02T09:00:00Z")


def test_record_prints_cost_and_is_idempotent() -> None:
    out = run("record", "--provider", "anthropic", "--model", "claude-sonnet-4-5", "--usage", SONNET,
              "--event-id", "x", "--ts", "2026-03-14T10:00:00Z")
    assert out == "recorded: x · anthropic/claude-sonnet-4-5 · $0.004500\n"
    again = run("record", "--provider", "anthropic", "--model", "claude-sonnet-4-5", "--usage", SONNET,
                "--event-id", "x", "--ts", "2026-03-14T10:00:00Z")
    assert again == "already recorded (unchanged): x · anthropic/claude-sonnet-4-5 · $0.004500\n"


def test_report_csv_is_exact_and_has_untagged_row() -> None:
    seed()
    out = run("report", "--by", "client", "--format", "csv")
    assert out == (
        "client,requests,unpriced_requests,input_tokens,cache_read_tokens,cache_write_5m_tokens,"
        "cache_write_1h_tokens,output_tokens,reasoning_tokens,cost_usd,share_percent\n"
        "acme,2,0,2000,0,0,0,200,0,0.009,56.2\n"
        "globex,1,0,1000,0,0,0,100,0,0.0035,21.9\n"
        "(untagged),1,0,1000,0,0,0,100,0,0.0035,21.9\n"
        "total,4,0,4000,0,0,0,400,0,0.016,100.0\n"
    )


def test_report_period_tz_and_two_keys() -> None:
    seed()
    # 23:30 UTC on the 15th is the 16th in Berlin: by day in Berlin it moves.
    out = run("report", "--by", "day", "--period", "2026-03", "--tz", "Europe/Berlin", "--format", "summary")
    assert out == (
        "2026-03-14: <$0.01 (36.0%), 1 requests\n"
        "2026-03-16: <$0.01 (36.0%), 1 requests\n"
        "2026-03-20: <$0.01 (28.0%), 1 requests\n"
        "total: $0.01, 3 requests\n"
    )
    data = json.loads(run("report", "--by", "client,model", "--period", "2026-03", "--format", "json"))
    rows = {(r["client"], r["model"]): r["cost_usd"] for r in data["rows"]}
    assert rows == {("acme", "claude-sonnet-4-5"): "0.009", ("globex", "gpt-4o"): "0.0035", (None, None): "0.00"}
    assert data["total"]["cost_usd"] == "0.0125"
    assert data["total"]["requests"] == 3


def test_report_filters() -> None:
    seed()
    data = json.loads(run("report", "--by", "agent", "--tag", "client=acme", "--format", "json"))
    assert {r["agent"]: r["cost_usd"] for r in data["rows"]} == {"planner": "0.0045", "coder": "0.0045"}
    data = json.loads(run("report", "--by", "client", "--tag", "env", "--format", "json"))
    assert data["total"]["cost_usd"] == "0.0045"
    data = json.loads(run("report", "--by", "client", "--tag", "client!=acme", "--format", "json"))
    assert data["total"]["requests"] == 2
    data = json.loads(run("report", "--by", "model", "--model", "gpt-4o", "--since", "2026-03-01",
                          "--until", "2026-04-01", "--format", "json"))
    assert data["total"]["cost_usd"] == "0.0035"


def test_unpriced_model_warns_and_is_not_zero() -> None:
    seed()
    out = run("record", "--provider", "acme-ai", "--model", "house-model-9", "--usage", GPT4O, "--event-id", "h1",
              "--ts", "2026-03-21T09:00:00Z")
    assert "unpriced" in out
    summary = run("report", "--by", "model", "--format", "summary")
    assert "warning: 1 calls could not be priced and are not in these costs: acme-ai/house-model-9 (1)" in summary
    data = json.loads(run("report", "--by", "model", "--format", "json"))
    assert data["unpriced"] == [{"provider": "acme-ai", "model": "house-model-9", "requests": 1}]
    check = run("prices", "check")
    assert "house-model-9" in check
    run("prices", "check", "--strict", ok=False)


def test_price_override_prices_new_calls_only() -> None:
    run("record", "--provider", "local", "--model", "my-llm", "--usage", GPT4O, "--event-id", "before",
        "--ts", "2026-03-01T00:00:00Z")
    assert run("prices", "override", "my-llm", "--input", "1", "--output", "2") == "override #1 saved for my-llm\n"
    out = run("record", "--provider", "local", "--model", "my-llm", "--usage", GPT4O, "--event-id", "after",
              "--ts", "2026-03-01T00:00:00Z")
    assert out == "recorded: after · local/my-llm · $0.001200\n"   # 1000 x $1/M + 100 x $2/M
    data = json.loads(run("report", "--by", "model", "--format", "json"))
    assert data["total"]["cost_usd"] == "0.0012" and data["total"]["unpriced_requests"] == 1
    assert "my-llm" in run("prices", "overrides")
    assert run("prices", "remove", "1") == "override #1 removed\n"


def test_export_csv_neutralises_formulas_and_keeps_exact_money(tmp_path: Path) -> None:
    # From a file: on the command line, client==... is refused as a slip for client=...
    line = {"provider": "anthropic", "model": "claude-sonnet-4-5", "usage": json.loads(SONNET), "event_id": "e1",
            "ts": "2026-03-14T10:00:00Z", "tags": {"client": '=HYPERLINK("http://x")', "note": "@SUM(A1)"}}
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(line) + "\n")
    run("ingest", str(source))
    target = tmp_path / "out.csv"
    run("export", "--format", "csv", "--output", str(target))
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) == 1
    assert rows[0]["tag:client"] == "'=HYPERLINK(\"http://x\")"
    assert rows[0]["tag:note"] == "'@SUM(A1)"
    assert rows[0]["cost_usd"] == "0.0045"
    assert rows[0]["cost_input_tokens"] == "0.003" and rows[0]["cost_output_tokens"] == "0.0015"
    assert rows[0]["price_date"] == "2026-03-14"
    assert rows[0]["price_source"].startswith("genai-prices ")
    lines = run("export", "--format", "jsonl").splitlines()
    assert json.loads(lines[0])["cost_usd"] == "0.0045"


def test_ingest_skips_and_counts_malformed_lines(tmp_path: Path) -> None:
    good = {"provider": "openai", "model": "gpt-4o", "usage": json.loads(GPT4O), "ts": "2026-03-14T10:00:00Z",
            "tags": {"client": "acme"}}
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({**good, "event_id": "x2"}) + "\n")
    out = run("ingest", str(path))
    assert out.startswith("recorded 2 new events, 0 already recorded, 0 lines without usage, "
                          "1 malformed lines skipped")
    assert f"{path}:2: not JSON" in out
    again = run("ingest", str(path))
    assert again.startswith("recorded 0 new events, 2 already recorded")


def test_bad_usage_json_is_a_clear_error() -> None:
    result = CliRunner().invoke(cli, ["record", "--provider", "openai", "--model", "gpt-4o", "--usage", "{oops"])
    assert result.exit_code == 2
    assert result.output.startswith("error: --usage is not valid JSON")


def test_bad_tag_is_a_clear_error() -> None:
    result = CliRunner().invoke(cli, ["record", "--provider", "openai", "--model", "gpt-4o", "--usage", GPT4O,
                                      "--tag", "client"])
    assert result.exit_code == 2
    assert "has no '='" in result.output


def test_trends_draws_bars_and_top_ranks() -> None:
    seed()
    out = run("trends", "--by", "day", "--period", "2026-03")
    lines = out.splitlines()
    assert lines[0].startswith("Spend by day · 2026-03-01 00:00 – 2026-04-01 00:00")
    assert lines[1].startswith("2026-03-14  ") and "█" in lines[1]
    top = json.loads(run("top", "--by", "agent", "--limit", "1", "--format", "json"))
    assert len(top["rows"]) == 1


def test_compare_sides() -> None:
    seed()
    data = json.loads(run("compare", "client=acme", "client=globex", "--format", "json"))
    assert data["client=acme"]["cost_usd"] == "0.009"
    assert data["client=globex"]["cost_usd"] == "0.0035"


def test_demo_loads_once_into_its_own_ledger_and_prints_client_report() -> None:
    from spendtag.demo import ledger_path

    first = run("demo", "--days", "5")
    assert "acme" in first and "(untagged)" in first and "total" in first
    demo_db = str(ledger_path())
    data = json.loads(run("--db", demo_db, "report", "--by", "client", "--source", "demo", "--format", "json"))
    again_out = run("demo", "--days", "5")
    assert f"Recorded 0 sample calls ({data['total']['requests']:,} already there)" in again_out
    again = json.loads(run("--db", demo_db, "report", "--by", "client", "--source", "demo", "--format", "json"))
    assert again["total"] == data["total"]
    assert data["total"]["requests"] > 50
    # The user's own ledger (SPENDTAG_DB) got nothing: its report says so (on stderr, beside the JSON).
    own = CliRunner().invoke(cli, ["report", "--format", "json"], catch_exceptions=False)
    assert json.loads(own.stdout)["total"]["requests"] == 0
    assert own.stderr.startswith("note: no calls recorded yet in ")


def _commands(group: click.Group, prefix: str = "spendtag") -> list[str]:
    out = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        out.append(path)
        if isinstance(command, click.Group):
            out.extend(_commands(command, path))
    return out


def test_every_command_is_documented() -> None:
    text = README.read_text()
    if DOCS.exists():
        text += "".join(p.read_text() for p in DOCS.glob("*.md"))
    missing = [c for c in _commands(cli) if not re.search(re.escape(c) + r"\b", text)]
    assert missing == []


def test_every_setting_is_documented() -> None:
    from spendtag.settings import SETTINGS

    text = README.read_text()
    assert [s.env for s in SETTINGS if s.env not in text] == []


@pytest.mark.parametrize("args", [["--help"], ["report", "--help"], ["prices", "--help"]])
def test_help_works(args: list[str]) -> None:
    assert "Usage:" in run(*args)


def test_ingest_reads_batch_files_and_stdin() -> None:
    from conftest import fixture_path

    openai_batch = fixture_path("openai", "06_batch_output.jsonl").read_text()
    out = run("ingest", "-", input=openai_batch)
    # One success; the 400 and the expired row carry no usage.
    assert out.startswith("recorded 1 new events, 0 already recorded, 2 lines without usage, 0 malformed")
    anthropic_batch = str(fixture_path("anthropic", "06_batch_results.jsonl"))
    out = run("ingest", anthropic_batch, "--tag", "client=acme")
    assert out.startswith("recorded 2 new events")
    data = json.loads(run("export", "--format", "json"))
    tiers = {(e["provider"], e["service_tier"]) for e in data}
    assert tiers == {("openai", "batch"), ("anthropic", "batch")}
    openai_event = next(e for e in data if e["provider"] == "openai")
    assert openai_event["time_utc"] == "2026-01-01T01:13:20Z"      # the body's `created`: 1767230000
    assert all(e["tag:client"] == "acme" for e in data if e["provider"] == "anthropic")
    again = run("ingest", anthropic_batch, "--tag", "client=acme")
    assert again.startswith("recorded 0 new events, 2 already recorded")


def test_time_zone_comes_from_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "spendtag.toml"
    config.write_text('tz = "Asia/Tokyo"\n')
    monkeypatch.setenv("SPENDTAG_CONFIG", str(config))
    run("record", "--provider", "openai", "--model", "gpt-4o", "--usage", GPT4O, "--event-id", "late",
        "--ts", "2026-03-14T20:00:00Z")                                # 05:00 on the 15th in Tokyo
    assert run("report", "--by", "day", "--format", "summary").startswith("2026-03-15: ")
    assert run("report", "--by", "day", "--tz", "UTC", "--format", "summary").startswith("2026-03-14: ")


def test_bad_config_names_file_line_and_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "spendtag.toml"
    config.write_text('tz = "UTC"\nunpriced_policy = "sometimes"\n')
    monkeypatch.setenv("SPENDTAG_CONFIG", str(config))
    result = CliRunner().invoke(cli, ["report"])
    assert result.exit_code == 2
    assert result.output == (f"error: {config}:2: unpriced_policy = 'sometimes' is not allowed "
                             "(fix: use one of: allow, warn, block)\n")


def test_an_empty_ledger_says_so_and_how_to_fill_it_not_a_table_of_zeros() -> None:
    import os

    for args in (["report"], ["report", "--by", "clinet"], ["top"], ["trends"]):
        result = CliRunner().invoke(cli, args, catch_exceptions=False, env={"COLUMNS": "300"})
        assert result.exit_code == 0, result.output
        assert result.output == (f"no calls recorded yet in {os.environ['SPENDTAG_DB']}: record calls (spendtag "
                                 "record, spendtag import, spendtag proxy) or load a sample month with spendtag demo\n")


def test_export_to_a_folder_that_does_not_exist_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    seed()
    result = CliRunner().invoke(cli, ["export", "-o", str(tmp_path / "missing" / "x.csv")])
    assert result.exit_code == 2 and result.exception is not None and isinstance(result.exception, SystemExit)
    assert result.output == (f"error: cannot write {tmp_path / 'missing' / 'x.csv'}: the folder "
                             f"{tmp_path / 'missing'} does not exist (create it first, or give a file in a folder "
                             "that exists)\n")
