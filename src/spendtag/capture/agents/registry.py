"""Every coding agent spendtag reads: its name, where it keeps its usage, and its reader.

An agent is one :class:`Agent` value. Adding an agent is a module in this folder that
defines ``AGENT = Agent(...)`` and one line in :data:`_MODULES`; discovery, ``spendtag
import AGENT``, ``spendtag agents`` and the importer take it from here.

Two kinds of log:

* **appended** (``whole=False``): lines are only ever added (JSONL transcripts). The importer
  reads from the byte offset it stored last time; a file whose start changed is read again
  from the top.
* **rewritten** (``whole=True``): a JSON document saved whole on every change, or a SQLite
  database. When its size or time changed, the reader is called with offset 0 and the state
  it returned last time (it may use it to skip rows it has seen), and its calls are recorded
  as revised copies: the ledger records each call id once and keeps the copy with the most
  usage. The reader returns the file's size as its offset.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from spendtag.capture.agents.jsonl import LogFile, ReadResult

# (env, home) -> the places the agent's usage may be, existing or not (``spendtag agents``
# shows them all). ``platform`` is ``sys.platform`` ("linux", "darwin", "win32").
Places = Callable[[Mapping[str, str], Path, str], list[Path]]
# A place (a directory or a file) -> the log files under it, as LogFile(agent, path, place).
Files = Callable[[Path], list[LogFile]]


class Reader(Protocol):
    """``read(log, offset, state=..., final=..., compact=...)``: what was read from ``offset``.

    ``state`` is the dict stored with the file, updated in place. ``final``: the file is no
    longer being written. ``compact``: the reader may give its calls as ``AgentCall`` in
    ``ReadResult.calls`` instead of events (a reader that does not may ignore it).
    """

    def __call__(self, log: LogFile, offset: int, *, state: dict[str, Any], final: bool,
                 compact: bool) -> ReadResult: ...

# A file's first 64 KiB and its path -> whether this agent wrote it (for ``spendtag import PATH``).
Sniffer = Callable[[Path, bytes], bool]
# A log's path (as text: called for every file of an unchanged import) -> (size, mtime_ns) that
# changes whenever its usage may have (a SQLite database adds its -wal).
Stamp = Callable[[str], tuple[int, int]]


def file_stamp(path: str | Path) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


def sqlite_stamp(path: str | Path) -> tuple[int, int]:
    """A SQLite database with its write-ahead log: committed rows may sit in ``-wal`` only."""
    size, mtime = file_stamp(path)
    try:
        wal = os.stat(f"{path}-wal")
    except OSError:
        return size, mtime
    return size + wal.st_size, max(mtime, wal.st_mtime_ns)


@dataclass(frozen=True)
class Agent:
    name: str                       # the CLI's name: "claude-code", "opencode", ...
    title: str                      # as people write it: "Claude Code", "OpenCode"
    places: Places
    files: Files
    read: Reader
    sniff: Sniffer | None = None
    whole: bool = False             # rewritten as a whole (JSON document, SQLite): see the module doc
    logs_cost: bool = False         # the agent writes its own cost (``--compare-logged-cost``)
    stamp: Stamp = file_stamp
    patterns: tuple[str, ...] = ()  # file names searched for under a directory given as PATH (else: files(PATH))
    notes: str = ""                 # one line for ``spendtag agents`` (e.g. "usage CSV from the dashboard")
    extra: Mapping[str, Any] = field(default_factory=dict)


# Each agent's name and the module that defines its ``AGENT``, in the order ``spendtag agents``
# lists them. Names are known without loading the modules (the CLI's start stays fast).
_MODULES: tuple[tuple[str, str], ...] = (
    ("claude-code", "claude_code"),
    ("codex", "codex"),
    ("gemini-cli", "gemini_cli"),
    ("opencode", "opencode"),
    ("cursor", "cursor"),
    ("copilot-cli", "copilot_cli"),
    ("amp", "amp"),
    ("cline", "cline"),
    ("roo-code", "roo_code"),
    ("kilo-code", "kilo_code"),
    ("qwen-code", "qwen_code"),
    ("goose", "goose"),
    ("droid", "droid"),
    ("crush", "crush"),
    ("kimi-cli", "kimi_cli"),
    ("aider", "aider"),
)

_LOADED: dict[str, Agent] | None = None


def agents() -> dict[str, Agent]:
    """Every agent, by name, in listing order."""
    global _LOADED
    if _LOADED is None:
        loaded: dict[str, Agent] = {}
        for name, module in _MODULES:
            agent: Agent = importlib.import_module(f"spendtag.capture.agents.{module}").AGENT
            assert agent.name == name, (agent.name, name)
            loaded[name] = agent
        _LOADED = loaded
    return _LOADED


def names() -> tuple[str, ...]:
    return tuple(name for name, _ in _MODULES)


def get(name: str) -> Agent:
    if _LOADED is not None and name in _LOADED:
        return _LOADED[name]
    for known, module in _MODULES:
        if known == name:
            if _LOADED is not None:
                return _LOADED[name]
            spec: Agent = importlib.import_module(f"spendtag.capture.agents.{module}").AGENT
            return spec
    raise ValueError(f"unknown agent {name!r}; expected one of {', '.join(names())}")


def platform() -> str:
    return sys.platform


def expand(entry: str, home: Path) -> Path:
    """``~`` and ``~/x`` against ``home`` (tests pass their own); anything else as it is."""
    if entry == "~" or entry.startswith("~/"):
        return home / entry[2:]
    return Path(entry)


def config_home(env: Mapping[str, str], home: Path, plat: str) -> Path:
    """Where programs keep their configuration: ``$XDG_CONFIG_HOME`` or ``~/.config`` (``%APPDATA%`` on Windows)."""
    if plat == "win32":
        appdata = env.get("APPDATA", "").strip()
        return expand(appdata, home) if appdata else home / "AppData" / "Roaming"
    configured = env.get("XDG_CONFIG_HOME", "").strip()
    return expand(configured, home) if configured else home / ".config"


def data_home(env: Mapping[str, str], home: Path, plat: str) -> Path:
    """Where programs keep their data: ``$XDG_DATA_HOME`` or ``~/.local/share``
    (``~/Library/Application Support`` on macOS, ``%LOCALAPPDATA%`` on Windows)."""
    if plat == "win32":
        local = env.get("LOCALAPPDATA", "").strip()
        return expand(local, home) if local else home / "AppData" / "Local"
    configured = env.get("XDG_DATA_HOME", "").strip()
    if configured:
        return expand(configured, home)
    if plat == "darwin":
        return home / "Library" / "Application Support"
    return home / ".local" / "share"


def vscode_global_storage(env: Mapping[str, str], home: Path, plat: str, extension: str) -> list[Path]:
    """``globalStorage/<extension>`` of VS Code and its common forks (Insiders, VSCodium, Cursor, Windsurf)."""
    if plat == "win32":
        appdata = env.get("APPDATA", "").strip()
        base = expand(appdata, home) if appdata else home / "AppData" / "Roaming"
    elif plat == "darwin":
        base = home / "Library" / "Application Support"
    else:
        configured = env.get("XDG_CONFIG_HOME", "").strip()
        base = expand(configured, home) if configured else home / ".config"
    editors = ("Code", "Code - Insiders", "VSCodium", "Cursor", "Windsurf")
    return [base / editor / "User" / "globalStorage" / extension for editor in editors]
