"""Cline task histories (``globalStorage/saoudrizwan.claude-dev/tasks``, ``~/.cline/data/tasks``).

The format and how it is read: :mod:`.vscode_tasks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from spendtag.capture.agents import registry, vscode_tasks
from spendtag.capture.agents.jsonl import LogFile

FAMILY = vscode_tasks.Family(agent="cline", extension="saoudrizwan.claude-dev")


def places(env: Mapping[str, str], home: Path, plat: str) -> list[Path]:
    return vscode_tasks.places(FAMILY, env, home, plat, cline_data=True)


def files(place: Path) -> list[LogFile]:
    return vscode_tasks.files(FAMILY, place)


def sniff(path: Path, head: bytes) -> bool:
    return vscode_tasks.sniff(FAMILY, path, head)


AGENT = registry.Agent(
    name="cline", title="Cline",
    places=places, files=files, read=vscode_tasks.reader(FAMILY), sniff=sniff, whole=True, logs_cost=True,
    patterns=(vscode_tasks.UI_MESSAGES,), notes="task histories (VS Code globalStorage, ~/.cline/data)",
)
