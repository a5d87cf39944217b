"""How soon a running proxy obeys what another process changed (target: ≤ 1 s from `budget set` to the first 429).

    python bench/bench_guard_live.py [--rounds 10] [--rate 200] [--postgres | --db postgresql://...]

Real parts: ``spendtag proxy`` in a process of its own on a fresh ledger (SQLite by default;
with ``--postgres`` a throw-away PostgreSQL cluster, tests/pg.py, or the database given with
--db), in front of the repository's mock upstream
(tests/mock_upstream.py). A client sends calls tagged ``client=bench`` at ``--rate`` per
second on keep-alive connections. Each round, in another process:

* ``spendtag budget set live --scope client=bench --monthly 0.000001 --enforce block``, and the
  time from its commit to the first 429 the client gets; then ``spendtag budget remove live``
  and the time from its commit to the first 200 again;
* ``spendtag keys revoke`` of the key the client uses, and the time from its commit to the
  first 401.

The moment of each commit is taken by a reader polling the ledger every millisecond from the
bench's own process (the command itself takes longer to start and stop Python than the proxy
takes to see its change). The resolution is the client's spacing (5 ms at 200 calls a second)
plus the poll's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import machine

HERE = Path(__file__).resolve().parent
MOCK = HERE.parent / "tests" / "mock_upstream.py"
BODY = json.dumps({"model": "gpt-4o", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}).encode()


def connect(db: str) -> Any:
    """A plain connection to the ledger, for watching it (sqlite3, or psycopg for a PostgreSQL URL)."""
    if db.startswith(("postgresql:", "postgres:")):
        import psycopg

        return psycopg.connect(db, autocommit=True)
    import sqlite3

    return sqlite3.connect(db, isolation_level=None)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client:
    """Calls at a steady rate from a thread; remembers each answer's status and time."""

    def __init__(self, port: int, rate: float, headers: dict[str, str]) -> None:
        self.port, self.gap, self.headers = port, 1 / rate, headers
        self.answers: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        due = time.monotonic()
        while not self._stop.is_set():
            conn.request("POST", "/openai/v1/chat/completions", BODY,
                         {"content-type": "application/json", **self.headers})
            resp = conn.getresponse()
            resp.read()
            self.answers.append((time.monotonic(), resp.status))
            due += self.gap
            time.sleep(max(0.0, due - time.monotonic()))

    def first(self, status: int, after: float, timeout: float = 20) -> float:
        """Seconds from ``after`` to the first answer with ``status`` that arrived after it."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            answers = self.answers
            for at, got in answers[seen:]:
                if at >= after and got == status:
                    return at - after
            seen = len(answers)
            time.sleep(0.002)
        raise RuntimeError(f"no {status} within {timeout} s")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--rate", type=float, default=200.0, help="client calls per second")
    ap.add_argument("--db", help="a PostgreSQL URL (default: a fresh SQLite ledger)")
    ap.add_argument("--postgres", action="store_true", help="on a throw-away PostgreSQL cluster")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="spendtag-bench-guard-"))
    cluster = None
    if args.postgres and not args.db:
        sys.path.insert(0, str(HERE.parent / "tests"))
        from pg import Cluster

        cluster = Cluster.start()
        args.db = cluster.new_database()
    db = args.db or str(work / "ledger.db")
    up_port, proxy_port = free_port(), free_port()
    env = {**os.environ, "SPENDTAG_CONFIG": str(work / "config.toml"), "OPENAI_API_KEY": "sk-bench"}
    (work / "config.toml").write_text(f'[proxy]\nopenai_base_url = "http://127.0.0.1:{up_port}/v1"\n'
                                      "access_log = false\n")

    def spendtag(*a: str, until: str) -> float:
        """Run a CLI command; the moment its change was first visible in the ledger (``until``: a query
        that returns a row once it is)."""
        seen: list[float] = []
        stop = threading.Event()

        def poll() -> None:
            conn = connect(db)
            try:
                while not stop.is_set():
                    if conn.execute(until).fetchone() is not None:
                        seen.append(time.monotonic())
                        return
                    time.sleep(0.001)
            finally:
                conn.close()

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        subprocess.run([sys.executable, "-m", "spendtag.cli.main", "--db", db, *a], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        poller.join(10)
        stop.set()
        if not seen:
            raise RuntimeError(f"`spendtag {' '.join(a)}` left no trace in the ledger")
        return seen[0]

    upstream = subprocess.Popen([sys.executable, str(MOCK), "--port", str(up_port)], stdout=subprocess.DEVNULL)
    made = subprocess.run([sys.executable, "-m", "spendtag.cli.main", "--db", db, "keys", "create", "bench",
                           "--tags", "client=bench"], env=env, check=True, capture_output=True, text=True)
    secret = made.stdout.strip().splitlines()[0]
    proxy = subprocess.Popen([sys.executable, "-m", "spendtag.cli.main", "--db", db, "proxy", "--port",
                              str(proxy_port)], env=env, stderr=subprocess.DEVNULL)
    budget_s, lifted_s, revoked_s = [], [], []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        for _ in range(args.rounds):
            client = Client(proxy_port, args.rate, {"X-Spendtag-Tags": "client=bench"})
            client.first(200, time.monotonic())
            done = spendtag("budget", "set", "live", "--scope", "client=bench", "--monthly", "0.000001",
                            "--enforce", "block", until="SELECT 1 FROM budgets WHERE name = 'live'")
            budget_s.append(client.first(429, done))
            done = spendtag("budget", "remove", "live",
                            until="SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM budgets WHERE name = 'live')")
            lifted_s.append(client.first(200, done))
            client.stop()
        for i in range(args.rounds):
            name = f"bench-{i}"
            made = subprocess.run([sys.executable, "-m", "spendtag.cli.main", "--db", db, "keys", "create", name,
                                   "--tags", "client=bench"], env=env, check=True, capture_output=True, text=True)
            secret = made.stdout.strip().splitlines()[0]
            client = Client(proxy_port, args.rate, {"Authorization": f"Bearer {secret}"})
            client.first(200, time.monotonic())
            done = spendtag("keys", "revoke", name,
                            until=f"SELECT 1 FROM virtual_keys WHERE name = '{name}' AND revoked_at IS NOT NULL")
            revoked_s.append(client.first(401, done))
            client.stop()
    finally:
        proxy.terminate()
        upstream.terminate()
        proxy.wait(30)
        upstream.wait(30)
        if cluster is not None:
            cluster.stop()
    kind = "PostgreSQL" if args.db else "SQLite"
    print(f"# bench_guard_live · {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC · {machine()} · {kind} · "
          f"{args.rounds} rounds, client at {args.rate:.0f} calls/s")
    for label, xs in (("budget set -> first 429", budget_s), ("budget remove -> first 200", lifted_s),
                      ("keys revoke -> first 401", revoked_s)):
        print(f"{label}: median {statistics.median(xs) * 1000:.0f} ms, max {max(xs) * 1000:.0f} ms "
              f"(target ≤ 1000 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
