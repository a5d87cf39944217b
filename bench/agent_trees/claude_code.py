"""Claude Code: the projects tree bench_agents.py writes (1-3 lines per call, sub-agents, resumed sessions)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_agents import TreeWriter  # noqa: E402


def generate(root: Path, calls: int, seed: int = 0) -> Path:
    """``root`` is a ``projects`` folder; about two assistant lines are written per call."""
    tree = TreeWriter(root, calls * 2, seed=seed + 3)
    tree.write()
    return root
