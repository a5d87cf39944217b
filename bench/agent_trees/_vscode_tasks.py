"""Task folders as Cline, Roo Code and Kilo Code write them, for their generators.

Tasks of 5-150 requests over 30 days of 2026-09 in 8 projects. Each request is an
``api_req_started`` message (its usage filled in, as saved once the response completed)
followed by the assistant's text and a tool ask; the newest request of one task in 20 is
still streaming (no usage yet). ``api_conversation_history.json`` holds the user turns with
their environment details (the model, and the working directory on the first) and the
assistant's replies. Cline gets ``task_metadata.json`` (the model in use) and
``state/taskHistory.json`` (the working directory); Roo Code and Kilo Code a
``history_item.json`` per task, one task in 20 being a sub-task of the one before.
"""

from __future__ import annotations

import json
import os
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECTS = tuple(f"/home/dev/clients/{c}/{r}" for c, r in (
    ("acme", "api"), ("acme", "web"), ("globex", "etl"), ("globex", "infra"), ("initech", "tps-reports"),
    ("umbrella", "lab"), ("hooli", "nucleus"), ("internal", "dotfiles")))
# (provider id as Cline records it, model id) with prices in the bundled data.
MODELS = (("anthropic", "claude-sonnet-4-20250514"), ("openrouter", "anthropic/claude-sonnet-4.5"),
          ("gemini", "gemini-2.5-pro"), ("openai", "gpt-4.1"))
START_MS = int(datetime(2026, 9, 1, tzinfo=UTC).timestamp() * 1000)
_PROSE = ("I'll read the handler first, then change the retry policy so that a timeout is retried "
          "with backoff and every attempt is logged. ") * 3


def _env(cwd: str, model: str, first: bool, roo: bool) -> str:
    mode = f"# Current Mode\n<slug>code</slug>\n<name>Code</name>\n<model>{model}</model>\n" if roo else \
        "# Current Mode\nACT MODE\n"
    files = f"\n# Current {'Workspace' if roo else 'Working'} Directory ({cwd}) Files\nsrc/\nREADME.md\n" \
        if first else ""
    return (f"<environment_details>\n# VSCode Visible Files\nsrc/main.py\n\n# VSCode Open Tabs\nsrc/main.py\n\n"
            f"# Current Time\n2026-09-01T10:00:00Z\n\n{mode}{files}</environment_details>")


def generate(root: Path, calls: int, seed: int, *, agent: str) -> Path:
    rnd = random.Random(seed)
    roo = agent != "cline"
    history: list[dict[str, Any]] = []
    written = 0
    task_no = 0
    parent: str | None = None
    while written < calls:
        task_no += 1
        n = min(rnd.randint(5, 150), calls - written)
        ts = START_MS + rnd.randrange(30 * 86_400_000)
        if roo:
            task = f"0199{task_no:08x}-{rnd.getrandbits(16):04x}-7000-9000-{rnd.getrandbits(48):012x}"
        else:
            task = f"{ts + task_no}"            # Cline names a task by its start (ms): kept distinct here
        folder = root / "tasks" / task
        folder.mkdir(parents=True, exist_ok=True)
        cwd = rnd.choice(PROJECTS)
        provider, model = rnd.choice(MODELS)
        ui: list[dict[str, Any]] = [{"ts": ts, "type": "say", "say": "task", "text": "make the nightly export faster"}]
        api: list[dict[str, Any]] = []
        usage = [{"ts": ts + 100, "model_id": model, "model_provider_id": provider, "mode": "act"}]
        cache = 0
        streaming = rnd.random() < 0.05
        for i in range(n):
            ts += rnd.randint(2_000, 60_000)
            reads, writes = cache, rnd.randint(200, 3000)
            cache += writes
            out = rnd.randint(50, 1500)
            info: dict[str, Any] = {"request": "[read_file for 'src/main.py'] Result:" if i else "<task>...</task>"}
            if not (streaming and i == n - 1):
                tokens_in = rnd.randint(1, 40)
                if roo:
                    info["apiProtocol"] = "anthropic"
                    tokens_in += reads + writes       # Roo 3.30+: the whole prompt
                info.update(tokensIn=tokens_in, tokensOut=out, cacheWrites=writes, cacheReads=reads,
                            cost=round((tokens_in * 3 + writes * 3.75 + reads * 0.3 + out * 15) / 1e6, 6))
            ui.append({"ts": ts, "type": "say", "say": "api_req_started", "text": json.dumps(info),
                       "conversationHistoryIndex": 2 * i - 1})
            ui.append({"ts": ts + 900, "type": "say", "say": "text", "text": _PROSE, "partial": False,
                       "conversationHistoryIndex": 2 * i})
            ui.append({"ts": ts + 950, "type": "ask", "ask": "tool",
                       "text": json.dumps({"tool": "readFile", "path": "src/main.py", "content": "/src/main.py"})})
            user: dict[str, Any] = {"role": "user", "content": [
                {"type": "text", "text": "[read_file for 'src/main.py'] Result:\n" + "x = 1\n" * 20},
                {"type": "text", "text": _env(cwd, model, i == 0, roo)}]}
            if roo:
                user["ts"] = ts - 100
            api.append(user)
            api.append({"role": "assistant", "content": [{"type": "text", "text": _PROSE}]})
        written += n
        _dump(folder / "ui_messages.json", ui)
        _dump(folder / "api_conversation_history.json", api)
        if roo:
            item: dict[str, Any] = {"id": task, "number": task_no, "ts": ts, "task": "make the export faster",
                                    "tokensIn": 0, "tokensOut": 0, "totalCost": 0, "workspace": cwd, "mode": "code"}
            if parent is not None and rnd.random() < 0.05:
                item.update(parentTaskId=parent, rootTaskId=parent, mode="architect")
            _dump(folder / "history_item.json", item)
            parent = task
        else:
            _dump(folder / "task_metadata.json", {"files_in_context": [], "model_usage": usage,
                                                   "environment_history": []})
            history.append({"id": task, "ts": ts, "task": "make the export faster", "tokensIn": 0, "tokensOut": 0,
                            "totalCost": 0, "cwdOnTaskInitialization": cwd, "modelId": model})
        for name in ("ui_messages.json", "api_conversation_history.json"):
            os.utime(folder / name, (ts / 1000, ts / 1000))
    if history:
        _dump(root / "state" / "taskHistory.json", history)
    return root


def _dump(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, separators=(",", ":")))
