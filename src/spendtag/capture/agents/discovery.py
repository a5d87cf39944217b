"""Where each coding agent keeps its logs.

* Claude Code: ``$CLAUDE_CONFIG_DIR`` (a comma-separated list; each entry holds ``projects/``
  or is it), else both ``~/.config/claude`` and ``~/.claude``. Files are
  ``projects/<encoded-cwd>/<session>.jsonl`` and the sub-agent files
  ``projects/<encoded-cwd>/<session>/subagents/*.jsonl``.
* Codex: ``$CODEX_HOME`` else ``~/.codex``: ``sessions/YYYY/MM/DD/rollout-*.jsonl``, and
  ``archived_sessions/rollout-*.jsonl`` (Codex moves archived sessions there; the event ids
  do not depend on the path, so a moved file adds nothing twice).
* Gemini CLI: its telemetry outfile, ``~/.gemini/telemetry.log`` and ``$GEMINI_TELEMETRY_OUTFILE``.

The same file reached through two roots (a symlinked config directory) is listed once.
"""

from __future__ import annotations

import fnmatch
import operator
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from spendtag.capture.agents import registry
from spendtag.capture.agents.jsonl import LogFile


def discover(agent: str | None = None, path: Path | None = None, env: Mapping[str, str] | None = None,
             home: Path | None = None, plat: str | None = None) -> list[LogFile]:
    """Log files of ``agent`` (all agents when None), sorted by agent then path.

    ``path`` replaces the default places: a directory to search, or a single file. ``env``,
    ``home`` and ``plat`` default to the process's own (tests pass their own).
    """
    every = registry.agents()
    if agent is not None and agent not in every:
        raise ValueError(f"unknown agent {agent!r}; expected one of {', '.join(every)}")
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    plat = registry.platform() if plat is None else plat
    selected = list(every.values()) if agent is None else [every[agent]]
    found: list[LogFile] = []
    for spec in selected:
        if path is not None:
            found.extend(_under_path(spec, Path(path), sniff=agent is None))
        else:
            for place in spec.places(env, home, plat):
                found.extend(spec.files(place))
    return _unique(found)


def _unique(files: Iterable[LogFile]) -> list[LogFile]:
    """Sorted, each real file once: the path from the first root (in search order) wins."""
    files = list(files)
    if len({log.root for log in files}) <= 1:
        # One root: its files are distinct already (thousands of them on an unchanged import).
        return sorted(files, key=_ORDER)
    roots: dict[Path, tuple[str, str | None]] = {}
    linked = False
    for root in {log.root for log in files}:
        try:
            real_root = str(root.resolve())
        except OSError:
            real_root = str(root)
        roots[root] = (_prefix(str(root)), None if real_root == str(root) else real_root)
        linked = linked or real_root != str(root)
    if not linked and _NORMCASE is None and len({log.key for log in files}) == len(files):
        return sorted(files, key=_ORDER)      # every path is its file's real path, and none is twice
    seen: set[str] = set()
    out: list[LogFile] = []
    for log in files:
        # Resolve each root once, not each file (thousands of files: resolving each was
        # most of an unchanged import's time); a file reached through two roots is the
        # same real root plus the same relative path. Worked on as text: making a Path per
        # file was most of what was left.
        prefix, real_root_text = roots[log.root]
        real = key = log.key
        if real_root_text is not None:          # a root reached through a link: where its files really are
            if key.startswith(prefix):
                real = os.path.join(real_root_text, key[len(prefix):])
            elif key == prefix[:-1]:
                real = real_root_text
        if _NORMCASE is not None:
            real = _NORMCASE(real)
        if real not in seen:
            seen.add(real)
            out.append(log)
    return sorted(out, key=_ORDER)


_ORDER = operator.attrgetter("agent", "key")
# Paths that differ only in case are the same file on Windows (Path equality says so there too).
_NORMCASE = os.path.normcase if os.name == "nt" else None


def _prefix(root: str) -> str:
    """``root`` with one separator at its end: what the paths of the files under it start with."""
    return root if root.endswith(os.sep) else root + os.sep


# -- Claude Code --------------------------------------------------------------------------

def claude_bases(env: Mapping[str, str], home: Path) -> tuple[list[Path], bool]:
    configured = [e.strip() for e in env.get("CLAUDE_CONFIG_DIR", "").split(",") if e.strip()]
    bases = [registry.expand(e, home) for e in configured] or [home / ".config" / "claude", home / ".claude"]
    return bases, bool(configured)


def claude_roots(env: Mapping[str, str], home: Path) -> list[Path]:
    bases, configured = claude_bases(env, home)
    roots: list[Path] = []
    for base in bases:
        root = base / "projects"
        if root.is_dir():
            roots.append(root)
        elif base.is_dir() and configured:   # an entry that is the projects folder itself
            roots.append(base)
    return roots


