"""How fast could a Python import of Claude Code logs be? The floors, next to ccusage in the same run.

    python bench/bench_agents_floor.py [--records 1000000] [--ccusage PATH] [--claude-dir DIR]

Issue 3 asks for `spendtag import` + `report --by day` in half of `ccusage daily --json`'s
wall time. This measures, on the same tree and in the same run, the work that any Python
importer writing each call to the SQLite ledger must do, with nothing of spendtag's own
logic in it, and compares what it allows with that target:

* **read**: every file read and split into lines (``bytes.split``);
* **decode**: plus each line holding ``"assistant"`` decoded by msgspec into the few fields
  an importer needs (the reader's own decoder; the rest of the line is skipped in C);
* **minimal logic**: plus the least a reader must do with a decoded line: a key per call
  (message id + request id), the last copy kept, and per call its price
  (``Pricer.text_cost``, the generated fast path) and one row tuple; no thread rules, no
  malformed-line accounting, no incremental state;
* **bind**: the import's real rows (read back from the ledger ``spendtag import`` made),
  with only the columns some row sets (those zero or null in every row are left to the
  table's defaults), handed to sqlite3 with ``executemany`` into a plain table without any
  index: the least Python pays to give SQLite a row;
* **insert (C)**: the same rows copied into a fresh ledger's ``events`` by one
  ``INSERT OR IGNORE ... SELECT`` (SQLite alone: the clustered table and its unique id index);
* **executemany**: the same rows inserted into a fresh ledger straight from Python, one
  transaction (what a single recording process pays).

Both SQLite floors use the ledger's schema, page size, WAL and synchronous setting, with a
1 GiB page cache (the ledger's own is 64 MiB) and foreign keys off, as the import has them.

Each floor is CPU seconds of one core (``time.process_time``: user + system). From them,
two lower bounds on import + report with this machine's cores: the report as measured, the
import's start-up and file discovery as an import of the unchanged tree measures them, and
for the rest of the import only its floors (no reader rules, rollups or import state):

* one recording process: ``max(executemany, (minimal logic + executemany) / cores)``
  (SQLite has one writer, so its inserts cannot be shared out);
* workers that bind their rows into scratch tables, merged by the recording process in C:
  ``max(insert, (minimal logic + bind + insert) / cores)``.

The tree is ``bench_agents.py``'s (the same generator and seed), or an existing
``--claude-dir`` (the folder holding ``projects/``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_agents import CCUSAGE, TARGETS, TreeWriter, native, run  # noqa: E402
from common import machine  # noqa: E402

from spendtag.capture.agents.claude_code import _DECODE_LINE, _Counts  # noqa: E402
from spendtag.capture.agents.jsonl import time_us  # noqa: E402
from spendtag.ledger.rollup_store import IMPORT_COLUMNS  # noqa: E402
from spendtag.ledger.sqlite import SQLiteStore  # noqa: E402
from spendtag.periods import from_us  # noqa: E402
from spendtag.pricing.pricer import Pricer  # noqa: E402
from spendtag.usage import Usage, UsageEvent  # noqa: E402

_ROWS_SQL = f"SELECT {', '.join(IMPORT_COLUMNS)} FROM events ORDER BY recorded_at, ts"


def _files(projects: Path) -> list[Path]:
    return sorted(projects.rglob("*.jsonl"))


def floor_read(files: list[Path]) -> tuple[float, int]:
    t = time.process_time()
    lines = 0
    for path in files:
        with open(path, "rb") as f:
            lines += len(f.read().split(b"\n"))
    return time.process_time() - t, lines


def floor_decode(files: list[Path]) -> tuple[float, int]:
    decode = _DECODE_LINE
    t = time.process_time()
    decoded = 0
    for path in files:
        with open(path, "rb") as f:
            for line in f.read().split(b"\n"):
                if b'"assistant"' in line:
                    try:
                        decode(line)
                    except ValueError:   # msgspec's DecodeError and ValidationError
                        continue
                    decoded += 1
    return time.process_time() - t, decoded


def floor_logic(files: list[Path]) -> tuple[float, int]:
    """Decode, keep the last copy per call, price it and make its row: the least a reader does."""
    decode = _DECODE_LINE
    pricer = Pricer()
    text_cost = pricer.text_cost
    t = time.process_time()
    rows = 0
    for path in files:
        calls: dict[str, Any] = {}
        with open(path, "rb") as f:
            for line in f.read().split(b"\n"):
                if b'"assistant"' in line:
                    try:
                        rec = decode(line)
                    except ValueError:
                        continue
                    message = rec.message
                    if message is not None and type(message.usage) is _Counts:
                        calls[f"{message.id} {rec.requestId}"] = rec
        out = []
        for key, rec in calls.items():
            message = rec.message
            u = message.usage
            ts = time_us(rec.timestamp)
            if ts is None:
                continue
            counts = (u.input_tokens or 0, u.cache_read_input_tokens or 0, u.cache_creation_input_tokens or 0, 0,
                      u.output_tokens or 0)
            priced = text_cost("anthropic", message.model, ts, None, counts)
            if priced is None:
                # The first call of a model and day resolves its price (as the import does).
                i, r, w5, w1, o = counts
                pricer.price(UsageEvent(event_id=key, ts=from_us(ts), provider="anthropic", model=message.model,
                                        usage=Usage(input_tokens=i, cache_read_tokens=r, cache_write_5m_tokens=w5,
                                                    cache_write_1h_tokens=w1, output_tokens=o)))
                priced = text_cost("anthropic", message.model, ts, None, counts)
            if priced is not None:
                out.append((0, 0, 0, key, ts, rec.sessionId, message.id, None, None, None, None, *priced[1]))
        rows += len(out)
    return time.process_time() - t, rows


def _fresh(path: Path) -> sqlite3.Connection:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = SQLiteStore(path)     # the ledger's own schema, page size, journal and sync
    conn = store._conn
    conn.execute("PRAGMA foreign_keys=OFF")   # as the import's own writes
    # Kinder than the ledger's 64 MiB: every page the inserts touch stays in memory.
    conn.execute("PRAGMA cache_size=-1048576")
    return conn


def _timed(conn: sqlite3.Connection, begin: str, sql: str, rows: list[tuple[Any, ...]] | None = None) -> float:
    """CPU seconds of one transaction running ``sql`` (over ``rows`` when given)."""
    t = time.process_time()
    conn.execute(begin)
    if rows is None:
        conn.execute(sql)
    else:
        conn.executemany(sql, rows)
    conn.execute("COMMIT")
    return time.process_time() - t


def floors_sqlite(ledger: Path, work: Path) -> tuple[dict[str, float], int, int]:
    """The SQLite floors on the import's real rows, given only the columns some row sets."""
    with sqlite3.connect(ledger) as src:
        full = src.execute(_ROWS_SQL).fetchall()
    used = [i for i, _ in enumerate(IMPORT_COLUMNS) if any(row[i] not in (0, None) for row in full)]
    rows = [tuple(row[i] for i in used) for row in full]
    del full
    columns = ", ".join(IMPORT_COLUMNS[i] for i in used)
    marks = ", ".join("?" * len(used))
    figures = {}
    scratch = work / "scratch.db"
    scratch.unlink(missing_ok=True)
    conn = sqlite3.connect(scratch, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute(f"CREATE TABLE rows ({columns})")
    figures["bind"] = _timed(conn, "BEGIN", f"INSERT INTO rows VALUES ({marks})", rows)
    conn.close()

    target = _fresh(work / "floor-c.db")
    target.execute(f"ATTACH DATABASE '{scratch}' AS scratch")
    figures["insert"] = _timed(target, "BEGIN IMMEDIATE",
                               f"INSERT OR IGNORE INTO events ({columns}) SELECT * FROM scratch.rows")
    target.close()

    target = _fresh(work / "floor-py.db")
    figures["executemany"] = _timed(target, "BEGIN IMMEDIATE",
                                    f"INSERT OR IGNORE INTO events ({columns}) VALUES ({marks})", rows)
    target.close()
    return figures, len(rows), len(used)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="assistant lines in a generated tree")
    parser.add_argument("--ccusage", default=CCUSAGE, help="the ccusage command (the npm launcher)")
    parser.add_argument("--claude-dir", type=Path, help="an existing Claude folder (with projects/) to use instead")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="spendtag-bench-floor-"))
    try:
        bench(work, args.records, args.ccusage, args.claude_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench(work: Path, records: int, ccusage: str, claude_dir: Path | None) -> None:
    cores = os.cpu_count() or 1
    print(f"# bench_agents_floor · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {machine()} · {cores} cores")
    if claude_dir is None:
        claude_dir = work / "claude"
        t = time.perf_counter()
        TreeWriter(claude_dir / "projects", records).write()
        print(f"tree generated in {time.perf_counter() - t:.1f} s (not counted)")
    projects = claude_dir / "projects"
    files = _files(projects)
    size = sum(f.stat().st_size for f in files)
    home = work / "home"
    home.mkdir()
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "TZ": "UTC", "NO_COLOR": "1",
            "LANG": "C.UTF-8"}
    cc_env = {**base, "CLAUDE_CONFIG_DIR": str(claude_dir)}
    st_env = {**base, "SPENDTAG_DB": str(work / "ledger.db"), "SPENDTAG_CONFIG": str(work / "none.toml")}
    spendtag = str(Path(sys.executable).with_name("spendtag"))
    cc_cmd = [ccusage, "daily", "--json", "--offline"]

    cc1_s, _, _ = run(cc_cmd, cc_env)
    i_s, _, _ = run([spendtag, "import", "claude-code", str(projects)], st_env)
    r_s, _, _ = run([spendtag, "report", "--by", "day", "--format", "json"], st_env)
    # Start-up and finding and checking the files: what an import of the unchanged tree does.
    s_s = min(run([spendtag, "import", "claude-code", str(projects)], st_env)[0] for _ in range(3))
    cc2_s, _, _ = run(cc_cmd, cc_env)
    cc_s = min(cc1_s, cc2_s)
    binary = native(ccusage)
    version = subprocess.run([ccusage, "--version"], env=cc_env, capture_output=True, text=True).stdout.strip()
    print(f"tree: {len(files):,} files, {size / 2**20:,.0f} MiB; ccusage {version}"
          f"{' (its native binary, started by the Node launcher)' if binary else ''}")
    print(f"ccusage daily --json: {cc1_s:.2f} s and {cc2_s:.2f} s (the faster counts); "
          f"spendtag import + report: {i_s:.2f} + {r_s:.2f} s = {(i_s + r_s) / cc_s:.3f}x")

    read_s, lines = floor_read(files)
    decode_s, decoded = floor_decode(files)
    logic_s, calls = floor_logic(files)
    sql, rows, used = floors_sqlite(work / "ledger.db", work)
    budget = TARGETS["first"] * cc_s
    # Lower bounds on import + report: the report and the import's start-up as measured, the
    # rest of the import as its floors allow.
    fixed = r_s + s_s
    single = max(sql["executemany"], (logic_s + sql["executemany"]) / cores) + fixed
    merged = max(sql["insert"], (logic_s + sql["bind"] + sql["insert"]) / cores) + fixed

    print("\n| floor (CPU of one core) | seconds | what it is |")
    print("|---|---|---|")
    print(f"| read | {read_s:.2f} | {lines:,} lines read and split |")
    print(f"| decode | {decode_s:.2f} | + {decoded:,} assistant lines decoded by msgspec |")
    print(f"| minimal logic | {logic_s:.2f} | + last copy per call kept, {calls:,} calls priced into rows |")
    print(f"| bind | {sql['bind']:.2f} | {rows:,} ledger rows ({used} of {len(IMPORT_COLUMNS)} columns: those "
          "some row sets) handed to sqlite3 (plain table, no index) |")
    print(f"| insert (C) | {sql['insert']:.2f} | the same rows into a fresh ledger by INSERT ... SELECT |")
    print(f"| executemany | {sql['executemany']:.2f} | the same rows into a fresh ledger from Python |")
    print(f"\n0.5x ccusage = {budget:.2f} s of wall time on {cores} cores")
    print(f"\nfixed: the report {r_s:.2f} s, and the import's start-up, finding and checking the files "
          f"{s_s:.2f} s (an import of the unchanged tree, the fastest of 3)")
    print("| design | lower bound on import + report | vs ccusage | within 0.5x? |")
    print("|---|---|---|---|")
    for name, bound in (("one recording process", single), ("workers' scratch tables merged in C", merged)):
        print(f"| {name} | {bound:.2f} s | {bound / cc_s:.3f}x | {'yes' if bound <= budget else 'NO'} |")
    spare = (budget - fixed) * cores - (decode_s + sql["bind"] + sql["insert"])
    print(f"\nCPU left within 0.5x for everything past decoding and SQLite (the readers' rules, pricing, rows, "
          f"rollups, state) on {cores} cores: {spare:.2f} s = "
          f"{spare / max(decoded, 1) * 1e6:.2f} µs per assistant line; the minimal logic above takes "
          f"{(logic_s - decode_s) / max(decoded, 1) * 1e6:.2f} µs per line")


if __name__ == "__main__":
    main()
