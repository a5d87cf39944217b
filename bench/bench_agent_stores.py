"""Import throughput of the agents read by bench/agent_trees/ against the Claude Code importer.

    python bench/bench_agent_stores.py [--calls 100000] [--agents opencode,goose,...] [--rounds 2]

Generates (not timed) a Claude Code tree of about ``--calls`` distinct calls (bench_agents'
TreeWriter) and each agent's tree of ``--calls`` calls (``agent_trees.<agent>.generate``),
then, per round, imports each into a fresh ledger as a child process (``spendtag --db X
import AGENT PATH``), Claude Code first and the agents after it, and prints calls per
second (best of the rounds: the machine may be shared), the ratio to Claude Code's, and the
time of a second import of the unchanged tree.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

AGENTS = ("opencode", "goose", "crush", "amp", "droid", "copilot-cli", "cursor")


def timed(db: Path, agent: str, path: Path) -> float:
    start = time.perf_counter()
    spendtag = str(Path(sys.executable).with_name("spendtag"))
    subprocess.run([spendtag, "--db", str(db), "import", agent, str(path)], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--agents", default=",".join(AGENTS))
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from bench_agents import TreeWriter
    from common import machine

    print(f"# bench_agent_stores · {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        claude = TreeWriter(work / "claude" / "projects", int(args.calls * 2.05))
        claude.write()
        trees = {"claude-code": (claude.root, claude.calls)}
        for agent in args.agents.split(","):
            module = importlib.import_module(f"agent_trees.{agent.replace('-', '_')}")
            trees[agent] = (module.generate(work / agent, args.calls), args.calls)
        best: dict[str, float] = {}
        again: dict[str, float] = {}
        for round_no in range(args.rounds):
            for agent, (path, _) in trees.items():
                db = work / f"{agent}-{round_no}.db"
                best[agent] = min(best.get(agent, float("inf")), timed(db, agent, path))
                again[agent] = min(again.get(agent, float("inf")), timed(db, agent, path))
        base = trees["claude-code"][1] / best["claude-code"]
        for agent, (_, calls) in trees.items():
            rate = calls / best[agent]
            print(f"{agent:12} {calls:>8,} calls  {best[agent]:6.2f} s  {rate:9,.0f} calls/s  "
                  f"x{rate / base:4.2f} of Claude Code  unchanged re-import {again[agent]:.2f} s")


if __name__ == "__main__":
    main()