def claude_places(env: Mapping[str, str], home: Path, plat: str) -> list[Path]:
    """The projects folders, and where they would be when there are none."""
    roots = claude_roots(env, home)
    return roots or [base / "projects" for base in claude_bases(env, home)[0]]


def claude_files(root: Path) -> list[LogFile]:
    if not root.is_dir():
        return []
    files = sorted([*root.glob("*/*.jsonl"), *root.glob("*/*/subagents/*.jsonl")], key=str)
    return [LogFile("claude-code", f, root) for f in files if f.is_file()]


def claude_sniff(path: Path, head: bytes) -> bool:
    return b'"sessionId"' in head or b'"parentUuid"' in head or b'"type":"summary"' in head


# -- Codex --------------------------------------------------------------------------------

def codex_home(env: Mapping[str, str], home: Path) -> Path:
    configured = env.get("CODEX_HOME", "").strip()
    return registry.expand(configured, home) if configured else home / ".codex"


def codex_places(env: Mapping[str, str], home: Path, plat: str) -> list[Path]:
    return [codex_home(env, home)]


def codex_files(base: Path) -> list[LogFile]:
    files = [*(base / "sessions").glob("*/*/*/rollout-*.jsonl"), *(base / "archived_sessions").glob("rollout-*.jsonl")]
    return [LogFile("codex", f, base) for f in files if f.is_file()]


def codex_sniff(path: Path, head: bytes) -> bool:
    return b'"session_meta"' in head or b'"turn_context"' in head or path.name.startswith("rollout-")


# -- Gemini CLI ---------------------------------------------------------------------------

def gemini_places(env: Mapping[str, str], home: Path, plat: str) -> list[Path]:
    candidates = [home / ".gemini" / "telemetry.log"]
    outfile = env.get("GEMINI_TELEMETRY_OUTFILE", "").strip()
    if outfile:
        candidates.append(registry.expand(outfile, home))
    return candidates


def gemini_files(place: Path) -> list[LogFile]:
    return [LogFile("gemini-cli", place, place.parent)] if place.is_file() else []


def gemini_sniff(path: Path, head: bytes) -> bool:
    return b"gemini_cli." in head


# -- an explicit path ---------------------------------------------------------------------

def _under_path(spec: registry.Agent, path: Path, *, sniff: bool) -> list[LogFile]:
    """Files of ``spec`` at ``path``. With no agent named, each file goes to the agent it looks like.

    A directory is searched for the agent's ``patterns`` (recursively) when it has some, else
    taken as one of its places.
    """
    agent = spec.name
    if path.is_file():
        return [LogFile(agent, path, path.parent)] if not sniff or sniff_agent(path) == agent else []
    if not path.is_dir():
        return []
    if agent == "claude-code" and (path / "projects").is_dir():
        path = path / "projects"
    elif agent == "codex" and (path / "sessions").is_dir():
        return codex_files(path)
    if not spec.patterns:
        found = spec.files(path)
        return [log for log in found if sniff_agent(log.path) == agent] if sniff else found
    files = _files_under(path, spec.patterns)
    if sniff:
        files = [f for f in files if sniff_agent(Path(f)) == agent]
    return [LogFile(agent, f, path) for f in files]


def _files_under(top: Path, patterns: tuple[str, ...]) -> list[str]:
    """Regular files under ``top`` whose names match a pattern, sorted by path (``rglob`` without
    a stat per file).

    Like ``rglob``, symlinked directories are not followed; a symlink to a file counts. The
    paths are found, sorted and given as text: on a tree of 100k session files, making and
    comparing ``Path`` objects was most of an unchanged import's time.
    """
    match = re.compile("|".join(fnmatch.translate(p) for p in patterns)).match
    found: list[str] = []
    folders = [str(top)]
    while folders:
        try:
            entries = os.scandir(folders.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
                elif match(entry.name) and entry.is_file():
                    found.append(entry.path)
    found.sort()
    return found


def scan(agent: str, place: Path, patterns: tuple[str, ...]) -> list[LogFile]:
    """``agent``'s files under the folder ``place`` (or ``place`` itself, a file), sorted by path."""
    if place.is_file():
        return [LogFile(agent, place, place.parent)]
    return [LogFile(agent, path, place) for path in _files_under(place, patterns)]


def sniff_agent(path: Path) -> str | None:
    """Which agent wrote ``path``, from its first bytes; None when it looks like none of them.

    Agents are asked in the reverse of their listing order: the later ones have the more
    specific marks (Claude Code's ``"sessionId"`` is common to several).
    """
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return None
    for spec in reversed(registry.agents().values()):
        if spec.sniff is not None and spec.sniff(path, head):
            return spec.name
    return None
