"""Gemini CLI: its telemetry outfile, one ``gemini_cli.api_response`` record per call (plus prompts between)."""

from __future__ import annotations

import random
from pathlib import Path

MODELS = ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite")
START = 1_788_220_800   # 2026-09-01 UTC


def generate(root: Path, calls: int, seed: int = 0) -> Path:
    """``root`` is the telemetry file (``~/.gemini/telemetry.log``); records one per line, as the file exporter
    writes them compactly, with a user prompt record every ten calls."""
    rng = random.Random(seed + 5)
    root.parent.mkdir(parents=True, exist_ok=True)
    second = START
    with open(root, "w", encoding="utf-8") as f:
        for i in range(calls):
            session = f"s-{i // 200:06d}"
            second += rng.randint(1, 40)
            if i % 10 == 0:
                f.write(f'{{"hrTime":[{second},0],"attributes":{{"session.id":"{session}",'
                        f'"event.name":"gemini_cli.user_prompt","prompt_length":{rng.randint(5, 900)}}}}}\n')
            inp = rng.randint(500, 60_000)
            cached = rng.choice((0, inp // 2, inp - 100))
            f.write(f'{{"hrTime":[{second},{rng.randint(0, 999_999_999)}],"attributes":{{"session.id":"{session}",'
                    f'"event.name":"gemini_cli.api_response","model":"{MODELS[rng.randrange(3)]}",'
                    f'"prompt_id":"{session}########{i}","status_code":200,"duration_ms":{rng.randint(300, 30_000)},'
                    f'"input_token_count":{inp},"output_token_count":{rng.randint(5, 4_000)},'
                    f'"cached_content_token_count":{cached},"thoughts_token_count":{rng.randint(0, 2_000)},'
                    f'"tool_token_count":{rng.randint(0, 300)}}},"body":"API response"}}\n')
    return root
