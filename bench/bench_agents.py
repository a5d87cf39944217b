"""Coding-agent logs: `spendtag import claude-code` + `report --by day` against `ccusage daily --json`.

    python bench/bench_agents.py [--records 1000000] [--ccusage PATH]

Writes a Claude Code tree of about ``--records`` assistant lines under a temporary
``<tmp>/claude/projects`` (generation is timed apart and not counted), then runs, in this
order and each as a child process timed with ``time.perf_counter`` around ``subprocess.run``
and with its peak memory read as the child's max RSS (``/usr/bin/time -f %M``, else
``os.wait4``):

1. ``ccusage daily --json --offline`` (CLAUDE_CONFIG_DIR=<tmp>/claude, HOME an empty folder);
2. ``spendtag import claude-code <tmp>/claude/projects`` then ``spendtag report --by day
   --format json`` on a fresh ledger: wall time of the two together, peak RSS the larger;
3. ``spendtag report --by day --format json`` again (warm; median of 3);
4. a second ``spendtag import claude-code ...`` of the unchanged tree (median of 3);
5. ``ccusage`` again, and its native binary alone (no Node launcher) for reference.

Ratios use the faster of the two ccusage runs (the harder comparison for spendtag). Then the
tokens per day from both JSON outputs are set next to the generator's own truth.

The tree: 8 projects; sessions of 10-200 calls spread over 30 days of 2026-09; each call
written as 1-3 lines sharing message id and request id, the earlier ones with a placeholder
``output_tokens`` and the last with the real one; tool results and prompts between calls;
3 Claude models; cache reads and 5m/1h cache writes; one call in 250 starts a sub-agent of
3-15 calls (its own ``subagents/agent-*.jsonl`` file plus ``progress`` copies in the parent,
as recent Claude Code versions write them); one API-error line per 100 calls; 2 % of
sessions are resumed (a new file copying the old one verbatim, then going on); 3 % have
malformed lines (a line cut mid-write, a non-object, an assistant line without a message).
Each file gets its last record's time as mtime: a history, not files being written now (so
spendtag closes a call left open at the end of a file, as ccusage counts it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine  # noqa: E402

MODELS = ("claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001")
PROJECTS = tuple(f"/home/dev/clients/{c}/{r}" for c, r in (
    ("acme", "api"), ("acme", "web"), ("globex", "etl"), ("globex", "infra"), ("initech", "tps-reports"),
    ("umbrella", "lab.py"), ("hooli", "nucleus"), ("internal", "dotfiles")))
START = int(datetime(2026, 9, 1, tzinfo=UTC).timestamp())
DAYS = 30
# The ccusage launcher: $CCUSAGE, else `ccusage` on PATH. Install it with npm into a folder
# of your choice: `npm install ccusage@20.0.24 @ccusage/ccusage-linux-x64@20.0.24` (the
# native package of 20.0.26 is not published), then pass node_modules/.bin/ccusage.
CCUSAGE = os.environ.get("CCUSAGE", "ccusage")
TARGETS = {"first": 0.5, "memory": 0.3, "report": 0.02, "second_s": 0.5}
BUCKETS = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")
FILLER = "Let me look at the file and run the tests before changing anything. " * 40


def _folder(cwd: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in cwd)


class TreeWriter:
    """Writes the tree as text templates (no json.dumps per line) and keeps the truth per day."""

    def __init__(self, projects: Path, records: int, seed: int = 3) -> None:
        self.root = projects
        self.target = records
        self.rng = random.Random(seed)
        self.records = 0          # assistant lines written, copies included
        self.files = 0
        self.truth: dict[str, Counter[str]] = {}
        self.calls = 0

    # -- ids and times ----------------------------------------------------------------------

    def uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def token(self, n: int) -> str:
        return f"{self.rng.getrandbits(6 * n):0{n}x}"[:n]

    @staticmethod
    def iso(ms: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"

    # -- lines ------------------------------------------------------------------------------

    def _user(self, s: dict[str, str], ms: int, text_len: int, sidechain: bool = False, agent: str = "") -> str:
        extra = f',"agentId":"{agent}"' if agent else ""
        return (f'{{"parentUuid":"{self.uuid()}","isSidechain":{"true" if sidechain else "false"},'
                f'"userType":"external","cwd":"{s["cwd"]}","sessionId":"{s["id"]}","version":"2.1.12",'
                f'"gitBranch":"main"{extra},"type":"user","message":{{"role":"user","content":[{{"type":"tool_result",'
                f'"tool_use_id":"toolu_{self.token(20)}","content":"{FILLER[:text_len]}"}}]}},'
                f'"uuid":"{self.uuid()}","timestamp":"{self.iso(ms)}"}}')

    def _call(self, s: dict[str, str], ms: int, sidechain: bool = False, agent: str = "") -> tuple[list[str], int]:
        """One API call as 1-3 lines; counts it in the truth. Returns the lines and the time after it."""
        rng = self.rng
        model = MODELS[rng.randrange(3)]
        msg, req = f"msg_01{self.token(22)}", f"req_011C{self.token(20)}"
        inp = rng.randint(1, 40)
        read = 0 if rng.random() < 0.3 else rng.randint(1_000, 150_000)
        w1 = rng.choice((0, 0, rng.randint(100, 9_000)))
        w5 = rng.choice((0, rng.randint(100, 9_000)))
        out = rng.randint(5, 3_000)
        parts = rng.choice((1, 2, 2, 3))
        stop = rng.choice(("null", '"tool_use"', '"tool_use"', '"end_turn"'))
        side = "true" if sidechain else "false"
        extra = f',"agentId":"{agent}"' if agent else ""
        cache = (f'"cache_creation_input_tokens":{w5 + w1},"cache_read_input_tokens":{read},'
                 f'"cache_creation":{{"ephemeral_5m_input_tokens":{w5},"ephemeral_1h_input_tokens":{w1}}}')
        lines = []
        for i in range(parts):
            ms += rng.randint(200, 20_000)
            last = i == parts - 1
            lines.append(
                f'{{"parentUuid":"{self.uuid()}","isSidechain":{side},"userType":"external","cwd":"{s["cwd"]}",'
                f'"sessionId":"{s["id"]}","version":"2.1.12","gitBranch":"main"{extra},"message":{{"id":"{msg}",'
                f'"type":"message","role":"assistant","model":"{model}","content":[{{"type":"text","text":'
                f'"{FILLER[:rng.randint(0, 600)]}"}}],"stop_reason":{stop if last else "null"},"stop_sequence":null,'
                f'"usage":{{"input_tokens":{inp},{cache},"output_tokens":{out if last else rng.randint(1, 3)},'
                f'"service_tier":"standard"}}}},"requestId":"{req}","type":"assistant","uuid":"{self.uuid()}",'
                f'"timestamp":"{self.iso(ms)}"}}')
        day = time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))
        c = self.truth.setdefault(day, Counter())
        c["input"] += inp
        c["output"] += out
        c["cache_read"] += read
        c["cache_write_5m"] += w5
        c["cache_write_1h"] += w1
        c["calls"] += 1
        self.calls += 1
        self.records += parts
        return lines, ms

    def _save(self, path: Path, lines: list[str], ms: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.utime(path, (ms / 1000, ms / 1000))
        self.files += 1

    # -- files ------------------------------------------------------------------------------

    def _subagent(self, s: dict[str, str], folder: Path, ms: int, parent: list[str]) -> int:
        agent = self.token(8)
        lines: list[str] = []
        for _ in range(self.rng.randint(3, 15)):
            ms += self.rng.randint(500, 5_000)
            lines.append(self._user(s, ms, self.rng.randint(0, 800), True, agent))
            call, ms = self._call(s, ms, True, agent)
            lines.extend(call)
        ms += 500
        lines.append(self._user(s, ms, 50, True, agent))
        self._save(folder / s["id"] / "subagents" / f"agent-{agent}.jsonl", lines, ms)
        for line in lines:   # the parent's progress copies: the same record under data.message
            parent.append(f'{{"type":"progress","sessionId":"{s["id"]}","cwd":"{s["cwd"]}",'
                          f'"parentToolUseID":"toolu_{agent}","uuid":"{self.uuid()}","timestamp":"{self.iso(ms)}",'
                          f'"data":{{"type":"agent_progress","agentId":"{agent}","message":{line}}}}}')
        return ms

    def _session(self, cwd: str, ms: int, lines: list[str] | None = None) -> tuple[dict[str, str], list[str], int]:
        rng = self.rng
        s = {"id": self.uuid(), "cwd": cwd}
        folder = self.root / _folder(cwd)
        lines = list(lines) if lines else [f'{{"type":"summary","summary":"work","leafUuid":"{self.uuid()}"}}']
        malformed = rng.random() < 0.03
        for c in range(rng.randint(10, 200)):
            if c % 5 == 0:
                ms += rng.randint(5_000, 300_000)
                lines.append(self._user(s, ms, rng.randint(20, 200)))
            call, ms = self._call(s, ms)
            lines.extend(call)
            r = rng.random()
            if r < 0.6:
                ms += rng.randint(100, 30_000)
                lines.append(self._user(s, ms, rng.randint(0, 2_000)))
            elif r < 0.604:
                ms = self._subagent(s, folder, ms, lines)
            elif r < 0.614:
                ms += 100
                lines.append(f'{{"type":"assistant","sessionId":"{s["id"]}","cwd":"{cwd}","isApiErrorMessage":true,'
                             f'"timestamp":"{self.iso(ms)}","requestId":"req_err","uuid":"{self.uuid()}",'
                             f'"message":{{"id":"msg_err{self.token(8)}","model":"<synthetic>","role":"assistant",'
                             f'"stop_reason":"stop_sequence","usage":{{"input_tokens":0,"output_tokens":0}}}}}}')
            if malformed and c == 3:
                cut = lines[-1][: len(lines[-1]) // 2]
                oops = f'{{"type":"assistant","sessionId":"{s["id"]}","message":"oops"}}'
                lines.extend((cut, '[1,2,"assistant"]', oops))
            if self.records >= self.target:
                break
        return s, lines, ms

    def write(self) -> None:
        rng = self.rng
        while self.records < self.target:
            cwd = PROJECTS[rng.randrange(len(PROJECTS))]
            ms = (START + rng.randrange(DAYS * 86_400 - 86_400)) * 1000
            s, lines, ms = self._session(cwd, ms)
            self._save(self.root / _folder(cwd) / f"{s['id']}.jsonl", lines, ms)
            if rng.random() < 0.02 and self.records < self.target:
                # Resumed: a new file that starts with the old one's lines, verbatim.
                self.records += sum(1 for line in lines if line.startswith('{"parentUuid"') and '"assistant"' in line)
                r, more, ms = self._session(cwd, ms + rng.randint(1, 30) * 3_600_000, lines)
                self._save(self.root / _folder(cwd) / f"{r['id']}.jsonl", more, ms)


# -- running and measuring --------------------------------------------------------------------

def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB (the child and what it waited for) and stdout of one command."""
    if Path("/usr/bin/time").exists():
        with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
            t = time.perf_counter()
            p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *cmd], env=env,
                               capture_output=True, text=True)
            wall = time.perf_counter() - t
            kib = int(rss.read().split()[-1])
    else:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            t = time.perf_counter()
            child = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
            _, status, usage = os.wait4(child.pid, 0)
            wall = time.perf_counter() - t
            child.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            p = subprocess.CompletedProcess(cmd, child.returncode, out.read().decode(), err.read().decode())
            kib = usage.ru_maxrss
    if p.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return wall, kib / 1024, p.stdout


