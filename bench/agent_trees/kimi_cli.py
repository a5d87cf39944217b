"""Kimi CLI: ``sessions/<work dir md5>/<session>/wire.jsonl`` wires, ``kimi.json`` and ``config.toml``.

Sessions of 5-150 steps over 30 days of 2026-09 in 8 work dirs. Each step is a
``StepBegin``, a content part, a tool call and result, and the ``StatusUpdate`` with its
``token_usage`` and ``message_id``; one session in 20 runs a sub-agent whose steps are in the
parent's wire as ``SubagentEvent`` and in its own ``subagents/<id>/wire.jsonl`` too.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from pathlib import Path
from typing import Any

PROJECTS = tuple(f"/home/dev/clients/{c}/{r}" for c, r in (
    ("acme", "api"), ("acme", "web"), ("globex", "etl"), ("globex", "infra"), ("initech", "tps-reports"),
    ("umbrella", "lab"), ("hooli", "nucleus"), ("internal", "dotfiles")))
START = 1788220800.0        # 2026-09-01T00:00:00Z
CONFIG = '''default_model = "kimi-k2-turbo"

[models.kimi-k2-turbo]
provider = "moonshot"
model = "kimi-k2-turbo-preview"
max_context_size = 262144

[providers.moonshot]
type = "kimi"
base_url = "https://api.moonshot.ai/v1"
api_key = ""
'''


def _line(ts: float, kind: str, payload: dict[str, Any]) -> str:
    return json.dumps({"timestamp": round(ts, 6), "message": {"type": kind, "payload": payload}})


def generate(root: Path, calls: int, seed: int = 0) -> Path:
    """``root`` is the ``sessions`` folder (``~/.kimi/sessions``); kimi.json and config.toml go beside it."""
    rnd = random.Random(seed)
    share = root.parent
    share.mkdir(parents=True, exist_ok=True)
    (share / "config.toml").write_text(CONFIG)
    (share / "kimi.json").write_text(json.dumps({"work_dirs": [{"path": p, "kaos": "local"} for p in PROJECTS]}))
    written = 0
    while written < calls:
        cwd = rnd.choice(PROJECTS)
        session = str(uuid.UUID(int=rnd.getrandbits(128)))
        folder = root / hashlib.md5(cwd.encode()).hexdigest() / session
        folder.mkdir(parents=True, exist_ok=True)
        n = min(rnd.randint(5, 150), calls - written)
        ts = START + rnd.randrange(30 * 86_400)
        lines = [json.dumps({"type": "metadata", "protocol_version": "1.3"}),
                 _line(ts, "TurnBegin", {"user_input": "why is the export slow?"})]
        sub_lines: list[str] = []
        cache = 0
        for i in range(n):
            ts += rnd.uniform(2, 60)
            reads = cache
            other = rnd.randint(300, 3000)
            cache += other
            usage = {"input_other": other, "output": rnd.randint(50, 1500), "input_cache_read": reads,
                     "input_cache_creation": 0}
            status = {"context_usage": 0.1, "token_usage": usage, "message_id": f"chatcmpl-{rnd.getrandbits(64):016x}"}
            lines.append(_line(ts, "StepBegin", {"n": i + 1}))
            lines.append(_line(ts + 1, "ContentPart", {"type": "text", "text": "Looking at the loop. " * 10}))
            if i == n // 2 and rnd.random() < 0.05:
                event = {"type": "StatusUpdate", "payload": status}
                lines.append(_line(ts + 2, "SubagentEvent", {"parent_tool_call_id": f"Task:{i}", "agent_id": "a1b2c3",
                                                             "subagent_type": "coder", "event": event}))
                sub_lines.append(_line(ts + 2, "StatusUpdate", status))
            else:
                lines.append(_line(ts + 2, "StatusUpdate", status))
            call = {"name": "Shell", "arguments": json.dumps({"command": "ls"})}
            lines.append(_line(ts + 3, "ToolCall", {"type": "function", "id": f"Shell:{i}", "function": call}))
            lines.append(_line(ts + 4, "ToolResult", {"tool_call_id": f"Shell:{i}",
                                                      "return_value": {"is_error": False, "output": "a\nb\n" * 20}}))
        lines.append(_line(ts + 5, "TurnEnd", {}))
        (folder / "wire.jsonl").write_text("\n".join(lines) + "\n")
        if sub_lines:
            sub = folder / "subagents" / "a1b2c3"
            sub.mkdir(parents=True)
            (sub / "meta.json").write_text(json.dumps({"agent_id": "a1b2c3", "subagent_type": "coder"}))
            (sub / "wire.jsonl").write_text("\n".join([json.dumps({"type": "metadata", "protocol_version": "1.3"}),
                                                       *sub_lines]) + "\n")
        written += n
    return root
