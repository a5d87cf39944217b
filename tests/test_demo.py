"""``spendtag demo``: its own ledger, fixed dates, and next commands that really read what it wrote."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from spendtag import demo
from spendtag.cli.main import cli

_FIELDS = ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "output_tokens",
           "reasoning_tokens", "web_search_requests")


def run(*args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": "160"})
    if ok:
        assert result.exit_code == 0, result.output
    return result.output


def total(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(cli, [*args, "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)   # a report of no calls says so on stderr
    assert isinstance(doc, dict)
    return doc["total"]  # type: ignore[no-any-return]


def next_commands(output: str) -> list[str]:
    """The indented `spendtag ...` lines the demo printed, as a user would copy them."""
    return [line.strip() for line in output.splitlines() if line.startswith("  spendtag ")]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user data directory, with a space and a quote in its name (the commands must quote it)."""
    home = tmp_path / "data dir's"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home / "spendtag"


# -- where the demo writes ------------------------------------------------------------------------

def test_demo_writes_its_own_ledger_never_the_users(data_dir: Path) -> None:
    own = Path(os.environ["SPENDTAG_DB"])
    out = run("demo", "--days", "3")
    demo_db = data_dir / "demo.db"
    assert demo.ledger_path() == demo_db
    assert out.splitlines()[:4] == [
        "Recorded 416 sample calls (0 already there), tagged source=demo, in the demo ledger:",
        f"  {demo_db}",
        "Your own ledger is not touched: commands without --db do not see the sample.",
        "The sample has fixed dates, 2026-03-29 to 2026-03-31 (UTC), the same for every run: select it with "
        "--period 2026-03, not --this-month.",
    ]
    assert demo_db.exists()
    assert not own.exists()                  # the user's ledger was not even opened
    assert total("report")["requests"] == 0  # a plain report afterwards: nothing from the demo
    assert total("--db", str(demo_db), "report")["requests"] == 416


def test_demo_ignores_spendtag_db_but_follows_the_global_db_flag(tmp_path: Path, data_dir: Path) -> None:
    chosen = tmp_path / "chosen.db"
    out = run("--db", str(chosen), "demo", "--days", "2")
    assert out.splitlines()[:2] == [
        "Recorded 365 sample calls (0 already there), tagged source=demo, in the ledger you chose:",
        f"  {chosen}",
    ]
    assert not (data_dir / "demo.db").exists()
    # In a ledger of the user's choosing, the next commands look at the sample only.
    assert f"  spendtag --db {chosen} report --by client,model --source demo" in out.splitlines()
    assert f"  spendtag --db {chosen} db remove-demo" in out.splitlines()
    assert total("--db", str(chosen), "report", "--source", "demo")["requests"] == 365


def test_paths_are_paths_on_one_line_never_sqlite_urls(data_dir: Path) -> None:
    out = run("demo", "--days", "1")
    assert "sqlite:" not in out
    where = str(data_dir / "demo.db")
    for line in out.splitlines():
        if "demo.db" in line:
            assert where in line or shlex.quote(where) in line, line


# -- the next commands, run as printed ------------------------------------------------------------

def test_next_commands_read_the_demo_ledger(data_dir: Path) -> None:
    out = run("demo", "--days", "3")
    commands = next_commands(out)
    quoted = shlex.quote(str(data_dir / "demo.db"))
    assert commands == [
        f"spendtag --db {quoted} report --by client,model",
        f"spendtag --db {quoted} top --by session",
        f"spendtag --db {quoted} trends --period 2026-03",
        f"spendtag --db {quoted} export --tag client=acme --format csv",
        f"spendtag --db {quoted} invoice --client acme --period 2026-03",
        f"spendtag --db {quoted} serve",
        f"spendtag --db {quoted} db remove-demo",
    ]
    acme = total("--db", str(data_dir / "demo.db"), "report", "--tag", "client=acme")
    outputs = {}
    for command in commands[:5]:
        words = shlex.split(command)
        assert words[0] == "spendtag"
        outputs[words[3]] = run(*words[1:])
    assert "acme" in outputs["report"] and "claude-sonnet-4-5" in outputs["report"] and " 416 " in outputs["report"]
    assert "demo-20260329-" in outputs["top"]
    assert "2026-03-31" in outputs["trends"] and "█" in outputs["trends"]
    rows = list(csv.DictReader(io.StringIO(outputs["export"])))
    assert len(rows) == acme["requests"] and {r["tag:client"] for r in rows} == {"acme"}
    assert "Bill to\n  acme\n" in outputs["invoice"] and "Total due (USD)" in outputs["invoice"]
    # The last one removes the sample again, and says how much.
    removed = run(*shlex.split(commands[-1])[1:])
    assert removed == f"removed 416 sample calls (source=demo) from {data_dir / 'demo.db'}\n"


