"""An OpenCode ``opencode.db`` (1.2+ schema) with ``calls`` assistant messages.

Sessions of 20-200 calls over 30 days in 8 projects; a user message before every 1-6 calls;
one session in 10 has a sub-agent session; 4 models (two routed through OpenRouter); message
data as OpenCode writes it (compact JSON, with its path, cost and tokens).
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

MODELS = (("anthropic", "claude-sonnet-4-20250514"), ("openrouter", "anthropic/claude-sonnet-4"),
          ("openai", "gpt-5"), ("openrouter", "google/gemini-2.5-pro"))
SCHEMA = """
CREATE TABLE session (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, parent_id TEXT, slug TEXT NOT NULL,
  directory TEXT NOT NULL, title TEXT NOT NULL, version TEXT NOT NULL, time_created INTEGER NOT NULL,
  time_updated INTEGER NOT NULL);
CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT NOT NULL, time_created INTEGER NOT NULL,
  time_updated INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX message_session_time_created_id_idx ON message (session_id, time_created, id);
"""


def generate(root: Path, calls: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "opencode.db"
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    start = 1788220800000   # 2026-09-01
    written = n = 0
    sessions, messages = [], []
    while written < calls:
        n += 1
        cwd = f"/home/u/clients/client{n % 8}/repo"
        sid = f"ses_{n:08d}"
        t = start + rng.randrange(30 * 86_400_000)
        sessions.append((sid, f"prj_{n % 8}", None, "slug", cwd, "title", "1.2.10", t, t))
        subs = [sid]
        if n % 10 == 0:
            subs.append(f"ses_{n:08d}s")
            sessions.append((subs[1], f"prj_{n % 8}", sid, "slug", cwd, "sub", "1.2.10", t, t))
        for _ in range(min(rng.randint(20, 200), calls - written)):
            t += rng.randint(2_000, 60_000)
            session = subs[rng.randrange(len(subs))]
            if rng.random() < 0.3:
                messages.append((f"msg_{len(messages):09d}", session, t, t, json.dumps(
                    {"role": "user", "time": {"created": t}, "agent": "build",
                     "model": {"providerID": "anthropic", "modelID": "claude-sonnet-4-20250514"}},
                    separators=(",", ":"))))
            provider, model = MODELS[rng.randrange(len(MODELS))]
            tokens = {"input": rng.randint(1, 4000), "output": rng.randint(1, 2000),
                      "reasoning": rng.choice((0, 0, 120)),
                      "cache": {"read": rng.randint(0, 80_000), "write": rng.choice((0, 0, 2048))}}
            done = t + rng.randint(1_000, 30_000)
            messages.append((f"msg_{len(messages):09d}", session, t, done, json.dumps(
                {"role": "assistant", "time": {"created": t, "completed": done}, "parentID": "msg_x", "modelID": model,
                 "providerID": provider, "mode": "build", "agent": "build" if session == sid else "general",
                 "path": {"cwd": cwd, "root": cwd}, "cost": round(rng.random() / 10, 6), "tokens": tokens,
                 "finish": "stop"}, separators=(",", ":"))))
            written += 1
    con.executemany("INSERT INTO session VALUES (?,?,?,?,?,?,?,?,?)", sessions)
    con.executemany("INSERT INTO message VALUES (?,?,?,?,?)", messages)
    con.commit()
    con.close()
    return path
