"""Import throughput of every coding agent against Claude Code's, and the re-import of them all unchanged.

    python bench/bench_agent_imports.py [--calls 100000] [--rounds 3] [--agents a,b] [--work DIR]

For every agent in the registry with a generator ``bench/agent_trees/<module>.py`` (see that
package's docstring), a tree of about ``--calls`` calls is written at the agent's first default
place under an empty home (generation is not timed). Then, each as a child process timed with
``time.perf_counter`` around ``subprocess.run``:

1. ``spendtag --db FRESH import AGENT PATH``, the median of ``--rounds`` on a new ledger each
   time: wall time, calls recorded (from its own summary line) and calls per second, and that
   rate against Claude Code's in the same run (target: no agent slower than 1/1.5 of it);
2. all agents imported once into one ledger, then ``spendtag import`` (every agent, found from
   the empty home) on the unchanged trees, median of ``--rounds`` (target: <= 0.5 s in total).

Agents without a generator are listed as missing, not fatal. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine  # noqa: E402

from spendtag.capture.agents import registry  # noqa: E402

TARGET_RATIO = 1.5
TARGET_REIMPORT_S = 0.5
_NEW = re.compile(r"([\d,]+) new calls")


def generator(name: str) -> ModuleType | None:
    """The agent's generator module: ``<module>.py`` as the registry names it, or ``<name>.py``."""
    module = dict(registry._MODULES).get(name, name.replace("-", "_"))
    for stem in (module, name):
        path = HERE / "agent_trees" / f"{stem}.py"
        if path.is_file():
            spec = importlib.util.spec_from_file_location(f"agent_trees_{stem}", path)
            assert spec is not None and spec.loader is not None
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            return mod
    return None


def spendtag(env: dict[str, str], db: Path, *args: str) -> tuple[float, str]:
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "spendtag.cli.main", "--db", str(db), *args], env=env,
                          capture_output=True, text=True, timeout=3600)
    elapsed = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"spendtag {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, done.stdout


def new_calls(out: str) -> int:
    found = _NEW.search(out)
    return int(found.group(1).replace(",", "")) if found else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100_000, help="Calls per agent's tree (default 100000).")
    parser.add_argument("--rounds", type=int, default=3, help="Timed runs per figure; the median is shown.")
    parser.add_argument("--agents", help="Only these agents (comma-separated; claude-code is always run).")
    parser.add_argument("--work", help="Where to write the trees (default: a temporary folder, removed after).")
    args = parser.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="spendtag-agents-"))
    try:
        bench(work, args.calls, max(1, args.rounds), args.agents.split(",") if args.agents else None)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


def bench(work: Path, calls: int, rounds: int, only: list[str] | None) -> None:
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "TZ": "UTC", "NO_COLOR": "1",
           "LANG": "C.UTF-8", "SPENDTAG_CONFIG": str(work / "config.toml")}
    plat = registry.platform()
    names = [n for n in registry.names() if only is None or n in only or n == "claude-code"]
    trees: dict[str, Path] = {}
    missing: list[str] = []
    print(f"machine: {machine()}")
    print(f"command: python bench/bench_agent_imports.py --calls {calls} --rounds {rounds}\n")
    for name in names:
        gen = generator(name)
        if gen is None:
            missing.append(name)
            continue
        place = registry.get(name).places({}, home, plat)[0]
        t = time.perf_counter()
        trees[name] = Path(gen.generate(place, calls, seed=0))
        print(f"generated {name}: {trees[name]} in {time.perf_counter() - t:.1f} s (not timed)")
    rows = []
    for name, path in trees.items():
        times, got = [], 0
        for r in range(rounds):
            db = work / f"first-{name}-{r}.db"
            elapsed, out = spendtag(env, db, "import", name, str(path))
            times.append(elapsed)
            got = new_calls(out)
            db.unlink(missing_ok=True)
            for extra in (f"{db}-wal", f"{db}-shm"):
                Path(extra).unlink(missing_ok=True)
        median = statistics.median(times)
        rows.append((name, got, median, got / median if median else 0.0))
    base = next((cps for n, _, _, cps in rows if n == "claude-code"), 0.0)
    print("\n| agent | calls | first import (s, median) | calls/s | vs Claude Code | within 1.5x |")
    print("|---|---:|---:|---:|---:|---|")
    for name, got, median, cps in rows:
        ratio = cps / base if base else 0.0
        ok = "yes" if base and ratio >= 1 / TARGET_RATIO else "NO"
        print(f"| {name} | {got:,} | {median:.2f} | {cps:,.0f} | {ratio:.2f}x | {ok} |")
    for name in missing:
        print(f"| {name} | missing generator (bench/agent_trees/) | | | | |")

    shared = work / "all.db"
    for name, path in trees.items():
        spendtag(env, shared, "import", name, str(path))
    found = [n for n in trees if any(registry.get(n).files(p) for p in registry.get(n).places({}, home, plat))]
    times = [spendtag(env, shared, "import")[0] for _ in range(rounds)]
    _, out = spendtag(env, shared, "import")
    median = statistics.median(times)
    print(f"\nre-import of the unchanged trees of {len(found)} agents ({', '.join(found)}) in one `spendtag import`: "
          f"{median:.3f} s median of {rounds} (target <= {TARGET_REIMPORT_S} s: "
          f"{'yes' if median <= TARGET_REIMPORT_S else 'NO'}); its summary: {out.strip()}")
    lost = [n for n in trees if n not in found]
    if lost:
        print(f"not at their default place (left out of the re-import): {', '.join(lost)}")


if __name__ == "__main__":
    main()
