"""Issue 5, the two proxy figures the shared harness does not give: CPU per stream chunk, and memory over 100k calls.

    python bench/bench_proxy_stream.py [--calls 100000] [--seconds 10]

Both with everything on (tags header, pricing, a blocking budget covering every call, the
journal, the batched SQLite ledger; access log off), the proxy pinned to CPU 1 and the mock
upstream (``../shared/peers/proxy-bench/mock_upstream.py``) and wrk on CPU 0, as the harness does.

* Per chunk: OpenAI chat streams with 8 and with 128 content chunks per response, 32
  connections; the proxy's CPU per call (from /proc) at each, and the difference divided by
  the 120 extra chunks. Target: ≤ 0.02 ms per chunk.
* Memory: about ``--calls`` non-streamed calls at 32 connections, in ten time slices; the
  proxy's resident set size (all its threads) after each. Target: flat.
* Time to first byte of a stream at concurrency 1: 500 streams one after another straight to
  the mock and 500 through the proxy, interleaved; the median difference. Target: ≤ 1 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import cpu_seconds, free_port, machine, wait  # noqa: E402

PEERS = HERE.parents[1] / "shared" / "peers" / "proxy-bench"
CHAT = {"model": "gpt-4o", "max_tokens": 200, "messages": [{"role": "user", "content": "hi"}]}
STREAM = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Rig:
    def __init__(self, work: Path, chunks: int) -> None:
        self.work = work
        self.mock_port, self.port = free_port(), free_port()
        env = {**os.environ, "SPENDTAG_CONFIG": str(work / "config.toml"), "SPENDTAG_DB": str(work / f"l{chunks}.db")}
        (work / "config.toml").write_text('[proxy]\nmetric_tags = ["client", "env"]\n')
        subprocess.run([sys.executable, "-m", "spendtag.cli.main", "budget", "set", "bench", "--scope", "client=acme",
                        "--monthly", "1000000", "--stop-at", "100", "--enforce", "block"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        self.mock = subprocess.Popen(["taskset", "-c", "0", sys.executable, str(PEERS / "mock_upstream.py"), "--port",
                                      str(self.mock_port), "--chunks", str(chunks)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.db = Path(env["SPENDTAG_DB"])
        self.proxy = subprocess.Popen(["taskset", "-c", "1", sys.executable, "-m", "spendtag.server.proxy", "--db",
                                       env["SPENDTAG_DB"], "proxy", "--port", str(self.port), "--openai-base-url",
                                       f"http://127.0.0.1:{self.mock_port}/v1", "--no-access-log"],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait(f"http://127.0.0.1:{self.mock_port}/health")
        wait(f"http://127.0.0.1:{self.port}/healthz")

    def wrk(self, body: dict[str, object], seconds: float) -> dict[str, float]:
        path = self.work / "body.json"
        path.write_text(json.dumps(body))
        env = {**os.environ, "BENCH_BODY_FILE": str(path), "BENCH_HEADERS": "X-Spendtag-Tags: client=acme,env=bench"}
        url = f"http://127.0.0.1:{self.port}/openai/v1/chat/completions"
        out = subprocess.run(["taskset", "-c", "0", "wrk", "-t1", "-c32", f"-d{max(1, round(seconds))}s", "--timeout",
                              "30s", "-s", str(PEERS / "bench_wrk.lua"), url],
                             env=env, capture_output=True, text=True, check=True).stdout
        result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
        return result

    def cpu_per_call(self, body: dict[str, object], seconds: int) -> float:
        self.wrk(body, 2)   # warm-up
        before = cpu_seconds(self.proxy.pid)
        r = self.wrk(body, seconds)
        return (cpu_seconds(self.proxy.pid) - before) * 1000 / r["requests"]

    def close(self) -> None:
        for p in (self.proxy, self.mock):
            p.terminate()
            p.wait(30)


async def first_byte_ms(url: str, headers: dict[str, str], n: int) -> list[float]:
    import aiohttp

    out = []
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            t = time.perf_counter()
            async with session.post(url, json=STREAM, headers=headers) as resp:
                await resp.content.readany()
                out.append((time.perf_counter() - t) * 1000)
                await resp.read()
    return out


def ttfb(rig: Rig, n: int) -> tuple[float, float]:
    import asyncio
    import statistics

    direct: list[float] = []
    proxied: list[float] = []
    for _ in range(5):   # interleaved, so drift hits both alike
        direct += asyncio.run(first_byte_ms(f"http://127.0.0.1:{rig.mock_port}/v1/chat/completions", {}, n // 5))
        proxied += asyncio.run(first_byte_ms(f"http://127.0.0.1:{rig.port}/openai/v1/chat/completions",
                                             {"X-Spendtag-Tags": "client=acme,env=bench"}, n // 5))
    return statistics.median(direct), statistics.median(proxied)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    print(f"# bench_proxy_stream · {time.strftime('%Y-%m-%d %H:%M')} · {machine()}")
    work = Path(tempfile.mkdtemp(prefix="spendtag-bench-stream-"))
    per_call = {}
    for chunks in (8, 128):
        rig = Rig(work, chunks)
        try:
            per_call[chunks] = rig.cpu_per_call(STREAM, args.seconds)
        finally:
            rig.close()
        print(f"stream with {chunks} chunks: {per_call[chunks]:.3f} ms CPU per call", flush=True)
    per_chunk = (per_call[128] - per_call[8]) / 120
    print(f"per extra chunk: {per_chunk * 1000:.1f} µs ({per_chunk:.4f} ms; target ≤ 0.02 ms)", flush=True)

    rig = Rig(work, 8)
    try:
        direct, proxied = ttfb(rig, 500)
        print(f"time to first byte of a stream, c=1, median of 500: direct {direct:.2f} ms, through the proxy "
              f"{proxied:.2f} ms: +{proxied - direct:.2f} ms (target ≤ 1 ms)", flush=True)
        # Ten time slices sized from a first measured rate, so that they add up to about --calls.
        rate = rig.wrk(CHAT, 2)["rps"]
        samples, done = [(0, rss_mb(rig.proxy.pid))], 0
        for _ in range(10):
            done += int(rig.wrk(CHAT, args.calls / 10 / rate)["requests"])
            samples.append((done, rss_mb(rig.proxy.pid)))
        print("RSS (calls: MB): " + ", ".join(f"{n:,}: {m:.0f}" for n, m in samples))
        size = rig.db.stat().st_size / 2**20
        print(f"growth from the first tenth to the end ({samples[1][0]:,} -> {done:,} calls): "
              f"{samples[-1][1] - samples[1][1]:+.1f} MB; the ledger file grew to {size:.0f} MB", flush=True)
    finally:
        rig.close()


if __name__ == "__main__":
    main()
