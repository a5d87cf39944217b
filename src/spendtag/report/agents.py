"""``spendtag agents``: every supported coding agent, whether its logs are on this machine, and what was imported.

Found means one of the agent's places exists (a folder or file where it keeps its usage);
an agent that is not found lists every place that was looked at. The calls are those the
ledger holds with the agent as their source (its importer's), sub-agents included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from spendtag.capture.agents import registry
from spendtag.ledger.store import Store


@dataclass(frozen=True, slots=True)
class AgentStatus:
    name: str
    title: str
    places: tuple[Path, ...]        # every place looked at, in the agent's order
    found: tuple[Path, ...]         # those that exist
    files: int                      # log files imported so far
    calls: int                      # calls recorded from its logs
    last_call: datetime | None
    last_import: datetime | None    # when one of its files was last read
    logs_cost: bool
    notes: str

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "title": self.title, "found": bool(self.found),
            "places": [str(p) for p in self.found], "looked_in": [str(p) for p in self.places],
            "files_imported": self.files, "calls": self.calls,
            "last_call": self.last_call.isoformat() if self.last_call else None,
            "last_import": self.last_import.isoformat() if self.last_import else None,
            "logs_cost": self.logs_cost, "notes": self.notes,
        }


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:   # a place behind a folder we may not read
        return False


def statuses(store: Store, env: Mapping[str, str], home: Path, plat: str) -> list[AgentStatus]:
    """Every agent in the registry's order."""
    every = registry.agents()
    imported = store.agent_imports(list(every))
    out = []
    for name, agent in every.items():
        places = tuple(dict.fromkeys(agent.places(env, home, plat)))   # each once, in order
        seen = imported[name]
        out.append(AgentStatus(name, agent.title, places, tuple(p for p in places if _exists(p)), seen.files,
                               seen.calls, seen.last_call, seen.read_at, agent.logs_cost, agent.notes))
    return out
