"""`spendtag anomalies` lists; only `--alert` records anomaly alerts and sends them through the channels."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import make_event

from spendtag.cli.main import cli
from spendtag.ledger import open_store

USD = 10**12


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        type(self).bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[list[dict[str, Any]]]:
    """A webhook channel "ops" in the config file, and the bodies it receives."""
    _Receiver.bodies = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Path(os.environ["SPENDTAG_CONFIG"]).write_text(
        f'[alerts.channels.ops]\ntype = "webhook"\nurl = "http://127.0.0.1:{server.server_port}/hook"\n'
        'allow_unsigned = true\n')
    yield _Receiver.bodies
    server.shutdown()


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


def runaway_agent() -> None:
    """Six quiet days for agent planner ($0.50 an hour), then a retry loop in the last hour ($30 in 300 calls)."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    events = [make_event(f"n{h}-{c}", now - timedelta(hours=h, minutes=c), agent="planner", cost=USD // 10)
              for h in range(24 * 6, 1, -1) for c in range(5)]
    events += [make_event(f"loop{c}", now - timedelta(minutes=50) + timedelta(seconds=c), agent="planner",
                          cost=USD // 10) for c in range(300)]
    store = open_store(os.environ["SPENDTAG_DB"])
    try:
        store.record(events)
    finally:
        store.close()


def test_listing_anomalies_never_alerts(webhook: list[dict[str, Any]]) -> None:
    runaway_agent()
    listed = json.loads(run("anomalies", "--by", "agent", "--hours", "3", "--format", "json"))
    assert {(a["scope"], a["kind"]) for a in listed} >= {("agent=planner", "spend"), ("agent=planner", "request_rate")}
    table = run("anomalies", "--by", "agent", "--hours", "3")
    assert "agent=planner spent $30.00 in the hour from" in table
    run("anomalies", "--by", "agent", "--hours", "3", "--no-alert")       # still accepted: the default
    assert webhook == []
    assert json.loads(run("alerts", "--format", "json")) == []


def test_anomalies_alert_sends_each_anomaly_once_through_every_channel(webhook: list[dict[str, Any]]) -> None:
    runaway_agent()
    listed = json.loads(run("anomalies", "--by", "agent", "--hours", "3", "--alert", "--format", "json"))
    assert sorted((b["kind"], b["scope"], b["threshold"]) for b in webhook) == sorted(
        ("anomaly", a["scope"], a["kind"]) for a in listed)
    recorded = json.loads(run("alerts", "--format", "json"))
    assert len(recorded) == len(listed) and {a["kind"] for a in recorded} == {"anomaly"}
    assert all([(d["channel"], d["ok"]) for d in a["deliveries"]] == [("console", True), ("ops", True)]
               for a in recorded)
    run("anomalies", "--by", "agent", "--hours", "3", "--alert")
    assert len(webhook) == len(listed)                                     # once per scope, hour and kind


def test_the_help_says_listing_is_the_default() -> None:
    text = run("anomalies", "--help")
    assert "--alert / --no-alert" in text and "Without it the command only lists." in text
