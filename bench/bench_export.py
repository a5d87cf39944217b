"""Export benchmark: `spendtag export` of a 100k- and a 1M-event SQLite ledger, CSV and JSON lines.

    python bench/bench_export.py [--events 1000000] [--small 100000] [--work DIR] [--rounds N] [--callgrind N]

Builds the ledgers from the synthetic agency stream (bench/common.py: 12 clients, 8 agents,
10 models, sessions of 10-90 calls), priced and recorded 50,000 events per transaction;
with ``--work DIR`` they are kept there and reused by the next run. Each measurement runs in a
child process of its own, so its peak memory (VmHWM) is its own: the export itself, through
the library (`exports.write` to /dev/null) in one process and with worker processes (one per
core, up to 4), then the whole command (`spendtag export -o FILE`, interpreter start-up and the
file included; it uses the workers from 250k events). Rows/s are events over wall time; the CPU
time of the export and its workers is printed next to it (the machine may be shared, and on a VM
two vCPUs may be one core's two hyper-threads).

Baseline in the same run: the reference export, one `PricedEvent` per call through
`exports.row` (what `export` did before), on the small ledger.

With ``--callgrind N`` (valgrind installed), also the CPU instructions per row of each export,
one process, on an N-event ledger: a count that another engineer's load does not change.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine, synthetic  # noqa: E402

BATCH = 50_000


def build(db: Path, n: int) -> float:
    """Record ``n`` synthetic events into a new ledger; events/s."""
    from spendtag.ledger.sqlite import SQLiteStore
    from spendtag.pricing import Pricer

    started = time.perf_counter()
    store = SQLiteStore(db)
    pricer = Pricer()
    batch = []
    for event in synthetic(n):
        batch.append(event)
        if len(batch) == BATCH:
            store.record(pricer.price_many(batch))
            batch = []
    if batch:
        store.record(pricer.price_many(batch))
    store.close()
    return n / (time.perf_counter() - started)


def peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """This process's CPU time and its finished children's (export workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def child(db: str, fmt: str, mode: str) -> dict[str, float]:
    """One export in this process: events, wall and CPU seconds (workers included), peak RSS."""
    from spendtag.ledger.query import Filters
    from spendtag.ledger.sqlite import SQLiteStore
    from spendtag.report import exports

    store = SQLiteStore(db)
    store.tag_keys(Filters())
    wall, cpu = time.perf_counter(), cpu_seconds()
    with open("/dev/null", "w", encoding="utf-8") as out:
        if mode == "nothing":   # the start-up a callgrind count takes away
            n = 0
        elif mode == "reference":
            for piece in exports.chunks(store, Filters(), fmt, events=store.events(Filters())):
                out.write(piece)
            n = store.count()
        else:
            n = exports.write(store, Filters(), fmt, out, workers=int(mode))
    return {"events": n, "wall": time.perf_counter() - wall, "cpu": cpu_seconds() - cpu, "peak_mb": peak_rss_mb()}


def run_child(db: Path, fmt: str, mode: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", str(db), fmt, mode], check=True,
                         capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def run_command(db: Path, fmt: str, target: Path) -> dict[str, float]:
    """The whole `spendtag export -o FILE` (stderr not a terminal: no progress bar). Peak RSS by GNU
    time where there is one (a child's ru_maxrss counts the memory of the process it was forked from)."""
    spendtag = Path(sys.executable).with_name("spendtag")
    command = [str(spendtag), "--db", str(db), "export", "--format", fmt, "-o", str(target)]
    gnu_time = shutil.which("time") if Path("/usr/bin/time").exists() else None
    report = target.with_suffix(".time")
    if gnu_time:
        command = ["/usr/bin/time", "-o", str(report), "-f", "%M", *command]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)     # CPU time of the command and its workers
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"spendtag export failed: {' '.join(command)}")
    peak_kb = int(report.read_text().split()[-1]) if gnu_time else usage.ru_maxrss
    report.unlink(missing_ok=True)
    size = target.stat().st_size
    target.unlink()
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": peak_kb / 1024, "mb": size / 1e6}


