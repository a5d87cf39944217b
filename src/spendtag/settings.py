"""Settings, declared once: each has a name, an environment variable, a default and a help line.

Precedence: command-line flag > environment (``SPENDTAG_*``) > config file > default.
The config file is TOML at ``$SPENDTAG_CONFIG``, else ``<user config dir>/spendtag/config.toml``::

    db = "~/ledgers/agency.db"
    tz = "Europe/Berlin"
    unpriced_policy = "warn"

    [[prices]]                       # price overrides (see `spendtag prices override --help`)
    model = "my-local-llm"
    input = "0"
    output = "0"
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spendtag.errors import ConfigError, SpendtagError, did_you_mean


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    env: str
    default: str
    help: str
    choices: tuple[str, ...] = ()


# platformdirs is imported only when a default location is needed (~5 ms of start-up with
# what it loads), not when the environment or a flag names the ledger and the config file.
def default_db_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("spendtag", appauthor=False)) / "ledger.db"


def default_config_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("spendtag", appauthor=False)) / "config.toml"


SETTINGS: tuple[Setting, ...] = (
    Setting("db", "SPENDTAG_DB", "", "Ledger location: a SQLite file path, sqlite:/// URL or postgresql:// URL "
            "(default: ledger.db in the user data directory)."),
    Setting("tz", "SPENDTAG_TZ", "UTC", "Time zone for days, weeks and months in reports (IANA name or 'local')."),
    Setting("unpriced_policy", "SPENDTAG_UNPRICED_POLICY", "warn",
            "What to do with calls to models nobody can price: allow, warn or block.",
            choices=("allow", "warn", "block")),
    Setting("client_key", "SPENDTAG_CLIENT_KEY", "client", "The tag key that names the client."),
    Setting("session_titles", "SPENDTAG_SESSION_TITLES", "on",
            "Show each session's title (the agent's summary, else the first prompt's opening words); off keeps "
            "prompts out of the ledger and off every screen.", choices=("on", "off")),
)
_BY_NAME = {s.name: s for s in SETTINGS}
# Tables the config file may hold besides the plain settings.
SECTIONS: tuple[str, ...] = (
    "prices", "budgets", "alerts", "attribution", "quota", "invoices", "billing", "business", "proxy", "pull", "serve",
)


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, str]
    origins: Mapping[str, str]                # name -> "flag", "env", "config" or "default"
    config_path: Path
    sections: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    @property
    def db(self) -> str:
        return self.values["db"] or str(default_db_path())

    @property
    def alert_channels(self) -> tuple[str, ...]:
        """The alert channels a budget may name: ``console`` and every ``[alerts.channels.NAME]``."""
        alerts = self.sections.get("alerts")
        tables = alerts.get("channels") if isinstance(alerts, Mapping) else None
        return ("console", *(tables if isinstance(tables, Mapping) else ()))


def config_path() -> Path:
    env = os.environ.get("SPENDTAG_CONFIG")
    return Path(env).expanduser() if env else default_config_path()


# Sections written as [[name]] tables (a list); every other section is one [name] table.
_LISTS = ("prices", "budgets")


def read_config(path: Path) -> dict[str, Any]:
    """The config file as a dict; a missing file is empty; a broken one is a ConfigError with the line.

    The plain settings are checked here; each section's own keys are read by its parser
    (with :class:`spendtag.config_table.Table`), which only needs to know it has a table.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror}", path=str(path)) from None
    try:
        text = raw.decode("utf-8-sig")      # a byte-order mark, as some Windows editors write, is fine
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"not UTF-8 text (byte {raw[exc.start]:#04x})", path=str(path), line=line,
                          fix="save the file as UTF-8") from None
    import tomllib  # only when there is a file to parse: ~2 ms of start-up

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        # "at end of document" has no line number: the problem shows at the last line.
        line = int(m[1]) if m else max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
        raise ConfigError(f"not valid TOML: {exc}", path=str(path), line=line,
                          fix="check quoting and brackets on that line") from None
    except RecursionError:      # tomllib reads nested arrays and tables by recursion
        deep = re.search(r"(?:[\[{][ \t]*){100,}", text)
        line = text.count("\n", 0, deep.start()) + 1 if deep else 1
        raise ConfigError("arrays or tables nested too deeply to read", path=str(path), line=line,
                          fix="nest at most a few levels") from None
    for key, value in data.items():
        if key in SECTIONS:
            _check_section(key, value, str(path))
            continue
        setting = _BY_NAME.get(key)
        if setting is None:
            raise ConfigError(f"unknown setting {key!r}", path=str(path), key=key,
                              fix=did_you_mean(key, [*_BY_NAME, *SECTIONS]))
        if not isinstance(value, str):
            shown = value if isinstance(value, int | float) and not isinstance(value, bool) else "..."
            raise ConfigError(f"{key} must be a string", path=str(path), key=key, fix=f'write {key} = "{shown}"')
        if setting.choices and value not in setting.choices:
            raise ConfigError(f"{key} = {value!r} is not allowed", path=str(path), key=key,
                              fix=did_you_mean(value, setting.choices))
        problem = _problem(key, value)
        if problem:
            raise ConfigError(f"{key} = {value[:80]!r}: {problem}", path=str(path), key=key, fix=_EXAMPLES[key])
    return data


_EXAMPLES = {"db": 'db = "~/ledgers/agency.db"', "tz": 'tz = "Europe/Berlin"', "client_key": 'client_key = "client"',
             "unpriced_policy": 'unpriced_policy = "warn"', "session_titles": 'session_titles = "off"'}


def _problem(key: str, value: str) -> str | None:
    """What is wrong with a plain setting's value, beyond its type (the ledger URL is checked where it opens)."""
    if "\x00" in value:
        return "holds a NUL character"
    if key == "tz" and value.upper() not in ("", "UTC", "LOCAL"):
        from spendtag.periods import zone

        try:
            zone(value)
        except SpendtagError as exc:
            return str(exc)
    if key == "client_key":
        from spendtag.tags import check_key

        try:
            check_key(value)
        except ValueError as exc:
            return str(exc)
    return None


def _check_section(name: str, value: Any, path: str) -> None:
    if name in _LISTS:
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise ConfigError(f"{name} must be a list of tables", path=path, key=name,
                              fix=f"write each one as a [[{name}]] table")
    elif not isinstance(value, Mapping):
        raise ConfigError(f"{name} must be a table", path=path, key=name,
                          fix=f"write it as a [{name}] table with key = value lines under it")


def load(flags: Mapping[str, str | None] | None = None) -> Settings:
    """Resolve every setting by precedence: flag > env > config file > default."""
    path = config_path()
    data = read_config(path)
    values: dict[str, str] = {}
    origins: dict[str, str] = {}
    for setting in SETTINGS:
        flag = (flags or {}).get(setting.name)
        env = os.environ.get(setting.env)
        if flag:
            values[setting.name], origins[setting.name] = flag, "flag"
        elif env:
            values[setting.name], origins[setting.name] = env, "env"
        elif setting.name in data:
            values[setting.name], origins[setting.name] = data[setting.name], "config"
        else:
            values[setting.name], origins[setting.name] = setting.default, "default"
        if setting.choices and values[setting.name] not in setting.choices:
            raise ConfigError(f"{setting.name} = {values[setting.name]!r} (from {origins[setting.name]}) "
                              f"is not one of {', '.join(setting.choices)}")
    if values["db"]:
        values["db"] = str(Path(values["db"]).expanduser()) if "://" not in values["db"] else values["db"]
    sections = {name: data[name] for name in SECTIONS if name in data}
    return Settings(values, origins, path, sections)
