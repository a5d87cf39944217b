"""Copilot CLI session logs (``session-state/<id>/events.jsonl``) with ``calls`` assistant.usage events."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

MODELS = ("claude-sonnet-4.5", "gpt-5", "claude-haiku-4.5")


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def generate(root: Path, calls: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    state = root if root.name == "session-state" else root / "session-state"   # the default place, or its parent
    written = n = 0
    while written < calls:
        n += 1
        sid = f"{n:08x}-0000-4000-8000-000000000000"
        folder = state / sid
        folder.mkdir(parents=True, exist_ok=True)
        ms = 1788220800000 + rng.randrange(30 * 86_400_000)
        lines = [json.dumps({"type": "session.start", "data": {"sessionId": sid, "copilotVersion": "0.0.370",
                             "context": {"cwd": f"/home/u/clients/client{n % 8}/repo"}},
                             "id": f"{sid}-s", "timestamp": _iso(ms)})]
        for k in range(min(rng.randint(20, 200), calls - written)):
            ms += rng.randint(2_000, 60_000)
            lines.append(json.dumps({"type": "user.message", "data": {"content": "continue " * 20},
                                     "id": f"{sid}-u{k}", "timestamp": _iso(ms)}))
            lines.append(json.dumps({"type": "tool.execution_complete", "data": {"toolCallId": f"t{k}",
                                     "result": {"content": "ok " * rng.randint(10, 200)}},
                                     "id": f"{sid}-t{k}", "timestamp": _iso(ms + 500)}))
            lines.append(json.dumps({"type": "assistant.usage", "data": {
                "model": MODELS[rng.randrange(3)], "inputTokens": rng.randint(1, 4000),
                "outputTokens": rng.randint(1, 2000), "cacheReadTokens": rng.randint(0, 90_000),
                "cacheWriteTokens": rng.choice((0, 0, 2048)), "cost": 1, "duration": 3000, "initiator": "agent"},
                "id": f"{sid}-a{k}", "timestamp": _iso(ms + 1000)}))
            written += 1
        (folder / "events.jsonl").write_text("\n".join(lines) + "\n")
    return state
