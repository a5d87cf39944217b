"""Codex CLI: rollouts as tests/agent_trees.py writes them (cumulative token_count events, each twice; a fork)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from agent_trees import CodexTreeGenerator  # noqa: E402


def generate(root: Path, calls: int, seed: int = 0) -> Path:
    """``root`` is CODEX_HOME: sessions/YYYY/MM/DD/rollout-*.jsonl, 100 calls per session."""
    per_session, per_day = 100, 20
    days = max(1, -(-calls // (per_session * per_day)))
    CodexTreeGenerator(seed=seed + 11).write(root, days=days, sessions_per_day=per_day,
                                             calls_per_session=per_session)
    return root
