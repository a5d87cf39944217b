"""Settings: flag > environment > config file > default, and config errors that say where and how to fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spendtag import settings
from spendtag.errors import ConfigError

NAMES = [s.name for s in settings.SETTINGS]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The config file the autouse fixture points SPENDTAG_CONFIG at (not yet written)."""
    path = Path(os.environ["SPENDTAG_CONFIG"])
    assert path.parent == tmp_path
    return path


def test_every_setting_has_an_env_var_and_help() -> None:
    for s in settings.SETTINGS:
        assert s.env == "SPENDTAG_" + s.name.upper()
        assert s.help.strip()
        assert not s.choices or s.default in s.choices


def test_defaults_when_nothing_is_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SPENDTAG_DB")
    loaded = settings.load()
    assert dict(loaded.values) == {"db": "", "tz": "UTC", "unpriced_policy": "warn", "client_key": "client",
                                   "session_titles": "on"}
    assert set(loaded.origins.values()) == {"default"}
    assert loaded.db == str(settings.default_db_path())
    assert str(loaded.db).startswith(str(tmp_path / "home"))    # HOME is isolated per test


@pytest.mark.parametrize(
    ("name", "flag", "env", "conf", "default"),
    [
        ("tz", "Asia/Kolkata", "Europe/Berlin", "Asia/Kathmandu", "UTC"),
        ("unpriced_policy", "block", "allow", "block", "warn"),
        ("client_key", "customer", "account", "tenant", "client"),
        ("session_titles", "off", "on", "off", "on"),
    ],
)
def test_precedence_flag_env_config_default(monkeypatch: pytest.MonkeyPatch, config: Path, name: str, flag: str,
                                            env: str, conf: str, default: str) -> None:
    var = f"SPENDTAG_{name.upper()}"

    def resolved(flags: dict[str, str | None] | None = None) -> tuple[str, str]:
        loaded = settings.load(flags)
        return loaded[name], loaded.origins[name]

    assert resolved() == (default, "default")
    config.write_text(f'{name} = "{conf}"\n', encoding="utf-8")
    assert resolved() == (conf, "config")
    monkeypatch.setenv(var, env)
    assert resolved() == (env, "env")
    assert resolved({name: flag}) == (flag, "flag")
    assert resolved({name: None}) == (env, "env")     # an unset flag is not a value
    monkeypatch.delenv(var)
    assert resolved({name: flag}) == (flag, "flag")


def test_db_from_env_and_flag(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, config: Path) -> None:
    config.write_text('db = "~/from-config.db"\n', encoding="utf-8")
    assert settings.load()["db"] == str(tmp_path / "ledger.db")             # SPENDTAG_DB from the fixture
    monkeypatch.delenv("SPENDTAG_DB")
    loaded = settings.load()
    assert (loaded.db, loaded.origins["db"]) == (str(tmp_path / "home" / "from-config.db"), "config")
    loaded = settings.load({"db": "sqlite:///~/keep.db"})
    assert (loaded.db, loaded.origins["db"]) == ("sqlite:///~/keep.db", "flag")   # URLs are not expanded


def test_config_path_comes_from_env(config: Path) -> None:
    assert settings.config_path() == config
    assert settings.load().config_path == config


def test_price_sections_are_kept(config: Path) -> None:
    config.write_text('tz = "UTC"\n\n[[prices]]\nmodel = "my-llm"\ninput = "0"\noutput = "0"\n', encoding="utf-8")
    loaded = settings.load()
    assert loaded.sections == {"prices": [{"model": "my-llm", "input": "0", "output": "0"}]}


def test_bad_choice_from_env_names_its_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPENDTAG_UNPRICED_POLICY", "ignore")
    with pytest.raises(ConfigError) as info:
        settings.load()
    assert str(info.value) == "unpriced_policy = 'ignore' (from env) is not one of allow, warn, block"


def test_bad_choice_from_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"'sometimes' \(from flag\)"):
        settings.load({"unpriced_policy": "sometimes"})


# -- read_config errors -----------------------------------------------------------------------


def _error(config: Path, text: str) -> ConfigError:
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        settings.read_config(config)
    return info.value


def test_missing_config_is_empty(config: Path) -> None:
    assert settings.read_config(config) == {}


def test_unknown_key_names_path_line_and_fix(config: Path) -> None:
    err = _error(config, '# my settings\ntz = "UTC"\n# timezone = "x"\ntimezone = "Europe/Berlin"\n')
    known = ", ".join([*(s.name for s in settings.SETTINGS), *settings.SECTIONS])
    assert str(err) == f"{config}:4: unknown setting 'timezone' (fix: use one of: {known})"
    assert known.startswith("db, tz, unpriced_policy, client_key, session_titles, prices, budgets, alerts, "
                            "attribution")
    assert (err.path, err.line) == (str(config), 4)


def test_bad_choice_names_path_line_and_fix(config: Path) -> None:
    err = _error(config, 'tz = "UTC"\n  unpriced_policy   =   "ignore"\n')
    assert str(err) == f"{config}:2: unpriced_policy = 'ignore' is not allowed (fix: use one of: allow, warn, block)"


def test_non_string_value_names_path_line_and_fix(config: Path) -> None:
    err = _error(config, 'db = "x.db"\ntz = 5\n')
    assert str(err) == f'{config}:2: tz must be a string (fix: write tz = "5")'


def test_invalid_toml_names_path_line_and_fix(config: Path) -> None:
    err = _error(config, 'db = "x.db"\n\ntz = Europe/Berlin\n')
    text = str(err)
    assert text.startswith(f"{config}:3: not valid TOML:")
    assert "(fix: check quoting and brackets on that line)" in text
    assert err.line == 3


@pytest.mark.parametrize("blank", ["\n", "\n\n", "   \n"])
def test_line_number_is_right_after_blank_lines(config: Path, blank: str) -> None:
    err = _error(config, 'tz = "UTC"\n' + blank + 'unpriced_policy = "ignore"\n')
    line = 2 + blank.count("\n")
    assert err.line == line
    assert str(err).startswith(f"{config}:{line}: unpriced_policy = 'ignore' is not allowed")


def test_unknown_table_names_its_line(config: Path) -> None:
    err = _error(config, 'tz = "UTC"\n\n[server]\nport = "8080"\n')
    assert f"{config}:3:" in str(err)
    assert "'server'" in str(err) and "fix:" in str(err)


def test_unclosed_array_at_end_of_file_names_a_line(config: Path) -> None:
    err = _error(config, 'db = "x.db"\ntz = ["UTC"\n')
    assert err.line is not None
    assert f"{config}:{err.line}:" in str(err) and "fix:" in str(err)


def test_config_that_is_not_utf8_is_a_config_error(config: Path) -> None:
    config.write_bytes(b'tz = "Europe/Z\xfcrich"\n')
    with pytest.raises(ConfigError) as info:
        settings.read_config(config)
    assert str(config) in str(info.value) and "fix:" in str(info.value)


def test_unreadable_config_names_the_path(config: Path) -> None:
    config.mkdir()
    with pytest.raises(ConfigError) as info:
        settings.read_config(config)
    assert str(info.value).startswith(f"{config}: cannot read the config file")


def test_load_reports_config_errors(config: Path) -> None:
    config.write_text('colour = "blue"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{config}:1: unknown setting 'colour'"):
        settings.load()
