"""CSV cells a spreadsheet would run are neutralised in every CSV, and the JSON keeps the value as it is.

tests/test_export_speed.py covers the lone CR in the export, report, dashboard export and invoice
CSVs; here one ledger whose client, agent and session start with ``=``, ``@``, ``-`` or a CR goes
through the CSVs and the JSON of the CLI export, the dashboard's export and the invoices' summary.
"""

from __future__ import annotations

import csv
import io
import json
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_event
from fastapi.testclient import TestClient

from spendtag import settings as spendtag_settings
from spendtag.cli import main
from spendtag.cli.main import cli
from spendtag.ledger import open_store
from spendtag.server.dashboard.app import create_app

CLIENT = '=HYPERLINK("http://evil.example","x")'
AGENT = "\r=1+1"
SESSION = "@SUM(A1)"
PROJECT = "-2+3"
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def _rows(text: str) -> list[list[str]]:
    """CSV as a spreadsheet splits it: CR, LF or CRLF outside quotes ends a row."""
    return list(csv.reader(io.StringIO(text, newline="")))


def _safe(rows: list[list[str]]) -> None:
    assert all(not cell.startswith(DANGEROUS) for row in rows for cell in row), rows


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    db = tmp_path / "ledger.db"          # SPENDTAG_DB (conftest)
    with closing(open_store(str(db))) as store:
        store.record([make_event("e1", datetime(2026, 3, 2, tzinfo=UTC), tags={"client": CLIENT}, agent=AGENT,
                                 session=SESSION, project=PROJECT, cost=2 * 10**12)])
    return db


def test_export_csv_is_neutralised_and_json_keeps_the_values(ledger: Path) -> None:
    text = CliRunner().invoke(cli, ["export", "--format", "csv"]).output
    rows = _rows(text)
    assert len(rows) == 2
    _safe(rows)
    record = dict(zip(rows[0], rows[1], strict=True))
    assert (record["tag:client"], record["agent"], record["session"], record["project"]) == (
        "'" + CLIENT, "'" + AGENT, "'" + SESSION, "'" + PROJECT)
    [kept] = json.loads(CliRunner().invoke(cli, ["export", "--format", "json"]).output)
    assert (kept["tag:client"], kept["agent"], kept["session"], kept["project"]) == (CLIENT, AGENT, SESSION,
                                                                                        PROJECT)


def test_the_dashboard_export_likewise(ledger: Path) -> None:
    client = TestClient(create_app(str(ledger), spendtag_settings.load({"db": str(ledger)})))
    rows = _rows(client.get("/api/v1/export?format=csv").text)
    assert len(rows) == 2
    _safe(rows)
    assert dict(zip(rows[0], rows[1], strict=True))["agent"] == "'" + AGENT
    [kept] = client.get("/api/v1/export?format=json").json()
    assert (kept["tag:client"], kept["agent"]) == (CLIENT, AGENT)
    line = json.loads(client.get("/api/v1/export?format=jsonl").text.splitlines()[0])
    assert line["session"] == SESSION


def test_the_invoices_summary_csv(ledger: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(main.LAZY_COMMANDS, "invoice", "spendtag.cli.billing")
    out = tmp_path / "inv"
    result = CliRunner().invoke(cli, ["invoice", "--all", "--period", "2026-03", "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    rows = _rows((out / "summary.csv").read_text())
    _safe(rows)
    assert rows[1][0] == "'" + CLIENT
