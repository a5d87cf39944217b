"""Roo Code task histories (``globalStorage/rooveterinaryinc.roo-cline/tasks``).

The format and how it is read, sub-tasks included: :mod:`.vscode_tasks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from spendtag.capture.agents import registry, vscode_tasks
from spendtag.capture.agents.jsonl import LogFile

FAMILY = vscode_tasks.Family(agent="roo-code", extension="rooveterinaryinc.roo-cline")


def places(env: Mapping[str, str], home: Path, plat: str) -> list[Path]:
    return vscode_tasks.places(FAMILY, env, home, plat)


def files(place: Path) -> list[LogFile]:
    return vscode_tasks.files(FAMILY, place)


def sniff(path: Path, head: bytes) -> bool:
    return vscode_tasks.sniff(FAMILY, path, head)


AGENT = registry.Agent(
    name="roo-code", title="Roo Code",
    places=places, files=files, read=vscode_tasks.reader(FAMILY), sniff=sniff, whole=True, logs_cost=True,
    patterns=(vscode_tasks.UI_MESSAGES,), notes="task histories (VS Code globalStorage)",
)