def test_next_commands_work_in_a_real_shell(tmp_path: Path, data_dir: Path) -> None:
    """The quoting is the shell's own: run the printed lines through sh with a `spendtag` on PATH."""
    out = run("demo", "--days", "1")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "spendtag"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -c '
                    '"from spendtag.cli.entry import main; main()" "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "COLUMNS": "160",
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    report = next(c for c in next_commands(out) if " report " in c)
    done = subprocess.run(["sh", "-c", report + " --format json"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total"]["requests"] == 197


def test_dashboard_line_shows_the_sample(data_dir: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from spendtag.cli.app import App
    from spendtag.server.serve import build

    out = run("demo", "--days", "2")
    serve = next(c for c in next_commands(out) if c.endswith(" serve"))
    words = shlex.split(serve)
    assert words[1] == "--db" and words[3:] == ["serve"]
    url = next(line.split("open ", 1)[1] for line in out.splitlines() if "then open " in line)
    assert url == "http://127.0.0.1:8787/?period=2026-03"
    app = App(db=words[2])
    try:
        page = TestClient(build(app, "127.0.0.1", token=None, intake=False)).get(url.split("8787", 1)[1])
    finally:
        app.close()
    assert page.status_code == 200
    assert "acme" in page.text and "globex" in page.text


def test_a_longer_sample_is_selected_by_since_and_until(data_dir: Path) -> None:
    out = run("demo", "--days", "40")
    assert ("The sample has fixed dates, 2026-02-20 to 2026-03-31 (UTC), the same for every run: select it with "
            "--since 2026-02-20 --until 2026-04-01, not --this-month.") in out
    trends = next(c for c in next_commands(out) if " trends " in c)
    assert trends.endswith("trends --since 2026-02-20 --until 2026-04-01")
    assert "then open http://127.0.0.1:8787/?since=2026-02-20&until=2026-04-01" in out


# -- the same seed, the same calls ----------------------------------------------------------------

def _fingerprint(seed: int = 7) -> str:
    digest = hashlib.sha256()
    for e in demo.events(seed=seed):
        digest.update(repr((e.event_id, e.ts.isoformat(), e.provider, e.model, [getattr(e.usage, f) for f in _FIELDS],
                            sorted(e.tags.items()), e.project, e.session, e.agent)).encode())
    return digest.hexdigest()


def test_the_sample_has_fixed_dates_and_is_the_same_for_a_seed() -> None:
    events = list(demo.events())
    assert len(events) == 5071
    first = events[0]
    assert (first.event_id, first.ts.isoformat(), first.model, first.usage.input_tokens,
            first.usage.cache_read_tokens, first.usage.output_tokens) == (
        "demo:7:demo-20260301-acme-0:0", "2026-03-01T16:13:58.867431+00:00", "claude-sonnet-4-5", 335, 8000, 154)
    assert min(e.ts for e in events).date().isoformat() == "2026-03-01"
    assert max(e.ts for e in events).date().isoformat() == "2026-03-31"
    assert {e.source for e in events} == {"demo"}
    assert _fingerprint() == "0dfe52a9eb6b163a756a2fd049724a450a52b3d039d0c268dc6936dc43457cb1"
    assert _fingerprint(8) != _fingerprint()


def test_a_day_gives_the_same_calls_whatever_the_length() -> None:
    short = {e.event_id: e for e in demo.events(days=3)}
    long = {e.event_id: e for e in demo.events(days=31)}
    assert short and all(long[i] == e for i, e in short.items())


def test_two_ledgers_from_one_seed_hold_the_same_costs(tmp_path: Path) -> None:
    for name in ("a.db", "b.db"):
        run("--db", str(tmp_path / name), "demo", "--days", "2")
    exports = [run("--db", str(tmp_path / name), "export", "--format", "json") for name in ("a.db", "b.db")]
    assert exports[0] == exports[1]
    assert len(json.loads(exports[0])) == 365
    again = run("--db", str(tmp_path / "a.db"), "demo", "--days", "2")
    assert again.startswith("Recorded 0 sample calls (365 already there)")
