"""Issue 5: the metering proxy under the shared proxy-bench harness (direct vs spendtag [vs LiteLLM]).

Runs ``../shared/peers/proxy-bench/bench.py`` with ``CANDIDATE_CMD`` set to spendtag's proxy
(tags header, pricing, budget check with a blocking budget that covers every call, journal
and batched SQLite ledger all on), on a fresh ledger in a temporary directory. Every
proxy-bench setting (APIS, CONCS, STREAMS, DURATION, ROUNDS, LITELLM_VENV, ...) passes
through from the environment; this script only fills in the candidate.

    python bench/bench_proxy.py                          # OpenAI route, c=1/32, stream and not
    APIS='openai anthropic' python bench/bench_proxy.py  # both routes
    LITELLM_VENV=path/to/litellm-venv python bench/bench_proxy.py   # with LiteLLM in the same run
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from common import machine

HERE = Path(__file__).resolve().parent
HARNESS = HERE.parents[1] / "shared" / "peers" / "proxy-bench" / "bench.py"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-budget", action="store_true", help="measure without a blocking budget")
    ap.add_argument("--sanity-only", action="store_true", help="start everything, check one call per cell, stop")
    args = ap.parse_args()
    if not HARNESS.exists():
        print(f"proxy-bench harness not found at {HARNESS} (the repo must sit next to shared/)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="spendtag-bench-proxy-"))
    db = work / "ledger.db"
    env = dict(os.environ)
    env["SPENDTAG_DB"] = str(db)
    env["SPENDTAG_CONFIG"] = str(work / "config.toml")
    (work / "config.toml").write_text('[proxy]\nmetric_tags = ["client", "env"]\n')
    if not args.no_budget:
        # A blocking budget covering every call, far from its limit: the check and the
        # reservation run on every call without ever refusing one.
        subprocess.run([sys.executable, "-m", "spendtag.cli.main", "budget", "set", "bench", "--scope", "client=acme",
                        "--monthly", "1000000", "--stop-at", "100", "--enforce", "block"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
    py = shlex.quote(sys.executable)
    env["CANDIDATE_CMD"] = (f"{py} -m spendtag.server.proxy --db {shlex.quote(str(db))} proxy --host 127.0.0.1 "
                            "--port {port} --openai-base-url {upstream}/v1 --anthropic-base-url {upstream} "
                            "--no-access-log")
    env.setdefault("CANDIDATE_NAME", "spendtag")
    env.setdefault("CANDIDATE_PREFIX", "/openai")
    env.setdefault("CANDIDATE_PREFIX_ANTHROPIC", "/anthropic")
    env.setdefault("CANDIDATE_READY", "/healthz")
    env.setdefault("CANDIDATE_HEADERS", "X-Spendtag-Tags: client=acme,env=bench")
    env.setdefault("MOCK_PYTHON", sys.executable)
    print(f"machine: {machine()}; ledger {db}", flush=True)
    cmd = [sys.executable, str(HARNESS)] + (["--sanity-only"] if args.sanity_only else [])
    code = subprocess.call(cmd, env=env)
    if db.exists():
        import sqlite3

        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT COUNT(*), SUM(cost) FROM events").fetchone()
        print(f"ledger after the run: {rows[0]} events, {rows[1] or 0} pico-USD", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
