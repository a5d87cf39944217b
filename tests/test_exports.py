"""Exports: one row per call, exact money, and CSV cells a spreadsheet will never evaluate."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import make_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendtag.ledger.query import Filters
from spendtag.ledger.sqlite import SQLiteStore
from spendtag.report import exports
from spendtag.tags import Selector
from spendtag.usage import COST_COMPONENTS, TOKEN_BUCKETS, PricedEvent, Usage

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
FAST = settings(max_examples=200, deadline=None)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path / "exports.db") as s:
        yield s


def _export(store: SQLiteStore, fmt: str, filters: Filters | None = None) -> tuple[int, str]:
    out = io.StringIO()
    n = exports.write(store, filters or Filters(), fmt, out)
    return n, out.getvalue()


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


# -- neutralise -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+44 20", "'+44 20"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("acme", "acme"),
        ("", ""),
        (" =1", " =1"),
        ("a=1", "a=1"),
        ("'=1", "'=1"),
    ],
)
def test_neutralise_examples(cell: str, shown: str) -> None:
    assert exports.neutralise(cell) == shown


@FAST
@given(st.text())
def test_neutralise_prefixes_dangerous_cells_and_changes_nothing_else(cell: str) -> None:
    result = exports.neutralise(cell)
    if cell[:1] in DANGEROUS and cell:
        assert result == "'" + cell
    else:
        assert result == cell


@FAST
@given(st.sampled_from(DANGEROUS), st.text())
def test_neutralise_always_catches_a_dangerous_start(first: str, rest: str) -> None:
    assert exports.neutralise(first + rest) == "'" + first + rest


# -- row --------------------------------------------------------------------------------------


def test_row_is_flat_with_ints_for_counts_and_exact_strings_for_money() -> None:
    usage = Usage(input_tokens=1200, cache_read_tokens=18000, output_tokens=450, reasoning_tokens=50)
    priced = make_event("call-1", datetime(2026, 3, 14, 10, 0, 1, 5, tzinfo=UTC), usage=usage, cost=2_290_000_001,
                        tags={"client": "acme", "env": "prod"}, project="/p", session="s-1", agent="bot")
    row = exports.row(priced, ["env", "client", "team"])
    assert list(row) == exports.columns(["env", "client", "team"])
    assert row["event_id"] == "call-1"
    assert row["time_utc"] == "2026-03-14T10:00:01.000005Z"
    assert (row["provider"], row["model"], row["project"], row["session"], row["agent"]) == (
        "anthropic", "claude-sonnet-4-5", "/p", "s-1", "bot")
    assert (row["key"], row["user"], row["source"], row["status"]) == ("", "", "api", "ok")
    assert (row["tag:client"], row["tag:env"], row["tag:team"]) == ("acme", "prod", "")
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"], row["reasoning_tokens"]) == (
        1200, 18000, 450, 50)
    assert row["cost_input_tokens"] == "0.001526666668"      # total - total // 3 (make_event's split)
    assert row["cost_output_tokens"] == "0.000763333333"     # total // 3
    assert row["cost_cache_read_tokens"] == "0.00"
    assert row["cost_usd"] == "0.002290000001"
    assert (row["priced"], row["estimated"], row["service_tier"]) == (True, False, "")
    assert (row["price_model"], row["price_date"], row["price_source"], row["price_note"]) == (
        "claude-sonnet-4-5", "2026-03-14", "test", "")
    assert json.loads(row["price_rates"]) == {"input_tokens": "0.000003"}


def test_row_of_an_unpriced_event_has_no_cost() -> None:
    row = exports.row(make_event("u", priced=False), [])
    assert row["cost_usd"] == ""
    assert row["priced"] is False
    assert all(row[f"cost_{c}"] == "0.00" for c in COST_COMPONENTS)
    assert row["price_model"] == row["price_rates"] == ""


def test_columns_sort_tag_keys_between_dimensions_and_counts() -> None:
    cols = exports.columns(["z", "a"])
    assert cols[: len(exports.BASE_COLUMNS)] == list(exports.BASE_COLUMNS)
    assert cols[len(exports.BASE_COLUMNS): len(exports.BASE_COLUMNS) + 2] == ["tag:a", "tag:z"]
    assert set(TOKEN_BUCKETS) < set(cols)
    assert cols[-1] == "price_rates"


# -- write ------------------------------------------------------------------------------------


def test_unknown_format_is_refused(store: SQLiteStore) -> None:
    with pytest.raises(ValueError, match="unknown export format 'xlsx': use one of csv, json, jsonl"):
        _export(store, "xlsx")


@pytest.mark.parametrize("fmt", exports.FORMATS)
def test_empty_ledger_exports_nothing(store: SQLiteStore, fmt: str) -> None:
    n, text = _export(store, fmt)
    assert n == 0
    if fmt == "csv":
        assert text == ",".join(exports.columns([])) + "\n"
    elif fmt == "json":
        assert json.loads(text) == []
    else:
        assert text == ""


def _hostile_events() -> list[PricedEvent]:
    return [
        make_event("=cmd|' /C calc'!A0", datetime(2026, 3, 14, 9, tzinfo=UTC), cost=1,
                   tags={"client": "=HYPERLINK(\"http://x\")", "note": "-1+1"}, agent="@bot", project="+p"),
        make_event("e2", datetime(2026, 3, 14, 10, tzinfo=UTC), cost=10**18,
                   tags={"client": "acme, \"the\" best", "note": "\tx"}),
        make_event("e3", datetime(2026, 3, 14, 11, tzinfo=UTC), priced=False, tags={"client": "globex"}),
    ]


def test_csv_neutralises_outside_text_only(store: SQLiteStore) -> None:
    store.record(_hostile_events())
    n, text = _export(store, "csv")
    assert n == 3
    rows = _csv_rows(text)
    assert [r["event_id"] for r in rows] == ["'=cmd|' /C calc'!A0", "e2", "e3"]
    first, second, third = rows
    assert first["tag:client"] == "'=HYPERLINK(\"http://x\")"
    assert first["tag:note"] == "'-1+1"
    assert first["agent"] == "'@bot"
    assert first["project"] == "'+p"
    assert second["tag:client"] == "acme, \"the\" best"
    assert second["tag:note"] == "'\tx"
    # Numbers spendtag writes are left as numbers.
    assert first["cost_usd"] == "0.000000000001"
    assert second["cost_usd"] == "1000000.00"
    assert first["input_tokens"] == "100" and first["output_tokens"] == "10"
    assert (first["priced"], third["priced"], third["cost_usd"]) == ("true", "false", "")
    assert first["estimated"] == "false"
    assert first["time_utc"] == "2026-03-14T09:00:00Z"


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_keeps_text_as_given_and_types_as_json(store: SQLiteStore, fmt: str) -> None:
    store.record(_hostile_events())
    n, text = _export(store, fmt)
    assert n == 3
    rows = json.loads(text) if fmt == "json" else [json.loads(line) for line in text.splitlines()]
    assert [r["event_id"] for r in rows] == ["=cmd|' /C calc'!A0", "e2", "e3"]
    assert rows[0]["tag:client"] == "=HYPERLINK(\"http://x\")"
    assert rows[1]["tag:note"] == "\tx"
    assert rows[0]["input_tokens"] == 100
    assert (rows[0]["priced"], rows[2]["priced"]) == (True, False)
    assert rows[1]["cost_usd"] == "1000000.00"
    assert rows[2]["cost_usd"] == ""
    assert rows == [exports.row(p, ["client", "note"]) for p in store.events(Filters())]


def test_export_respects_filters(store: SQLiteStore) -> None:
    store.record(_hostile_events())
    n, text = _export(store, "csv", Filters(tags=(Selector.parse("client=globex"),)))
    assert n == 1
    assert [r["event_id"] for r in _csv_rows(text)] == ["e3"]
    n, text = _export(store, "jsonl", Filters(since=datetime(2026, 3, 14, 10, tzinfo=UTC)))
    assert [json.loads(line)["event_id"] for line in text.splitlines()] == ["e2", "e3"]


tag_values = st.text(alphabet=st.characters(exclude_categories=["Cs", "Cc"]), max_size=40)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(tag_values, min_size=1, max_size=5))
def test_csv_cells_read_back_as_the_neutralised_text(tmp_path: Path, values: list[str]) -> None:
    given_values = {f"e{i}": v for i, v in enumerate(values)}
    with SQLiteStore(tmp_path / f"prop-{uuid.uuid4().hex}.db") as s:   # tmp_path is shared by every example
        s.record([make_event(event_id, tags={"t": v}) for event_id, v in given_values.items()])
        _, text = _export(s, "csv")
    rows = _csv_rows(text)
    assert sorted(r["event_id"] for r in rows) == sorted(given_values)
    for r in rows:
        assert r["tag:t"] == exports.neutralise(given_values[r["event_id"]])


def test_every_csv_writer_quotes_a_lone_carriage_return() -> None:
    """csv.writer leaves a cell holding only CR unquoted (a spreadsheet starts a new row there):
    every CSV the package writes goes through exports.CsvWriter / csv_line instead."""
    import re
    from pathlib import Path

    import spendtag

    root = Path(spendtag.__file__).parent
    users = [f"{p.relative_to(root)}:{n}" for p in sorted(root.rglob("*.py"))
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"\bcsv\.(writer|DictWriter)\(", line) and not line.lstrip().startswith(('"', "#"))]
    assert users == []
