"""Coding-agent logs into usage events (the agents are listed in :mod:`.registry`).

``discover()`` finds the log files; ``read(log, offset, state=state)`` turns the complete
lines from ``offset`` into :class:`~spendtag.usage.UsageEvent` objects with stable event ids,
and returns the offset to resume from. ``state`` is a small JSON-serialisable dict, updated
in place, that the caller stores per file next to the offset: reading a file in increments
then gives exactly the events of reading it whole. Nothing here touches the ledger.
"""

from __future__ import annotations

from typing import Any

from spendtag.capture.agents import registry
from spendtag.capture.agents.discovery import discover, sniff_agent
from spendtag.capture.agents.jsonl import AgentCall, LogFile, ReadResult

__all__ = ["AgentCall", "LogFile", "ReadResult", "discover", "read", "registry", "sniff_agent"]


def read(log: LogFile, offset: int = 0, *, state: dict[str, Any] | None = None, final: bool = False,
         compact: bool = False) -> ReadResult:
    """The events in ``log`` after ``offset``, by the reader of ``log.agent``.

    ``final=True`` says the file is no longer being written (the caller decides, e.g. from
    its modification time): Claude Code calls still open at its end are then closed with the
    copy they have. Without it they are emitted all the same, and a later read gives a call
    again in ``revised`` if its usage grew meanwhile. The other readers have no open calls.
    ``compact=True`` lets a reader give its calls as ``AgentCall`` in ``calls`` (and
    ``revised_calls``) instead of events (Claude Code does; the others fill ``events`` either way).
    """
    return registry.get(log.agent).read(log, offset, state={} if state is None else state, final=final,
                                        compact=compact)
