"""Factory Droid sessions: ``calls`` settings files (Droid keeps totals per session: one event each)."""

from __future__ import annotations

import json
import random
from pathlib import Path

MODELS = (("anthropic", "claude-sonnet-4-20250514"), ("openai", "gpt-5"), (None, "custom:Claude Haiku 4.5 [Proxy]"))


def generate(root: Path, calls: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    sessions = root if root.name == "sessions" else root / "sessions"   # the default place, or its parent
    for n in range(calls):
        folder = sessions / f"-home-u-clients-client{n % 8}-repo"
        folder.mkdir(parents=True, exist_ok=True)
        sid = f"{n:08x}-0000-4000-8000-000000000000"
        provider, model = MODELS[rng.randrange(3)]
        settings = {"model": model, "reasoningEffort": "medium", "autonomyMode": "auto-low",
                    "providerLockTimestamp": f"2026-09-{1 + rng.randrange(30):02d}T10:00:00.000Z",
                    "tokenUsage": {"inputTokens": rng.randint(1_000, 200_000), "outputTokens": rng.randint(100, 20_000),
                                   "cacheCreationTokens": rng.randint(0, 20_000),
                                   "cacheReadTokens": rng.randint(0, 900_000), "thinkingTokens": rng.randint(0, 2_000)}}
        if provider:
            settings["providerLock"] = provider
        (folder / f"{sid}.settings.json").write_text(json.dumps(settings, indent=2))
    return sessions
