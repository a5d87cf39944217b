"""Kilo Code: task folders under its globalStorage folder (see _vscode_tasks.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _vscode_tasks  # noqa: E402


def generate(root: Path, calls: int, seed: int = 0) -> Path:
    """``root`` is the extension's ``globalStorage/<extension id>`` folder."""
    return _vscode_tasks.generate(root, calls, seed, agent="kilo-code")
