"""Factory Droid sessions into usage events: ``~/.factory/sessions/**/<session>.settings.json``.

Droid keeps a session's running token totals in ``<session>.settings.json`` (rewritten as
the session goes on): ``tokenUsage`` (``inputTokens``, ``outputTokens``,
``cacheCreationTokens``, ``cacheReadTokens``, ``thinkingTokens``), ``model`` (``custom:``
for a model of the user's own, ``[...]`` labels), ``providerLock`` and
``providerLockTimestamp``. The transcript beside it, ``<session>.jsonl``, starts with a
``session_start`` line holding the ``cwd``. There is no usage per call: one session is one
event, ``droid:<session>``, revised as it grows (the ledger keeps the copy with the most
usage). Thinking tokens are billed as output. Without a ``cwd`` the project is the session
folder's name (``-home-me-app``, as Claude Code encodes it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spendtag.capture._fields import DECODE_FAILURES, loads
from spendtag.capture.agents import discovery, registry
from spendtag.capture.agents.claude_code import decode_folder
from spendtag.capture.agents.jsonl import LogFile, ReadResult, Tally, time_us
from spendtag.capture.agents.models import guess_provider
from spendtag.capture.agents.records import call, count
from spendtag.errors import UsageFormatError

SOURCE = "droid"
SUFFIX = ".settings.json"


_LABEL = re.compile(r"\[[^\]]*\]")
_SEPARATORS = re.compile(r"[-.\s]+")
_MODELS: dict[str, str] = {}   # the few names a tree uses, each converted once


def model_name(raw: str) -> str:
    """``custom:Claude Sonnet 4.5 [Proxy]`` -> ``claude-sonnet-4-5``: Droid's display names as model ids."""
    found = _MODELS.get(raw)
    if found is None:
        name = _LABEL.sub("", raw.removeprefix("custom:")).strip().lower()
        found = _SEPARATORS.sub("-", name).strip("-")
        if len(_MODELS) < 1000:
            _MODELS[raw] = found
    return found


def _start(transcript: str) -> tuple[str | None, int | None]:
    """The ``cwd`` and the first time in the session's transcript (its first lines only)."""
    cwd, first = None, None
    try:
        with open(transcript, "rb") as f:
            for _ in range(50):
                line = f.readline()
                if not line:
                    break
                try:
                    rec = loads(line)
                except ValueError:
                    continue
                if not isinstance(rec, dict):
                    continue
                if cwd is None and isinstance(rec.get("cwd"), str):
                    cwd = rec["cwd"]
                if first is None:
                    first = time_us(rec.get("timestamp"))
                if cwd is not None and first is not None:
                    break
    except OSError:
        pass
    return cwd, first


def read_settings(log: LogFile, *, compact: bool = True) -> ReadResult:
    # The path as text: with one small file per session, Path operations were a good part of the time.
    path = log.key
    tally = Tally(path, 0)
    session = os.path.basename(path).removesuffix(SUFFIX)
    try:
        with open(path, "rb") as f:
            raw = f.read()
        settings = loads(raw)
    except OSError as exc:
        tally.malformed += 1
        tally.note(0, f"unreadable ({exc})")
        return tally.result([], 0)
    except (ValueError, RecursionError) as exc:
        tally.malformed += 1
        tally.note(1, f"not a JSON document ({exc})")
        return tally.result([], 0)
    tally.lines += 1
    try:
        found = _call(path, session, settings)
    except DECODE_FAILURES as exc:
        tally.bad(0, 1, str(exc))
        return tally.result([], len(raw))
    if found is None:
        tally.skipped += 1
        return tally.result([], len(raw))
    if compact:
        return tally.result([], len(raw), None, [found])
    return tally.result([found.event()], len(raw))


def _call(path: str, session: str, settings: object) -> Any:
    if not isinstance(settings, Mapping):
        raise UsageFormatError("not a settings object")
    usage = settings.get("tokenUsage")
    if not isinstance(usage, Mapping):
        return None
    inp, out = count(usage.get("inputTokens"), "inputTokens"), count(usage.get("outputTokens"), "outputTokens")
    write = count(usage.get("cacheCreationTokens"), "cacheCreationTokens")
    read = count(usage.get("cacheReadTokens"), "cacheReadTokens")
    thinking = count(usage.get("thinkingTokens"), "thinkingTokens")
    if not (inp or out or write or read or thinking):
        return None
    raw_model = settings.get("model")
    model = model_name(raw_model) if isinstance(raw_model, str) else ""
    if not model:
        raise UsageFormatError("no model")
    folder = os.path.dirname(path)
    cwd, first = _start(os.path.join(folder, session + ".jsonl"))
    ts = time_us(settings.get("providerLockTimestamp")) or first
    if ts is None:
        ts = os.stat(path).st_mtime_ns // 1000
    provider = settings.get("providerLock")
    provider = provider if isinstance(provider, str) and provider else guess_provider(model)
    parent = os.path.basename(folder)
    project = cwd or (decode_folder(parent) if parent.startswith("-") else None)
    return call(f"{SOURCE}:{session}", ts, provider, model, input=inp, cache_read=read, cache_write=write,
                output=out + thinking, reasoning=thinking, project=project, session=session, agent=SOURCE,
                source=SOURCE)


def _read(log: LogFile, offset: int, *, state: dict[str, Any], final: bool, compact: bool) -> ReadResult:
    return read_settings(log, compact=compact)


def places(env: Mapping[str, str], home: Path, plat: str) -> list[Path]:
    configured = [e.strip() for e in env.get("DROID_SESSIONS_DIR", "").split(",") if e.strip()]
    if configured:
        return [registry.expand(e, home) for e in configured]
    return [home / ".factory" / "sessions"]


def files(place: Path) -> list[LogFile]:
    if place.is_file():
        return [LogFile(SOURCE, place, place.parent)]
    if not place.is_dir():
        return []
    return discovery.scan(SOURCE, place, ("*" + SUFFIX,))


def sniff(path: Path, head: bytes) -> bool:
    return path.name.endswith(SUFFIX) and b'"tokenUsage"' in head


AGENT = registry.Agent(
    name="droid", title="Factory Droid", places=places, files=files, read=_read, sniff=sniff, whole=True,
    patterns=("*" + SUFFIX,), notes="~/.factory/sessions/*.settings.json, totals per session",
)
