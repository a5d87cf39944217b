"""Changing another program's configuration file (an agent's settings, an MCP host's server list) safely.

The user's other settings are kept as they were: a JSON file is read, changed in place and
written back whole; a TOML file gets one table of ours between marker comments, the rest of
its text untouched. The file before the change is kept beside it as ``NAME.bak``, the new
one is written to a temporary file and renamed over it (never half written), and a file
that is already as wanted is not written at all. A file that is a symlink (dotfiles) is
changed where it points; anything but a regular file there is refused, never read or replaced.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from spendtag.errors import SpendtagError


class ConfigFileError(SpendtagError, ValueError):
    """A configuration file that cannot be changed safely; the message names it and the fix."""


def _target(path: Path) -> Path:
    if path.is_symlink():
        path = path.resolve()
    if path.exists() and not path.is_file():
        raise ConfigFileError(f"{path} is not a regular file; give the path of the settings file")
    return path


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.with_name(path.name + ".bak").write_bytes(path.read_bytes())
    tmp = path.with_name(path.name + ".spendtag-tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def update_json(path: Path, change: Callable[[dict[str, Any]], bool], *, what: str) -> bool:
    """Apply ``change`` to the JSON object in ``path`` (an empty one if there is no file); write it if it
    says it changed something. ``what`` names the file for errors ("Claude Code's settings")."""
    path = _target(path)
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"cannot read {path}: {exc}") from None
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise ConfigFileError(f"{path} is not plain JSON ({exc}; comments are not kept): fix it, or add "
                              f"the entry to {what} by hand") from None
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path} does not hold {what} (a JSON object); fix it first")
    if not change(data):
        return False
    _write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return True


def section(data: dict[str, Any], *keys: str, path: Path, what: str) -> dict[str, Any]:
    """``data[k1][k2]...``, made empty where missing; an existing value that is not an object is refused."""
    node = data
    for key in keys:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigFileError(f"{path}: \"{'.'.join(keys)}\" is not an object in {what}; fix it first")
        node = child
    return node


# -- TOML: one table of ours between markers ----------------------------------------------

_BEGIN = "# spendtag: begin {name} (written by spendtag; `spendtag ... uninstall` removes it)"
_END = "# spendtag: end {name}"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # A JSON string is a TOML basic string, but for DEL, which TOML wants escaped.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml_value(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {type(value).__name__}")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def _lookup(data: Mapping[str, Any], dotted: tuple[str, ...]) -> Any:
    node: Any = data
    for key in dotted:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _block_re(name: str) -> re.Pattern[str]:
    return re.compile(rf"\n?{re.escape(_BEGIN.format(name=name))}\n.*?{re.escape(_END.format(name=name))}\n?",
                      re.DOTALL)


def update_toml_table(path: Path, table: tuple[str, ...], values: Mapping[str, Any] | None, *, what: str) -> bool:
    """Make ``[a.b]`` (``table``) in the TOML file hold ``values`` (None: remove our table). False if already so.

    A table of that name the user wrote (outside our markers) is left alone: installing says so.
    """
    path = _target(path)
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"cannot read {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"{path} is not valid TOML ({exc}); fix it first") from None
    name = ".".join(table)
    ours = _block_re(name)
    current = _lookup(data, table)
    if values is None:
        if not ours.search(text):
            return False
        _write(path, ours.sub("\n", text, count=1).rstrip("\n") + "\n" if text.strip() else "")
        return True
    if current == dict(values):
        return False
    if current is not None and not ours.search(text):
        raise ConfigFileError(f"{path} already has a [{name}] table of its own in {what}; remove it or change "
                              "it by hand")
    header = "[" + ".".join(_toml_key(k) for k in table) + "]"
    block = "\n".join([_BEGIN.format(name=name), header, *(f"{_toml_key(k)} = {_toml_value(v)}"
                                                            for k, v in values.items()),
                       _END.format(name=name)]) + "\n"
    kept = ours.sub("\n", text, count=1).rstrip("\n")
    new = (kept + "\n\n" if kept else "") + block
    try:
        if _lookup(tomllib.loads(new), table) != dict(values):
            raise ConfigFileError(f"{path}: [{name}] would not read back as written; add it by hand")
    except tomllib.TOMLDecodeError as exc:   # e.g. the user's file defines [a] with a key named b
        raise ConfigFileError(f"{path}: adding [{name}] would clash with the file ({exc}); add it by hand") from None
    _write(path, new)
    return True
