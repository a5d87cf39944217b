"""Shared by the benchmarks: the machine description and a synthetic event stream."""

from __future__ import annotations

import os
import platform
import random
import socket
import statistics
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from spendtag.usage import Usage, UsageEvent

MODELS = (
    ("anthropic", "claude-sonnet-4-5"), ("anthropic", "claude-haiku-4-5"), ("anthropic", "claude-opus-4-1"),
    ("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("openai", "gpt-4.1"), ("openai", "gpt-5-mini"),
    ("google", "gemini-2.5-pro"), ("google", "gemini-2.5-flash"), ("deepseek", "deepseek-chat"),
)
CLIENTS = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "tyrell", "cyberdyne",
           "soylent", "massive")
AGENTS = ("planner", "coder", "reviewer", "support-bot", "summariser", "triage", "writer", "researcher")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def synthetic(n: int, *, start: datetime | None = None, days: int = 30, seed: int = 1) -> Iterator[UsageEvent]:
    """``n`` events spread evenly over ``days`` days from ``start``, shaped like an agency's ledger.

    Calls come in sessions of 10-90 calls. A session belongs to one client (one in ten
    sessions is internal and untagged), one of its three projects and one agent, and uses
    one or two models, as coding agents and apps do. 12 clients, 8 agents, 10 models.
    """
    rng = random.Random(seed)
    start = start or datetime(2026, 3, 1, tzinfo=UTC)
    step = timedelta(days=days) / n
    i = 0
    session_no = 0
    while i < n:
        session_no += 1
        client = CLIENTS[rng.randrange(len(CLIENTS))]
        tags = {} if rng.random() < 0.1 else {"client": client, "env": "prod" if rng.random() < 0.7 else "dev"}
        project = f"/home/dev/clients/{client}/p{rng.randrange(3)}"
        agent = AGENTS[rng.randrange(len(AGENTS))]
        models = [MODELS[rng.randrange(len(MODELS))] for _ in range(rng.randint(1, 2))]
        for _ in range(min(rng.randint(10, 90), n - i)):
            provider, model = models[rng.randrange(len(models))]
            cached = rng.randrange(0, 40_000) if provider == "anthropic" else rng.randrange(0, 4) * 1024
            yield UsageEvent(
                event_id=f"bench-{seed}-{i:09d}",
                ts=start + step * i,
                provider=provider,
                model=model,
                usage=Usage(input_tokens=rng.randrange(50, 5_000), cache_read_tokens=cached,
                            cache_write_5m_tokens=rng.randrange(0, 2_000) if provider == "anthropic" else 0,
                            output_tokens=rng.randrange(1, 2_000)),
                tags=tags,
                project=project,
                session=f"s{seed}-{session_no}",
                agent=agent,
                source="bench",
            )
            i += 1


def median_ms(fn: Callable[[], object], runs: int = 5, *, warm_up: bool = False) -> float:
    """Median wall time of ``runs`` calls, in milliseconds (after one uncounted call with ``warm_up``)."""
    if warm_up:
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


# -- servers started by a benchmark ---------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(url: str, seconds: float = 30) -> None:
    """Until ``url`` answers (a server the benchmark started), at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not answer")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
