"""Aider: one ``.aider.chat.history.md`` (the agent's first default place is ``~/.aider.chat.history.md``).

Runs of 5-150 messages over 30 days of 2026-09, each opened with Aider's announcements; each
message is the user's ``####`` line, the reply with an edit block, and the Tokens/Cost
report (on two lines when there are both cache counts), then edit and commit notes.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

MODELS = ("anthropic/claude-sonnet-4-20250514", "deepseek/deepseek-chat", "gpt-4.1", "gemini/gemini-2.5-pro")
START = datetime(2026, 9, 1)


def _k(n: int) -> str:
    if n < 1000:
        return str(n)
    return f"{n / 1000:.1f}k" if n < 10000 else f"{round(n / 1000)}k"


def generate(root: Path, calls: int, seed: int = 0) -> Path:
    """``root`` is the history file's path."""
    rnd = random.Random(seed)
    root.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    day = 0
    with open(root, "w") as f:
        while written < calls:
            n = min(rnd.randint(5, 150), calls - written)
            day += 1
            began = START + timedelta(minutes=day * 41)
            model = rnd.choice(MODELS)
            f.write(f"\n# aider chat started at {began:%Y-%m-%d %H:%M:%S}\n\n"
                    f"> /home/dev/.local/bin/aider --model {model}  \n> Aider v0.86.1  \n"
                    f"> Main model: {model} with diff edit format, infinite output  \n"
                    "> Git repo: .git with 42 files  \n> Repo-map: using 4096 tokens, auto refresh  \n\n")
            session = 0.0
            for _ in range(n):
                sent, write, hit, received = rnd.randint(800, 30000), rnd.randint(0, 3000), rnd.randint(0, 20000), \
                    rnd.randint(50, 1500)
                cost = (sent * 3 + received * 15) / 1e6
                session += cost
                f.write("#### make the retry policy configurable  \n\nHere is the change:\n\nlab.py\n```python\n"
                        "<<<<<<< SEARCH\n    data = fetch(url)\n=======\n    data = retry(fetch, url)\n"
                        ">>>>>>> REPLACE\n```\n\n")
                tokens = f"> Tokens: {_k(sent + write + hit)} sent"
                if write and hit:
                    tokens += f", {_k(write)} cache write, {_k(hit)} cache hit, {_k(received)} received.  \n> "
                else:
                    tokens += f", {_k(received)} received. "
                f.write(f"{tokens}Cost: ${cost:.4f} message, ${session:.2f} session.  \n"
                        "> Applied edit to lab.py  \n> Commit 1a2b3c4 feat: configurable retry  \n\n")
            written += n
    return root
