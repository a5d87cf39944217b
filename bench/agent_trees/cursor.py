"""A Cursor usage CSV export with ``calls`` rows (the dashboard's current columns)."""

from __future__ import annotations

import random
import time
from pathlib import Path

MODELS = ("claude-4.5-sonnet-thinking", "gpt-5", "claude-4-sonnet", "auto")


def generate(root: Path, calls: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "usage-events.csv"
    rows = ["Date,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,"
            "Total Tokens,Cost"]
    ms = 1788220800000
    for _ in range(calls):
        ms += rng.randint(1_000, 30_000)
        plain = rng.randint(1, 8000)
        with_write = plain + rng.choice((0, 0, 4096))
        read, out = rng.randint(0, 120_000), rng.randint(1, 3000)
        when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"
        rows.append(f'"{when}","Included","{MODELS[rng.randrange(4)]}","No","{with_write}","{plain}","{read}",'
                    f'"{out}","{with_write + read + out}","{rng.random() / 5:.2f}"')
    path.write_text("\n".join(rows) + "\n")
    return path