def instructions(db: Path, fmt: str, mode: str) -> int:
    """CPU instructions (valgrind's callgrind) of a child that opens the ledger and runs ``mode``."""
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
                          "--child", str(db), fmt, mode], check=True, capture_output=True, text=True).stderr
    return int(next(x for x in out.splitlines() if "Collected" in x).split()[-1])


def line(label: str, r: dict[str, float], n: int) -> str:
    return (f"{label}: {n / r['wall']:,.0f} rows/s ({r['wall']:.2f} s wall, {n / r['cpu']:,.0f} rows per CPU-second), "
            f"peak RSS {r['peak_mb']:,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--work", type=Path, help="keep the ledgers here and reuse them")
    parser.add_argument("--child", nargs=3, metavar=("DB", "FORMAT", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--callgrind", type=int, metavar="N", help="also count instructions per row (valgrind)")
    parser.add_argument("--build", nargs=2, metavar=("DB", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=1, metavar="N",
                        help="run the whole command N times per format, CSV and JSON lines in turn, and give the "
                             "median and the range (a shared VM drifts by a third over an hour)")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    if args.build:
        print(json.dumps(build(Path(args.build[0]), int(args.build[1]))))
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="spendtag-bench-export-"))
    work.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    print(f"# bench_export · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · commit {commit} · {machine()}")
    sizes = {}
    for n in (args.small, args.events):
        db = work / f"export-{n}.db"
        if not db.exists():
            partial = db.with_name(db.name + ".partial")
            partial.unlink(missing_ok=True)
            rate = float(subprocess.run([sys.executable, __file__, "--build", str(partial), str(n)], check=True,
                                        capture_output=True, text=True).stdout.strip().splitlines()[-1])
            for suffix in ("-wal", "-shm"):
                Path(str(partial) + suffix).unlink(missing_ok=True)
            partial.rename(db)
            print(f"built {db.name}: {n:,} events at {rate:,.0f} events/s")
        sizes[n] = db
    small = sizes[args.small]
    workers = min(4, os.cpu_count() or 1)
    for fmt in ("csv", "jsonl"):
        base = run_child(small, fmt, "reference")
        print(line(f"{fmt}, baseline (PricedEvent per call), {args.small:,} events", base, args.small))
        for n, db in sizes.items():
            for mode in sorted({1, workers}):
                r = run_child(db, fmt, str(mode))
                assert r["events"] == n, r
                print(line(f"{fmt}, exports.write, {mode} process{'es' if mode > 1 else ''}, {n:,} events", r, n)
                      + f"; {base['wall'] / args.small / (r['wall'] / n):.1f}x the baseline")
    # The whole command, CSV and JSON lines taking turns so that drift hits both alike.
    runs: dict[str, list[dict[str, float]]] = {"csv": [], "jsonl": []}
    for _ in range(args.rounds):
        for fmt in runs:
            runs[fmt].append(run_command(sizes[args.events], fmt, work / f"out.{fmt}"))
    for fmt, rs in runs.items():
        rs.sort(key=lambda r: r["wall"])
        r = rs[len(rs) // 2]
        spread = (f" (median of {len(rs)}; {args.events / rs[-1]['wall']:,.0f}-{args.events / rs[0]['wall']:,.0f} "
                  "rows/s)") if len(rs) > 1 else ""
        print(line(f"{fmt}, `spendtag export -o` (whole command), {args.events:,} events", r, args.events)
              + f", {r['mb']:,.0f} MB written{spread}")
    if args.callgrind:
        db = work / f"export-{args.callgrind}.db"
        if not db.exists():
            subprocess.run([sys.executable, __file__, "--build", str(db), str(args.callgrind)], check=True,
                           capture_output=True)
        start_up = instructions(db, "csv", "nothing")
        for fmt in ("csv", "jsonl"):
            fast, ref = ((instructions(db, fmt, mode) - start_up) / args.callgrind for mode in ("1", "reference"))
            print(f"{fmt}, instructions per row ({args.callgrind:,} events, callgrind): exports.write {fast:,.0f}, "
                  f"baseline {ref:,.0f} ({ref / fast:.1f}x)")
    if args.work is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
