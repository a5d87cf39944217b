"""The dashboard's sessions with project and title, agents with their sub-agents, models by family,
rates per million and money by the one rule (in process through the ASGI app)."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import make_event
from fastapi.testclient import TestClient

from spendtag import settings
from spendtag.ledger.sqlite import SQLiteStore
from spendtag.server.dashboard.app import create_app
from spendtag.usage import SessionTitle

DAY = datetime(2026, 3, 2, 9, tzinfo=UTC)
USD = 10**12
MARCH = "since=2026-03-01&until=2026-04-01"
SESSION = "5f3c9a1e-7b2d-4c8e-9f10-aa11bb22cc33"


def seed(path: Path) -> None:
    store = SQLiteStore(path)
    events = [make_event("main", DAY, cost=12 * USD, session=SESSION, project="/w/acme/api", agent="claude-code",
                         model="claude-sonnet-4-5")]
    # Sixty sub-agents, each with a call of a dated model id.
    events += [make_event(f"sub{i}", DAY + timedelta(minutes=i), cost=USD // 100 + i, session=SESSION,
                          project="/w/acme/api", agent=f"claude-code/agent-{i:04x}", model="claude-sonnet-4-5-20250929")
               for i in range(60)]
    events += [make_event(f"tiny{n}", DAY + timedelta(hours=9 * n, minutes=33 * n), cost=1_188_000_000, session="s-2",
                          project="/w/globex", agent="codex", model="gpt-5", provider="openai") for n in (0, 1)]
    store.record(events)
    store.save_session_titles({SESSION: SessionTitle("Move billing to the queue", "summary"),
                               "s-2": SessionTitle("a private prompt", "prompt")})
    store.close()


def client_for(tmp_path: Path, titles: str = "on") -> TestClient:
    path = tmp_path / "ledger.db"
    if not path.exists():
        seed(path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPENDTAG_CONFIG", str(tmp_path / "config.toml"))
        mp.setenv("SPENDTAG_SESSION_TITLES", titles)
        return TestClient(create_app(str(path), settings.load({"db": str(path)})))


def test_sessions_page_and_api_show_project_and_title(tmp_path: Path) -> None:
    client = client_for(tmp_path)
    html = client.get(f"/sessions?{MARCH}").text
    row = re.search(rf"<tr>\s*<td><a href=\"/sessions/{SESSION}\">.*?</tr>", html, re.S)
    assert row is not None
    assert '<td class="project">/w/acme/api</td><td class="title">Move billing to the queue</td>' in row.group(0)
    assert "claude-code (+60 sub-agents)" in row.group(0) and "agent-0001" not in row.group(0)
    assert "1 h 0 min" not in row.group(0) and ">59 min<" in row.group(0)
    doc = client.get(f"/api/v1/sessions?{MARCH}").json()
    by_id = {s["session"]: s for s in doc["sessions"]}
    assert by_id[SESSION]["title"] == "Move billing to the queue" and by_id[SESSION]["project"] == "/w/acme/api"
    assert by_id["s-2"]["title"] == "a private prompt"
    assert len(by_id[SESSION]["agents"]) == 61                 # the API keeps every name
    page = client.get(f"/sessions/{SESSION}").text
    assert "/w/acme/api · Move billing to the queue" in page
    assert "9 h 33 min" in client.get("/sessions/s-2").text


def test_titles_off_shows_none(tmp_path: Path) -> None:
    client_for(tmp_path)   # seeds
    client = client_for(tmp_path, titles="off")
    html = client.get(f"/sessions?{MARCH}").text
    assert "Move billing" not in html and "private prompt" not in html and "/w/acme/api" in html
    assert all(s["title"] is None for s in client.get(f"/api/v1/sessions?{MARCH}").json()["sessions"])
    assert "Move billing" not in client.get(f"/sessions/{SESSION}").text


def test_overview_groups_sub_agents_and_model_ids(tmp_path: Path) -> None:
    client = client_for(tmp_path)
    html = client.get(f"/?{MARCH}").text
    agents = re.search(r'<table class="breakdown" id="by-agent">.*?</table>', html, re.S)
    assert agents is not None
    assert agents.group(0).count("<tr>") == 3                  # the header, claude-code, codex: not 62 rows
    assert "claude-code (+60 sub-agents)" in agents.group(0)
    expected_subs = sum(USD // 100 + i for i in range(60))
    assert f"${(12 * USD + expected_subs) / USD:,.2f}" in agents.group(0)
    models = re.search(r'<table class="breakdown" id="by-model">.*?</table>', html, re.S)
    assert models is not None
    assert models.group(0).count("<tr>") == 3                  # the header, one row for the family, gpt-5
    assert 'title="claude-sonnet-4-5, claude-sonnet-4-5-20250929"' in models.group(0)
    # Its link leads to the calls of every id in the family (and the sub-agents' under their agent's row).
    assert "model=claude-sonnet-4-5&amp;model=claude-sonnet-4-5-20250929" in models.group(0)
    assert agents.group(0).count("agent=claude-code%2F") == 60
    assert "&lt;$0.01" in models.group(0)                     # gpt-5's $0.002376, never $0.00 nor 6 decimals
    doc = client.get(f"/api/v1/overview?{MARCH}").json()
    rows = {r["value"]: r for r in doc["by_agent"]}
    assert list(rows) == ["claude-code", "codex"]
    assert rows["claude-code"]["members"][:2] == ["claude-code", "claude-code/agent-0000"]
    assert len(rows["claude-code"]["members"]) == 61 and rows["claude-code"]["requests"] == 61
    models = {r["value"]: r for r in doc["by_model"]}
    assert models["claude-sonnet-4-5"]["members"] == ["claude-sonnet-4-5", "claude-sonnet-4-5-20250929"]


def test_event_page_shows_rates_per_million(tmp_path: Path) -> None:
    client = client_for(tmp_path)
    html = client.get("/events/main").text
    assert "$3.00 / M input" in html and '{"input_tokens"' not in html
    assert os.environ["SPENDTAG_DB"]     # (the autouse fixture keeps the user's ledger out of reach)