def native(launcher: str) -> str | None:
    """The platform binary the ccusage Node launcher starts, if it sits where npm puts it."""
    pkg = Path(launcher).resolve().parent.parent.parent / "@ccusage" / "ccusage-linux-x64" / "bin" / "ccusage"
    return str(pkg) if pkg.exists() else None


Days = dict[str, dict[str, float]]


def spendtag_days(out: str) -> Days:
    days: Days = {}
    for row in json.loads(out)["rows"]:
        t = row["tokens"]
        days[row["day"]] = {"input": t["input_tokens"], "output": t["output_tokens"],
                            "cache_read": t["cache_read_tokens"],
                            "cache_write": t["cache_write_5m_tokens"] + t["cache_write_1h_tokens"],
                            "cost": float(row["cost_usd"])}
    return days


def ccusage_days(out: str) -> Days:
    days: Days = {}
    for row in json.loads(out)["daily"]:
        days[row.get("period") or row["date"]] = {
            "input": row["inputTokens"], "output": row["outputTokens"], "cache_read": row["cacheReadTokens"],
            "cache_write": row["cacheCreationTokens"], "cost": row["totalCost"]}
    return days


def cross_check(truth: dict[str, Counter[str]], ours: Days, theirs: Days) -> None:
    names = ("input", "output", "cache_read", "cache_write")
    print("\ntokens per day (input / output / cache read / cache write 5m+1h); truth = the generator's own sums")
    print(f"{'day':<10}  {'calls':>7}  {'truth = spendtag?':<17}  {'truth = ccusage?':<16}  "
          f"{'total tokens (truth)':>20}  {'spendtag $':>12}  {'ccusage $':>10}")
    bad: dict[str, list[str]] = {"spendtag": [], "ccusage": []}
    for day in sorted(set(truth) | set(ours) | set(theirs)):
        counts = truth.get(day, Counter())
        t = {**counts, "cache_write": counts["cache_write_5m"] + counts["cache_write_1h"]}
        same = {}
        for who, got in (("spendtag", ours.get(day, {})), ("ccusage", theirs.get(day, {}))):
            diff = {n: got.get(n, 0) - t.get(n, 0) for n in names if got.get(n, 0) != t.get(n, 0)}
            same[who] = "yes" if not diff else "NO"
            if diff:
                bad[who].append(f"{day} {diff}")
        print(f"{day:<10}  {counts['calls']:>7,}  {same['spendtag']:<17}  {same['ccusage']:<16}  "
              f"{sum(t.get(n, 0) for n in names):>20,}  {ours.get(day, {}).get('cost', 0):>12,.2f}  "
              f"{theirs.get(day, {}).get('cost', 0):>10,.2f}")
    for who, days in bad.items():
        print(f"{who}: token totals {'equal the truth on every day' if not days else 'differ from the truth'}"
              + ("" if not days else ": " + "; ".join(days[:8])))
    cost_s = sum(d["cost"] for d in ours.values())
    cost_c = sum(d["cost"] for d in theirs.values())
    print(f"cost, all days: spendtag ${cost_s:,.6f}, ccusage ${cost_c:,.6f} ({cost_s / cost_c:.6f}x; shown, not "
          "asserted: each tool prices with its own tables)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="assistant lines in the tree")
    parser.add_argument("--ccusage", default=CCUSAGE, help="the ccusage command (the npm launcher)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary tree")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="spendtag-bench-agents-"))
    try:
        bench(work, args.records, args.ccusage)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def bench(work: Path, records: int, ccusage: str) -> None:
    print(f"# bench_agents · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {machine()}")
    home = work / "home"
    home.mkdir()
    projects = work / "claude" / "projects"
    t = time.perf_counter()
    tree = TreeWriter(projects, records)
    tree.write()
    size = sum(f.stat().st_size for f in projects.rglob("*.jsonl"))
    print(f"tree: {tree.records:,} assistant lines ({tree.calls:,} distinct calls), {tree.files:,} files, "
          f"{size / 2**20:,.0f} MiB; generated in {time.perf_counter() - t:.1f} s (not counted)")

    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "TZ": "UTC", "NO_COLOR": "1",
            "LANG": "C.UTF-8"}
    cc_env = {**base, "CLAUDE_CONFIG_DIR": str(work / "claude")}
    st_env = {**base, "SPENDTAG_DB": str(work / "ledger.db"), "SPENDTAG_CONFIG": str(work / "none.toml")}
    spendtag = str(Path(sys.executable).with_name("spendtag"))
    cc_cmd = [ccusage, "daily", "--json", "--offline"]
    imp = [spendtag, "import", "claude-code", str(projects)]
    rep = [spendtag, "report", "--by", "day", "--format", "json"]

    version = subprocess.run([ccusage, "--version"], env=cc_env, capture_output=True, text=True).stdout.strip()
    print(f"ccusage: `{' '.join(cc_cmd)}` (version {version})")
    cc1_s, cc1_mb, cc_out = run(cc_cmd, cc_env)
    print(f"a. ccusage daily, run 1: {cc1_s:.2f} s, peak RSS {cc1_mb:,.0f} MiB")
    i_s, i_mb, i_out = run(imp, st_env)
    r_s, r_mb, r_out = run(rep, st_env)
    print(f"b. spendtag import: {i_s:.2f} s, {i_mb:,.0f} MiB; then report --by day: {r_s:.2f} s, {r_mb:,.0f} MiB")
    print(f"   import said: {i_out.strip().splitlines()[0] if i_out.strip() else '(nothing)'}")
    warm = [run(rep, st_env) for _ in range(3)]
    rw_s = statistics.median(w[0] for w in warm)
    print(f"c. spendtag report --by day, warm: {rw_s * 1000:.0f} ms (median of 3: "
          f"{', '.join(f'{w[0] * 1000:.0f}' for w in warm)} ms), {max(w[1] for w in warm):,.0f} MiB")
    again = [run(imp, st_env) for _ in range(3)]
    i2_s = statistics.median(a[0] for a in again)
    print(f"d. second import, unchanged tree: {i2_s:.3f} s (median of 3: "
          f"{', '.join(f'{a[0]:.3f}' for a in again)} s), {max(a[1] for a in again):,.0f} MiB")
    print(f"   import said: {again[0][2].strip().splitlines()[0] if again[0][2].strip() else '(nothing)'}")
    cc2_s, cc2_mb, _ = run(cc_cmd, cc_env)
    print(f"a'. ccusage daily, run 2: {cc2_s:.2f} s, peak RSS {cc2_mb:,.0f} MiB")
    binary = native(ccusage)
    if binary:
        n_s, n_mb, _ = run([binary, *cc_cmd[1:]], cc_env)
        print(f"    ccusage native binary alone (no Node launcher): {n_s:.2f} s, peak RSS {n_mb:,.0f} MiB")
    cc_s, cc_mb = min(cc1_s, cc2_s), min(cc1_mb, cc2_mb)

    first_s, first_mb = i_s + r_s, max(i_mb, r_mb)
    rows = [
        ("first import + report, wall", f"{first_s:.2f} s vs {cc_s:.2f} s", first_s / cc_s, TARGETS["first"]),
        ("first import + report, peak RSS", f"{first_mb:,.0f} MiB vs {cc_mb:,.0f} MiB", first_mb / cc_mb,
         TARGETS["memory"]),
        ("report after import, wall", f"{rw_s:.3f} s vs {cc_s:.2f} s", rw_s / cc_s, TARGETS["report"]),
    ]
    print("\n| measure | spendtag vs ccusage | ratio | target | met |")
    print("|---|---|---|---|---|")
    for name, figures, ratio, target in rows:
        print(f"| {name} | {figures} | {ratio:.3f}x | ≤ {target}x | {'yes' if ratio <= target else 'NO'} |")
    print(f"| second import, unchanged | {i2_s:.3f} s | | ≤ {TARGETS['second_s']} s | "
          f"{'yes' if i2_s <= TARGETS['second_s'] else 'NO'} |")
    cross_check(tree.truth, spendtag_days(r_out), ccusage_days(cc_out))


if __name__ == "__main__":
    main()
