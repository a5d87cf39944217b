"""Durability: a burst with random client disconnects, the proxy SIGKILLed midway and restarted.

Afterwards every call the upstream answered (the mock's own count) is in the ledger, none
twice. ``SPENDTAG_DURABILITY_CALLS`` sets the burst size (default 2000; the issue's 10k runs
with ``SPENDTAG_DURABILITY_CALLS=10000``).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from test_proxy_helpers import free_port, get_json, wait_until_up

from spendtag.ledger import open_store
from spendtag.ledger.query import Filters

MOCK = Path(__file__).resolve().parent / "mock_upstream.py"
CALLS = int(os.environ.get("SPENDTAG_DURABILITY_CALLS", "2000"))
CONCURRENCY = 32


@pytest.mark.slow
def test_burst_with_disconnects_and_a_sigkill(tmp_path: Path) -> None:
    mock_port, proxy_port = free_port(), free_port()
    db = tmp_path / "ledger.db"
    env = {**os.environ, "SPENDTAG_CONFIG": str(tmp_path / "none.toml")}
    mock = subprocess.Popen([sys.executable, str(MOCK), "--port", str(mock_port), "--chunk-delay-ms", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cmd = [sys.executable, "-m", "spendtag.server.proxy", "--db", str(db), "proxy", "--port", str(proxy_port),
           "--openai-base-url", f"http://127.0.0.1:{mock_port}/v1",
           "--anthropic-base-url", f"http://127.0.0.1:{mock_port}", "--no-access-log"]
    log = open(tmp_path / "proxy.log", "ab")  # noqa: SIM115
    procs = [subprocess.Popen(cmd, env=env, stdout=log, stderr=log)]
    try:
        wait_until_up(f"http://127.0.0.1:{mock_port}/health", mock)
        wait_until_up(f"http://127.0.0.1:{proxy_port}/healthz", procs[0])
        outcome = asyncio.run(_burst(proxy_port, procs, cmd, env, log))
        procs[-1].send_signal(signal.SIGTERM)
        assert procs[-1].wait(30) in (0, -signal.SIGTERM)   # uvicorn re-raises SIGTERM after a clean stop
        stats = get_json(f"http://127.0.0.1:{mock_port}/_stats")
    finally:
        for p in [*procs, mock]:
            if p.poll() is None:
                p.kill()
                p.wait()
        log.close()

    answered = int(stats["answered_total"])  # type: ignore[arg-type]
    started = sum(stats["started"].values())  # type: ignore[union-attr]
    store = open_store(str(db))
    events = list(store.events(Filters()))
    ok = [p.event for p in events if p.event.status == "ok"]
    ids = [e.response_id for e in ok]
    assert outcome["killed"] and outcome["disconnected"] > 0
    assert answered > CALLS // 2
    # every answered call is in the ledger; none twice; no row without a call the proxy began
    assert len(events) >= answered
    assert len(events) <= started + CONCURRENCY
    assert len(ok) <= answered and len(set(ids)) == len(ids) and None not in ids
    for e in ok:
        expected = (25, 12) if e.provider == "openai" else (25, 12)
        assert (e.usage.input_tokens, e.usage.output_tokens) == expected and not e.usage.estimated
    for p in events:
        if p.event.status == "aborted":
            assert p.event.usage.estimated
    assert len(ok) >= outcome["completed"]
    # replaying again (another start and stop) adds nothing
    before = store.count()
    again = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(f"http://127.0.0.1:{proxy_port}/healthz", again)
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(30)
    assert store.count() == before
    store.close()


async def _burst(port: int, procs: list[subprocess.Popen[bytes]], cmd: list[str], env: dict[str, str],
                 log: object) -> dict[str, int]:
    rng = random.Random(5)
    base = f"http://127.0.0.1:{port}"
    counts = {"completed": 0, "disconnected": 0, "failed": 0, "killed": 0}
    queue = list(range(CALLS))
    restarting = asyncio.Event()
    restarting.set()

    async def one(s: aiohttp.ClientSession, i: int) -> None:
        api = rng.choice(("openai", "anthropic"))
        stream = rng.random() < 0.5
        cut = stream and rng.random() < 0.2
        if api == "openai":
            url = base + "/openai/v1/chat/completions"
            body: dict[str, object] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        else:
            url = base + "/anthropic/v1/messages"
            body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
        if stream:
            body["stream"] = True
        try:
            async with s.post(url, json=body, headers={"X-Spendtag-Tags": f"client=c{i % 7}"}) as r:
                if cut:
                    await r.content.readany()
                    r.close()
                    counts["disconnected"] += 1
                    return
                await r.read()
                if r.status == 200:
                    counts["completed"] += 1
        except (TimeoutError, aiohttp.ClientError):
            counts["failed"] += 1

    async def worker(s: aiohttp.ClientSession) -> None:
        while queue:
            i = queue.pop()
            if i == CALLS // 2 and not counts["killed"]:
                counts["killed"] = 1
                procs[-1].send_signal(signal.SIGKILL)
                procs[-1].wait()
                restarting.clear()
                procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=log))  # type: ignore[arg-type]
                await asyncio.to_thread(wait_until_up, f"{base}/healthz", procs[-1])
                restarting.set()
            await restarting.wait()
            await one(s, i)

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as s:
        await asyncio.gather(*[worker(s) for _ in range(CONCURRENCY)])
    return counts
