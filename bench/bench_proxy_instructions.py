"""Issue 5: instructions per proxied call, counted by valgrind (callgrind), not timed.

    python bench/bench_proxy_instructions.py [--calls 1000] [--concurrency 32] [--baseline GIT_REF]

CPU time on this shared VM drifts by ±30 % from run to run; instruction counts do not (the
same build, inputs and environment give the same count within a fraction of a percent). So
this is the figure to compare two builds by: ``--baseline`` checks out another commit into a
temporary work tree and counts it in the same run.

Same set-up as ``bench_proxy.py`` (everything on: tags header, pricing, a blocking budget, the
journal, the batched SQLite ledger; access log off), OpenAI chat, not streamed. The proxy runs
under ``valgrind --tool=callgrind`` with counting off; after a warm-up, counting is switched on
for ``--calls`` calls sent by wrk and off again. What valgrind cannot see: system calls' time in
the kernel and cache misses. So fewer system calls (as with the journal's memory mapping or
one send per reply) lower CPU time without lowering this count.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import free_port, machine, wait  # noqa: E402

PEERS = HERE.parents[1] / "shared" / "peers" / "proxy-bench"
CHAT = {"model": "gpt-4o", "max_tokens": 64, "messages": [{"role": "user", "content": "Say hello."}]}


def count(src: Path | None, calls: int, concurrency: int, work: Path) -> tuple[int, int]:
    """(instructions, calls answered) while counting was on, for the spendtag under ``src``."""
    env = {**os.environ, "SPENDTAG_CONFIG": str(work / "config.toml"), "SPENDTAG_DB": str(work / "ledger.db")}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    (work / "config.toml").write_text('[proxy]\nmetric_tags = ["client", "env"]\n')
    subprocess.run([sys.executable, "-m", "spendtag.cli.main", "budget", "set", "bench", "--scope", "client=acme",
                    "--monthly", "1000000", "--stop-at", "100", "--enforce", "block"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    mock_port, port = free_port(), free_port()
    out = work / "callgrind.out"
    mock = subprocess.Popen(["taskset", "-c", "0", sys.executable, str(PEERS / "mock_upstream.py"), "--port",
                             str(mock_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy = subprocess.Popen(["taskset", "-c", "1", "valgrind", "--tool=callgrind", "--instr-atstart=no",
                              f"--callgrind-out-file={out}", sys.executable, "-m", "spendtag.server.proxy", "--db",
                              env["SPENDTAG_DB"], "proxy", "--port", str(port), "--openai-base-url",
                              f"http://127.0.0.1:{mock_port}/v1", "--no-access-log"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait(f"http://127.0.0.1:{mock_port}/health")
        wait(f"http://127.0.0.1:{port}/healthz", 600)    # start-up under valgrind is slow
        body = work / "body.json"
        body.write_text(json.dumps(CHAT))
        url = f"http://127.0.0.1:{port}/openai/v1/chat/completions"
        wenv = {**os.environ, "BENCH_BODY_FILE": str(body), "BENCH_HEADERS": "X-Spendtag-Tags: client=acme,env=bench"}

        def wrk(seconds: int, limit: int = 0) -> subprocess.Popen[str]:
            return subprocess.Popen(["taskset", "-c", "0", "wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s",
                                     "--timeout", "60s", "-s", str(PEERS / "bench_wrk.lua"), url],
                                    env={**wenv, "BENCH_MAX_REQUESTS": str(limit)}, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, text=True)

        def answered() -> int:
            with urllib.request.urlopen(f"http://127.0.0.1:{mock_port}/_stats", timeout=10) as r:
                return int(json.load(r)["answered_total"])

        wrk(3).wait()                                            # warm-up, not counted
        time.sleep(2)
        control = ["callgrind_control"]
        before = answered()
        subprocess.run([*control, "-i", "on", str(proxy.pid)], check=True, stdout=subprocess.DEVNULL)
        # wrk stops sending after `calls` requests (but lives on until -d): wait until every
        # call it sent is answered and quiet, then stop counting.
        load = wrk(3600, calls)
        last, still = -1, 0
        while still < 4:
            time.sleep(0.5)
            now = answered()
            still = still + 1 if now == last else 0
            last = now
        subprocess.run([*control, "-i", "off", str(proxy.pid)], check=True, stdout=subprocess.DEVNULL)
        load.terminate()
        load.wait()
        subprocess.run([*control, "-d", str(proxy.pid)], check=True, stdout=subprocess.DEVNULL)
        time.sleep(1)
        done = last - before
        total = 0
        for part in work.glob("callgrind.out*"):
            found = re.search(r"^totals:\s+(\d+)", part.read_text(errors="replace"), re.M)
            total += int(found.group(1)) if found else 0
        return total, done
    finally:
        for p in (proxy, mock):
            p.terminate()
            p.wait(60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--baseline", help="a git ref to count in the same run (checked out into a temporary work tree)")
    args = ap.parse_args()
    if shutil.which("valgrind") is None or shutil.which("wrk") is None:
        sys.exit("needs valgrind and wrk (apt-get install valgrind wrk)")
    print(f"# bench_proxy_instructions · {time.strftime('%Y-%m-%d %H:%M')} · {machine()}", flush=True)
    builds: list[tuple[str, Path | None]] = [("this tree", None)]
    tree = None
    if args.baseline:
        tree = Path(tempfile.mkdtemp(prefix="spendtag-baseline-")) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.baseline], cwd=HERE.parent, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        builds.insert(0, (args.baseline, tree / "src"))
    try:
        results = {}
        for name, src in builds:
            work = Path(tempfile.mkdtemp(prefix="spendtag-bench-instr-"))
            total, answered = count(src, args.calls, args.concurrency, work)
            results[name] = total / answered
            print(f"{name}: {answered} calls, {total:,} instructions, {results[name]:,.0f} per call", flush=True)
        if args.baseline:
            ratio = results["this tree"] / results[args.baseline]
            print(f"this tree / {args.baseline}: {ratio:.3f}x instructions per call", flush=True)
    finally:
        if tree is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=HERE.parent, check=False)


if __name__ == "__main__":
    main()
