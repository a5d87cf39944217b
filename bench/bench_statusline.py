"""`spendtag statusline` latency on a large ledger (issue 3: well under 100 ms).

    python bench/bench_statusline.py [--events 1000000]

Builds a ledger of N synthetic events (bench/common.py; ~20k sessions), then runs the
status-line command the way Claude Code does (a fresh process, JSON on stdin) 20 times for
a session in the ledger and reports the median wall time, next to the interpreter alone
(`python -c pass`) and `python -c "import spendtag"` measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine  # noqa: E402


def median_ms(cmd: list[str], env: dict[str, str], stdin: bytes = b"", runs: int = 20) -> tuple[float, bytes]:
    times, out = [], b""
    for _ in range(runs):
        t = time.perf_counter()
        out = subprocess.run(cmd, input=stdin, env=env, check=True, capture_output=True).stdout
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"# bench_statusline · {datetime.now(UTC):%Y-%m-%d} · {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ledger.db"
        subprocess.run([sys.executable, str(HERE / "bench_ledger.py"), "--events", str(args.events), "--child",
                        str(db), "time-ordered"], check=True, capture_output=True)
        env = {**os.environ, "SPENDTAG_DB": str(db), "SPENDTAG_CONFIG": str(Path(tmp) / "none.toml")}
        payload = json.dumps({"session_id": "s1-100",
                              "workspace": {"current_dir": "/home/dev/clients/acme/p1"}}).encode()
        spendtag = str(Path(sys.executable).with_name("spendtag"))
        line_ms, out = median_ms([spendtag, "statusline"], env, payload)
        bare_ms, _ = median_ms([sys.executable, "-c", "pass"], env)
        import_ms, _ = median_ms([sys.executable, "-c", "import spendtag"], env)
    print(f"ledger: {args.events:,} events")
    print(f"output: {out.decode().strip()}")
    print(f"`spendtag statusline`: {line_ms:.0f} ms (median of 20; target well under 100 ms)")
    print(f"same run: `python -c pass` {bare_ms:.0f} ms, `python -c 'import spendtag'` {import_ms:.0f} ms")


if __name__ == "__main__":
    main()
