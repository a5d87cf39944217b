"""A Crush project ``.crush/crush.db`` with ``calls`` sessions (Crush keeps one cost per session)."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

MODELS = (("anthropic", "claude-sonnet-4-20250514"), ("openai", "gpt-5"), ("anthropic", "claude-opus-4-5"))


def generate(root: Path, calls: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    # ``root`` is Crush's projects.json (its default place): the project's database goes beside
    # it, listed there, as Crush lists the projects it has seen. Any other root: a folder for it.
    base = root.parent if root.name == "projects.json" else root
    project = base / "project"
    path = project / ".crush" / "crush.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript("""
    CREATE TABLE sessions (id TEXT PRIMARY KEY, parent_session_id TEXT, title TEXT NOT NULL,
      message_count INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
      completion_tokens INTEGER NOT NULL DEFAULT 0, cost REAL NOT NULL DEFAULT 0.0, updated_at INTEGER NOT NULL,
      created_at INTEGER NOT NULL, summary_message_id TEXT, todos TEXT);
    CREATE TABLE messages (id TEXT PRIMARY KEY, session_id TEXT NOT NULL, role TEXT NOT NULL,
      parts TEXT NOT NULL default '[]', model TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
      finished_at INTEGER, provider TEXT, is_summary_message INTEGER DEFAULT 0 NOT NULL);
    CREATE INDEX idx_messages_session_id ON messages (session_id);
    """)
    sessions, messages = [], []
    for n in range(calls):
        t = 1788220800 + rng.randrange(30 * 86_400)
        sid = f"{n:08x}-0000-4000-8000-000000000000"
        sessions.append((sid, None if n % 10 else None, "title", 4, rng.randint(1_000, 150_000),
                         rng.randint(50, 8_000), round(rng.random(), 6) if n % 5 else 0.0, t + 600, t))
        provider, model = MODELS[rng.randrange(len(MODELS))]
        for k in range(3):
            messages.append((f"{sid}-{k}", sid, "assistant" if k else "user", "[]", model if k else None,
                             t + k * 30, t + k * 30, t + k * 30, provider if k else None))
    con.executemany("INSERT INTO sessions (id, parent_session_id, title, message_count, prompt_tokens, "
                    "completion_tokens, cost, updated_at, created_at) VALUES (?,?,?,?,?,?,?,?,?)", sessions)
    con.executemany("INSERT INTO messages (id, session_id, role, parts, model, created_at, updated_at, finished_at, "
                    "provider) VALUES (?,?,?,?,?,?,?,?,?)", messages)
    con.commit()
    con.close()
    if root.name == "projects.json":
        import json

        root.write_text(json.dumps({"projects": [{"path": str(project), "data_dir": ".crush"}]}))
    return path
