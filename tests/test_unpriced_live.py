"""The status line and `watch` never show unpriced calls as $0.00."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from conftest import make_event

from spendtag.attribution import Rules
from spendtag.cli.live import dashboard
from spendtag.ledger import open_store
from spendtag.report.statusline import line

NOW = datetime(2026, 3, 14, 12, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")


def _text(group: object) -> str:
    from rich.console import Console

    console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(group)
    return console.export_text()


def test_a_session_of_unpriced_calls_is_not_zero_dollars(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "l.db"))
    try:
        store.record([make_event("u1", NOW - timedelta(minutes=5), priced=False, session="s1"),
                      make_event("u2", NOW - timedelta(minutes=4), priced=False, session="s1")])
        shown = line({"session_id": "s1"}, store, [], Rules([]), UTC_ZONE, now=NOW)
        assert shown.startswith("session — (2 unpriced) · ")
        assert "$0.00" not in shown
        assert "today: — (2 unpriced)" in _text(dashboard(store, [], UTC_ZONE, NOW))
    finally:
        store.close()


def test_a_mixed_session_shows_the_priced_sum_and_the_unpriced_count(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "l.db"))
    try:
        store.record([make_event("p1", NOW - timedelta(minutes=5), cost=1_230_000_000_000, session="s1"),
                      make_event("u1", NOW - timedelta(minutes=4), priced=False, session="s1")])
        shown = line({"session_id": "s1"}, store, [], Rules([]), UTC_ZONE, now=NOW)
        assert shown.startswith("session $1.23 + 1 unpriced · ")
        screen = _text(dashboard(store, [], UTC_ZONE, NOW))
        assert "today: $1.23 + 1 unpriced" in screen
        assert ": $1.23 + 1 unpriced in " in screen       # the active session
    finally:
        store.close()
