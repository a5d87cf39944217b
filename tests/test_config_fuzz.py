"""Fuzz the config loader: every mutated config either loads or is one ConfigError that names the file,
the line and the fix (issue 19). Nothing else may escape: no traceback for a user's config file.

The corpus (tests/config_corpus.py) gives every key of a config that sets every section every
kind of wrong value, misspells, deletes and repeats each key, breaks each table header, and
damages the file's bytes (truncation, flipped bits, invalid UTF-8, a BOM, CRLF, NUL bytes,
deep nesting, a very long line). Hypothesis adds arbitrary TOML values under arbitrary keys.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from config_corpus import FULL, VALUES, load_every_section, mutations
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendtag.errors import ConfigError

LIMIT_BYTES_SHOWN = 300


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment variables full.toml names (secrets come from the environment, never the file)."""
    for name, value in (("SPENDTAG_TEST_WEBHOOK_SECRET", "s3cret"), ("SPENDTAG_TEST_WEBHOOK_URL", "https://h.example/x"),
                        ("SPENDTAG_TEST_SMTP_PASSWORD", "pw")):
        monkeypatch.setenv(name, value)


def outcome(path: Path, data: bytes) -> tuple[str, int | None, str]:
    """``("ok", None, "")`` or ``("error", line, message)``; anything but a well-formed ConfigError fails the test."""
    path.unlink(missing_ok=True)    # a new file: rewriting one in place waits for the disk (ext4), ~1 ms a time
    path.write_bytes(data)
    try:
        load_every_section()
    except ConfigError as exc:
        text = str(exc)
        m = re.match(rf"{re.escape(str(path))}:(\d+): (.+)", text, re.DOTALL)
        assert m, f"no file and line in: {text[:LIMIT_BYTES_SHOWN]}"
        line = int(m[1])
        assert 1 <= line <= max(1, data.count(b"\n") + 1), text[:LIMIT_BYTES_SHOWN]
        assert "(fix: " in text and exc.fix, text[:LIMIT_BYTES_SHOWN]
        assert "Traceback" not in text
        return "error", line, text
    return "ok", None, ""


def test_the_seed_config_loads() -> None:
    Path(os.environ["SPENDTAG_CONFIG"]).write_bytes(FULL.read_bytes())
    load_every_section()


def test_every_mutation_loads_or_is_one_config_error_naming_file_line_and_fix() -> None:
    path = Path(os.environ["SPENDTAG_CONFIG"])
    counts = {"ok": 0, "error": 0}
    at_the_line = errors_of_one_line = typos = typos_answered = 0
    cases = list(mutations())
    for name, data, changed in cases:
        try:
            kind, line, message = outcome(path, data)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - the point: name the mutation that escaped
            raise AssertionError(f"{name}: {type(exc).__name__}: {exc}"[:LIMIT_BYTES_SHOWN]) from exc
        counts[kind] += 1
        if kind == "error" and changed is not None:
            errors_of_one_line += 1
            at_the_line += line == changed
        if kind == "error" and ": typo " in name:
            typos += 1
            typos_answered += "did you mean" in message
    assert len(cases) > 2500
    # Most mutations are wrong; some are right (a rate of 5, a limit of 0.1): both happen.
    assert counts["error"] > 2000 and counts["ok"] > 100, counts
    # An error caused by one line points at that line, bar a few checks across keys (a
    # password that would cross the network once starttls is false) and repeated keys.
    assert at_the_line / errors_of_one_line > 0.95, (at_the_line, errors_of_one_line)
    # A misspelt key is answered with the one meant. The rest are errors the typo caused
    # elsewhere (a required key now missing, or a TOML error where a table's key repeats).
    assert typos_answered / typos > 0.9, (typos_answered, typos)


def test_each_wrong_type_points_at_its_own_line() -> None:
    """For a key given a value of the wrong kind, the error's line is that key's line, in every section."""
    path = Path(os.environ["SPENDTAG_CONFIG"])
    lines = FULL.read_text(encoding="utf-8").splitlines()
    wrong_kind = {"true": "a boolean", "[1, 2]": "a list of numbers", "{ a = 1 }": "a table"}
    checked = 0
    for i, line in enumerate(lines):
        m = re.match(r'^(\s*)([A-Za-z0-9_]+)(\s*=\s*)(.*)$', line)
        if not m or m[2] in ("allow_unsigned", "starttls", "ssl", "access_log", "forecast_alert",  # booleans
                             "shared_budgets", "scope", "notify_percent", "notify_amount", "channels", "to",
                             "metric_tags", "show_cost"):
            continue
        for value in wrong_kind:
            data = ("\n".join([*lines[:i], f"{m[1]}{m[2]}{m[3]}{value}", *lines[i + 1:]]) + "\n").encode()
            kind, got, _ = outcome(path, data)
            assert (kind, got) == ("error", i + 1), f"line {i + 1}: {m[2]} = {value}"
            checked += 1
    assert checked > 200


toml_scalars = st.one_of(
    st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40), st.sampled_from(VALUES),
)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(str(value), repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    text = str(value)
    if text in VALUES:
        return text
    return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in text
                         if not 0xD800 <= ord(c) <= 0xDFFF) + '"'


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=st.integers(min_value=0, max_value=10_000), value=st.one_of(toml_scalars, st.lists(toml_scalars,
                                                                                               max_size=4)))
def test_any_value_on_any_line_loads_or_is_a_config_error(line: int, value: Any) -> None:
    path = Path(os.environ["SPENDTAG_CONFIG"])
    lines = FULL.read_text(encoding="utf-8").splitlines()
    keyed = [i for i, text in enumerate(lines) if re.match(r"^\s*(\"[^\"]*\"|[A-Za-z0-9_.-]+)\s*=", text)]
    i = keyed[line % len(keyed)]
    key = lines[i].split("=", 1)[0]
    data = ("\n".join([*lines[:i], f"{key}= {_toml(value)}", *lines[i + 1:]]) + "\n").encode("utf-8")
    outcome(path, data)
