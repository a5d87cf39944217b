"""Amp threads (``threads/T-*.json``) holding ``calls`` assistant messages with usage, 50 a thread."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

MODELS = ("claude-sonnet-4-20250514", "claude-opus-4-5", "gpt-5")


def generate(root: Path, calls: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    threads = root / "threads"
    threads.mkdir(parents=True, exist_ok=True)
    written = n = 0
    while written < calls:
        n += 1
        tid = f"T-{n:08x}-0000-4000-8000-000000000000"
        ms = 1788220800000 + rng.randrange(30 * 86_400_000)
        messages = []
        for k in range(min(50, calls - written)):
            ms += rng.randint(2_000, 60_000)
            messages.append({"role": "user", "messageId": 2 * k, "content": [{"type": "text", "text": "go on"}]})
            messages.append({"role": "assistant", "messageId": 2 * k + 1,
                             "content": [{"type": "text", "text": "Done. " * rng.randint(5, 60)}],
                             "state": {"type": "complete", "stopReason": "end_turn"},
                             "usage": {"model": MODELS[rng.randrange(3)], "inputTokens": rng.randint(1, 3000),
                                       "outputTokens": rng.randint(1, 2000),
                                       "cacheCreationInputTokens": rng.choice((0, 0, 1500)),
                                       "cacheReadInputTokens": rng.randint(0, 90_000),
                                       "timestamp": _iso(ms),
                                       "credits": round(rng.random() / 20, 6)}})
            written += 1
        doc = {"v": 40, "id": tid, "created": ms, "title": "thread",
               "env": {"initial": {"trees": [{"displayName": "repo",
                                              "uri": f"file:///home/u/clients/client{n % 8}/repo"}]}},
               "messages": messages}
        (threads / f"{tid}.json").write_text(json.dumps(doc))
    return root


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"
