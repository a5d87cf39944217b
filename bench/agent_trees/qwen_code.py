"""Qwen Code: ``projects/<project>/chats/<session>.jsonl`` recordings, with sub-agents' files.

Sessions of 5-150 model responses over 30 days of 2026-09 in 8 projects. Each response is
a user or tool-result record, an ``assistant`` record with ``usageMetadata`` (OpenAI-style
counts: reasoning inside the candidates) and a ``ui_telemetry`` system record, as Qwen Code
writes them; one session in 20 has a sub-agent file under ``chats/<session>/``.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PROJECTS = tuple(f"/home/dev/clients/{c}/{r}" for c, r in (
    ("acme", "api"), ("acme", "web"), ("globex", "etl"), ("globex", "infra"), ("initech", "tps-reports"),
    ("umbrella", "lab"), ("hooli", "nucleus"), ("internal", "dotfiles")))
MODELS = ("qwen/qwen3-coder", "gemini-2.5-pro", "kimi-k2-0905-preview")
START = datetime(2026, 9, 1, tzinfo=UTC)


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _records(rnd: random.Random, session: str, cwd: str, ts: datetime, n: int, agent: dict[str, Any]) -> list[str]:
    out = []
    parent = None
    model = rnd.choice(MODELS)
    cache = 0
    for i in range(n):
        ts += timedelta(seconds=rnd.randint(2, 60))
        base = {"sessionId": session, "cwd": cwd, "version": "0.6.1", "gitBranch": "main", **agent}
        uid = str(uuid.UUID(int=rnd.getrandbits(128)))
        out.append(json.dumps({"uuid": uid, "parentUuid": parent, **base, "timestamp": _iso(ts),
                               "type": "user" if i == 0 else "tool_result",
                               "message": {"role": "user", "parts": [{"text": "x = 1\n" * 30}]}}))
        parent = uid
        ts += timedelta(seconds=rnd.randint(2, 30))
        prompt = cache + rnd.randint(500, 4000)
        cached, cache = cache, prompt
        out_tokens = rnd.randint(50, 1500)
        uid = str(uuid.UUID(int=rnd.getrandbits(128)))
        usage = {"promptTokenCount": prompt, "candidatesTokenCount": out_tokens,
                 "thoughtsTokenCount": rnd.randint(0, out_tokens // 4), "cachedContentTokenCount": cached,
                 "totalTokenCount": prompt + out_tokens}
        out.append(json.dumps({"uuid": uid, "parentUuid": parent, **base, "timestamp": _iso(ts), "type": "assistant",
                               "model": model, "message": {"role": "model", "parts": [{"text": "Reading. " * 40}]},
                               "usageMetadata": usage, "contextWindowSize": 1_000_000}))
        parent = uid
        out.append(json.dumps({"uuid": str(uuid.UUID(int=rnd.getrandbits(128))), "parentUuid": parent, **base,
                               "timestamp": _iso(ts), "type": "system", "subtype": "ui_telemetry",
                               "systemPayload": {"uiEvent": {"event.name": "qwen-code.api_response", "model": model,
                                                             "input_token_count": prompt,
                                                             "output_token_count": out_tokens}}}))
    return out


def generate(root: Path, calls: int, seed: int = 0) -> Path:
    """``root`` is the ``projects`` folder (``~/.qwen/projects``)."""
    rnd = random.Random(seed)
    written = 0
    while written < calls:
        cwd = rnd.choice(PROJECTS)
        chats = root / cwd.replace("/", "-") / "chats"
        chats.mkdir(parents=True, exist_ok=True)
        session = str(uuid.UUID(int=rnd.getrandbits(128)))
        n = min(rnd.randint(5, 150), calls - written)
        ts = START + timedelta(seconds=rnd.randrange(30 * 86_400))
        sub = n > 10 and rnd.random() < 0.05
        main = n - 5 if sub else n
        path = chats / f"{session}.jsonl"
        path.write_text("\n".join(_records(rnd, session, cwd, ts, main, {})) + "\n")
        os.utime(path, (ts.timestamp() + 3600, ts.timestamp() + 3600))
        if sub:
            agent = {"isSidechain": True, "agentId": "explore-7f3c", "agentName": "Explore"}
            (chats / session).mkdir(exist_ok=True)
            (chats / session / "agent-explore-7f3c.jsonl").write_text(
                "\n".join(_records(rnd, session, cwd, ts, 5, agent)) + "\n")
        written += n
    return root
