"""Large imports: worker processes give the same ledger as one process; the bulk recording path's edges."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from agent_trees import ClaudeTreeGenerator
from click.testing import CliRunner
from conftest import make_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendtag.cli.main import cli
from spendtag.errors import StoreError
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.ledger.rollup_store import ImportPartBuilder
from spendtag.ledger.sqlite import SQLiteStore
from spendtag.ledger.store import ImportState


def run(db: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": "200", "SPENDTAG_DB": str(db)})
    assert result.exit_code == 0, result.output
    return result.output


def ledger(db: Path) -> tuple[dict[tuple[str | None, ...], list[int]], dict[str, tuple[int, int, int]], int]:
    """Totals per (day, session, model, agent), every file's import summary, and the event count."""
    store = open_store(str(db))
    try:
        totals = {a.key: a.totals.values for a in store.aggregate(Filters(), ["day", "session", "model", "agent"])}
        return totals, store.import_summaries(), store.count()
    finally:
        store.close()


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000))
def test_workers_give_the_ledger_one_process_gives(tmp_path_factory: pytest.TempPathFactory, seed: int) -> None:
    work = tmp_path_factory.mktemp("par")
    tree = ClaudeTreeGenerator(seed=seed).write(work / "claude" / "projects")
    serial = run(work / "serial.db", "import", "claude-code", str(tree.root), "--workers", "0")
    parallel = run(work / "parallel.db", "import", "claude-code", str(tree.root), "--workers", "2")
    assert serial == parallel
    assert f"{len(tree.calls) + len(tree.open_calls):,} new calls" in parallel
    assert ledger(work / "serial.db") == ledger(work / "parallel.db")
    again = run(work / "parallel.db", "import", "claude-code", str(tree.root), "--workers", "2")
    assert f"({len(tree.files):,} unchanged): 0 new calls" in again


def test_a_killed_parallel_import_is_completed_by_the_next_one(tmp_path: Path) -> None:
    tree = ClaudeTreeGenerator(seed=11).write(tmp_path / "big" / "projects", sessions_per_project=40,
                                              calls_per_session=60)
    killed_midway = False
    for attempt, delay in enumerate((0.7, 0.5, 0.9, 0.4, 1.2)):
        db = tmp_path / f"killed{attempt}.db"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "SPENDTAG_DB": str(db)}
        # The recording process is killed; its workers, left without it, must end on their own.
        proc = subprocess.Popen([sys.executable, "-c", "from spendtag.cli.main import main; main()", "import",
                                 "claude-code", str(tree.root), "--workers", "2"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert _gone(str(tree.root), seconds=10), "worker processes outlived the killed import"
            _totals, files_done, partial = ledger(db) if db.exists() else ({}, {}, 0)
            # Cut short for real: calls or offsets not yet written.
            if partial < len(tree.calls) + len(tree.open_calls) or len(files_done) < len(tree.files):
                killed_midway = True
                break
        proc.wait()
    assert killed_midway
    run(db, "import", "claude-code", str(tree.root), "--workers", "2")
    reference = tmp_path / "reference.db"
    run(reference, "import", "claude-code", str(tree.root), "--workers", "0")
    assert ledger(db) == ledger(reference)


def _gone(marker: str, seconds: float) -> bool:
    """No process whose command line holds ``marker`` is left within ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        alive = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    cmdline = (entry / "cmdline").read_bytes()
                    state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                except OSError:
                    continue
                if marker.encode() in cmdline and state != "Z":
                    alive.append(entry.name)
        if not alive:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def test_a_clock_gone_back_fails_the_batch_instead_of_miscounting(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    store = SQLiteStore(tmp_path / "clock.db")
    builder = ImportPartBuilder()
    builder.add(make_event("a", cost=5))
    store.record_import([(builder.part(), ImportState("/a", "claude-code", 1, 1, 1, "h"))])
    stamp = store._last_stamp
    # The next batch gets the stamp event "a" already has: told apart from it by the count.
    store._last_stamp = stamp - 1
    monkeypatch.setattr(time, "time", lambda: 0.0)
    builder = ImportPartBuilder()
    builder.add(make_event("a", cost=5))
    builder.add(make_event("b", cost=7))
    with pytest.raises(StoreError, match="clock went back"):
        store.record_import([(builder.part(), ImportState("/b", "claude-code", 1, 1, 1, "h"))])
    monkeypatch.undo()
    assert store.count() == 1 and store.import_state("/b") is None
    assert store.aggregate(Filters())[0].totals.cost == 5
    assert store.record_import([(builder.part(), ImportState("/b", "claude-code", 1, 1, 1, "h"))]).inserted == 1
    assert store.aggregate(Filters())[0].totals.cost == 12
    store.close()

