"""spendtag against ccusage on Claude Code transcripts: costs per day and model, to the micro-dollar.

Run: python bench/ccusage_compare.py [--ccusage PATH] [--dir CLAUDE_CONFIG_DIR]

Default --dir is tests/fixtures/pricing/fast_mode (fast-mode calls on Opus 4.6, 4.7 and 4.8,
and standard ones). ccusage (20.x; `npm install ccusage@20` in a scratch folder gives
node_modules/.bin/ccusage) runs as

    CLAUDE_CONFIG_DIR=DIR ccusage claude daily --json --offline --timezone UTC

with HOME set to an empty folder, so it reads no other transcripts or settings and uses the
prices bundled in it (no download). spendtag imports the same folder into a throw-away
ledger. ccusage names fast-mode calls MODEL-fast; spendtag's are the events whose price note
says "fast mode". Prints both figures per day and model and exits 1 if any differ by a
micro-dollar or more; without ccusage it says so and exits 0 (tests/test_pricing_tiers.py
keeps ccusage's figures for the default folder).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from spendtag.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / "tests" / "fixtures" / "pricing" / "fast_mode"
MICRO = Decimal("0.000001")


def ccusage_costs(binary: str, folder: Path) -> tuple[str, dict[tuple[str, str], Decimal]]:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "HOME": home, "CLAUDE_CONFIG_DIR": str(folder), "NO_COLOR": "1"}
        version = subprocess.run([binary, "--version"], env=env, capture_output=True, text=True,
                                 check=True, timeout=60).stdout.strip()
        out = subprocess.run([binary, "claude", "daily", "--json", "--offline", "--timezone", "UTC"], env=env,
                             capture_output=True, text=True, check=True, timeout=600).stdout
    costs: dict[tuple[str, str], Decimal] = {}
    for day in json.loads(out)["daily"]:
        for m in day["modelBreakdowns"]:
            costs[(day["date"], m["modelName"])] = Decimal(repr(m["cost"]))
    return version, costs


def spendtag_costs(folder: Path) -> dict[tuple[str, str], Decimal]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {"SPENDTAG_DB": str(Path(tmp) / "ledger.db"), "SPENDTAG_CONFIG": str(Path(tmp) / "config.toml"),
               "HOME": tmp}
        runner = CliRunner()
        for args in (["import", "claude-code", str(folder / "projects")], ["export", "--format", "json"]):
            result = runner.invoke(cli, args, env=env)
            if result.exit_code != 0:
                raise SystemExit(f"spendtag {' '.join(args[:2])} failed: {result.output}")
    costs: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in json.loads(result.output):
        if not row["priced"]:
            continue
        fast = "-fast" if "fast mode" in row["price_note"] else ""
        costs[(row["time_utc"][:10], row["model"] + fast)] += Decimal(row["cost_usd"])
    return dict(costs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ccusage", help="the ccusage command (default: ccusage on PATH)")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="a CLAUDE_CONFIG_DIR (with projects/ in it)")
    args = parser.parse_args()
    binary = args.ccusage or shutil.which("ccusage")
    if binary is None:
        print("ccusage not found: `npm install ccusage@20` and pass --ccusage node_modules/.bin/ccusage; skipped")
        return 0
    version, theirs = ccusage_costs(binary, args.dir)
    ours = spendtag_costs(args.dir)
    print(f"{version} vs spendtag on {args.dir}")
    print(f"{'day':<11} {'model':<28} {'ccusage':>16} {'spendtag':>16}  agree")
    bad = 0
    for key in sorted(set(theirs) | set(ours)):
        a, b = theirs.get(key), ours.get(key)
        same = a is not None and b is not None and abs(a - b) < MICRO
        bad += not same
        print(f"{key[0]:<11} {key[1]:<28} {a if a is not None else '-':>16} {b if b is not None else '-':>16}  "
              f"{'yes' if same else 'NO'}")
    total_a, total_b = sum(theirs.values(), Decimal(0)), sum(ours.values(), Decimal(0))
    print(f"{'total':<40} {total_a:>16} {total_b:>16}  {'yes' if abs(total_a - total_b) < MICRO else 'NO'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
