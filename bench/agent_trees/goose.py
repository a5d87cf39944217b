"""A Goose ``sessions.db`` with ``calls`` sessions (Goose keeps totals per session: one event each)."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

MODELS = (("anthropic", "claude-sonnet-4-20250514"), ("openai", "gpt-5"), ("openrouter", "anthropic/claude-haiku-4.5"))


def generate(root: Path, calls: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    # ``root`` is Goose's database (its default place), or a folder to write one in.
    path = root if root.suffix == ".db" else root / "sessions.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE sessions (id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', working_dir TEXT NOT NULL, "
                "created_at TIMESTAMP, updated_at TIMESTAMP, total_tokens INTEGER, input_tokens INTEGER, "
                "output_tokens INTEGER, accumulated_total_tokens INTEGER, accumulated_input_tokens INTEGER, "
                "accumulated_output_tokens INTEGER, accumulated_cost REAL, provider_name TEXT, model_config_json TEXT, "
                "parent_session_id TEXT)")
    rows = []
    for n in range(calls):
        provider, model = MODELS[rng.randrange(len(MODELS))]
        inp, out = rng.randint(1_000, 400_000), rng.randint(100, 40_000)
        day, second = 1 + rng.randrange(30), rng.randrange(86_400)
        created = f"2026-09-{day:02d} {second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
        rows.append((f"20260901_{n}", f"/home/u/clients/client{n % 8}/repo", created, created, inp + out, inp, out,
                     provider, json.dumps({"model_name": model}), f"20260901_{n - 1}" if n % 10 == 9 else None))
    con.executemany("INSERT INTO sessions (id, working_dir, created_at, updated_at, accumulated_total_tokens, "
                    "accumulated_input_tokens, accumulated_output_tokens, provider_name, model_config_json, "
                    "parent_session_id) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    con.commit()
    con.close()
    return path
