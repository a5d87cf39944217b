"""Proxy replicas on one PostgreSQL ledger: throughput with two replicas against one, same machine, same run.

    python bench/bench_replicas.py [--seconds 10] [--pg URL]

Starts the shared mock upstream (``../shared/peers/proxy-bench``), a throw-away PostgreSQL
(as the tests do, with PostgreSQL's default durability) unless ``--pg`` is given, and then,
for one replica and for two: every replica is a ``spendtag proxy`` process on the same
ledger, each driven by its own wrk (the two wrks stand in for a load balancer) with the same
total connections. Two budget settings: none, and a blocking budget covering every call, so
every call reserves in the ledger (shared reservations) and is released after it commits.
Prints total req/s, p50/p99 latency and the proxies' CPU per call, then checks the ledger
holds every answered call.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))   # the throw-away cluster helper

from common import cpu_seconds, free_port, machine, wait  # noqa: E402
from pg import Cluster  # noqa: E402

from spendtag.ledger import open_store  # noqa: E402

PEERS = HERE.parents[1] / "shared" / "peers" / "proxy-bench"
BODY = {"model": "gpt-4o", "max_tokens": 200, "messages": [{"role": "user", "content": "hi"}]}
CONNECTIONS = 32


def run_case(db: str, mock_port: int, replicas: int, seconds: int, work: Path, env: dict[str, str]) -> dict[str, float]:
    ports = [free_port() for _ in range(replicas)]
    procs = []
    for port in ports:
        cmd = [sys.executable, "-m", "spendtag.server.proxy", "--db", db, "proxy", "--port", str(port),
               "--openai-base-url", f"http://127.0.0.1:{mock_port}/v1", "--no-access-log"]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        for port in ports:
            wait(f"http://127.0.0.1:{port}/healthz")
        body = work / "body.json"
        body.write_text(json.dumps(BODY))
        wenv = {**env, "BENCH_BODY_FILE": str(body), "BENCH_HEADERS": "X-Spendtag-Tags: client=acme"}
        # warm-up, then the measured run
        for measured in (False, True):
            cpu0 = [cpu_seconds(p.pid) for p in procs]
            secs = seconds if measured else 2
            wrks = [subprocess.Popen(["wrk", "-t1", f"-c{CONNECTIONS // replicas}", f"-d{secs}s", "--timeout", "30s",
                                      "-s", str(PEERS / "bench_wrk.lua"),
                                      f"http://127.0.0.1:{port}/openai/v1/chat/completions"],
                                     env=wenv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    for port in ports]
            outs = [json.loads(w.communicate()[0].strip().splitlines()[-1]) for w in wrks]
            cpu = sum(cpu_seconds(p.pid) for p in procs) - sum(cpu0)
        requests = sum(o["requests"] for o in outs)
        errors = sum(o["err_status"] + o["err_connect"] + o["err_read"] + o["err_timeout"] for o in outs)
        return {"rps": sum(o["rps"] for o in outs), "p50_ms": max(o["p50_us"] for o in outs) / 1000,
                "p99_ms": max(o["p99_us"] for o in outs) / 1000, "cpu_ms": cpu * 1000 / max(1, requests),
                "errors": errors}
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--pg", default=os.environ.get("SPENDTAG_BENCH_PG"))
    args = ap.parse_args()
    print(f"# bench_replicas · {time.strftime('%Y-%m-%d')} · {machine()} · {os.cpu_count()} CPUs")
    work = Path(tempfile.mkdtemp(prefix="spendtag-bench-replicas-"))
    cluster = Cluster.start(durable=True, url=args.pg)
    mock_port = free_port()
    mock = subprocess.Popen([sys.executable, str(PEERS / "mock_upstream.py"), "--port", str(mock_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {**os.environ, "SPENDTAG_CONFIG": str(work / "config.toml"), "XDG_DATA_HOME": str(work / "data")}
    (work / "config.toml").write_text("")
    try:
        wait(f"http://127.0.0.1:{mock_port}/health")
        for budget in ("none", "blocking"):
            for replicas in (1, 2):
                db = cluster.new_database()
                if budget == "blocking":
                    subprocess.run([sys.executable, "-m", "spendtag.cli.main", "--db", db, "budget", "set", "bench",
                                    "--scope", "client=acme", "--monthly", "1000000", "--stop-at", "100",
                                    "--enforce", "block"], env=env, check=True, stdout=subprocess.DEVNULL)
                r = run_case(db, mock_port, replicas, args.seconds, work, env)
                store = open_store(db)
                recorded = store.count()
                left = store.reservations(datetime.now(UTC))
                store.close()
                print(f"budget {budget:8} · {replicas} replica(s): {r['rps']:,.0f} req/s, p50 {r['p50_ms']:.1f} ms, "
                      f"p99 {r['p99_ms']:.1f} ms, proxy CPU {r['cpu_ms']:.2f} ms/call, errors {r['errors']}; "
                      f"ledger {recorded:,} events, reservations left {left or 'none'}", flush=True)
                cluster.drop(db)
    finally:
        mock.terminate()
        cluster.stop()


if __name__ == "__main__":
    main()
