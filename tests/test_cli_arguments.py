"""A user's mistake on the command line is one line and a non-zero exit, never a traceback (issue 19).

Regression tests for what the issue found (``record-cost abc`` and its kin raising
MoneyError, ``--db /dev/null``, ``--db mysql://h/x`` making a folder and reporting $0,
``export --output`` replacing a symlink, FIFO or device) and for what the CLI fuzz found
next to them (huge counts, bad dates, non-UTF-8 arguments, ``key==value`` tags).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from spendtag.cli.main import cli

SONNET = '{"input_tokens": 1000, "output_tokens": 100}'


def invoke(*args: str, input: str | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), input=input, env={"COLUMNS": "160"})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result


def refused(*args: str) -> str:
    """The one error line of a refused command (exit status 2; click's own usage lines aside)."""
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.lower().startswith("error")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def seed() -> None:
    assert invoke("record", "--provider", "anthropic", "--model", "claude-sonnet-4-5", "--usage", SONNET,
                  "--tag", "client=acme", "--event-id", "a1", "--ts", "2026-03-14T10:00:00Z").exit_code == 0


# -- money ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "expected"), [
    (("record-cost", "abc"), "error: cost 'abc' is not an amount: give USD, e.g. 49.00"),
    (("record-cost", "1e400", "--tag", "client=acme"),
     "error: cost '1e400' is too large: at most $1,000,000.00 per fixed cost"),
    (("sessions", "--min-cost", "abc"),
     "Error: Invalid value for '--min-cost': 'abc': not an amount: 'abc' (expected something like 49.00) "
     "(give USD, e.g. 49.00)"),
    (("forecast", "--limit", "1e400"),
     "Error: Invalid value for '--limit': '1e400': 1e400 USD is more than one amount may be (at most 1,000,000 USD) "
     "(give USD, e.g. 49.00)"),
    (("budget", "set", "b", "--monthly", "1e400"), "Error: Invalid value for '--monthly': '1e400': 1e400 USD is more"),
    (("budget", "set", "b", "--monthly", "NaN"), "Error: Invalid value for '--monthly': 'NaN': not a finite amount"),
    (("budget", "set", "b", "--monthly", "10", "--notify-at-amount", "x"),
     "Error: Invalid value for '--notify-at-amount': 'x'"),
    (("keys", "create", "acme", "--budget-monthly", "lots"), "Error: Invalid value for '--budget-monthly': 'lots'"),
    (("invoice", "--client", "acme", "--period", "2026-03", "--fixed-fee", "1e400"),
     "error: --fixed-fee: 1e400 USD is more than one amount may be"),
])
def test_amounts_that_are_not_money_are_one_line(args: tuple[str, ...], expected: str) -> None:
    seed()
    assert refused(*args).startswith(expected)


# -- numbers, dates, text ---------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "expected"), [
    (("prices", "remove", "99999999999999999999999"), "Error: Invalid value for 'OVERRIDE_ID'"),
    (("pull", "status", "--limit", "99999999999999999999999"), "Error: Invalid value for '--limit'"),
    (("blocks", "--days", "99999999999999999999999"), "Error: Invalid value for '--days'"),
    (("anomalies", "--hours", "99999999999999999999999"), "Error: Invalid value for '--hours'"),
    (("report", "--limit", "-1"), "Error: Invalid value for '--limit'"),
    (("prices", "override", "m", "--input", "1", "--from", "2026-13-45"),
     "Error: Invalid value for '--from': '2026-13-45' is not a day: give one such as 2026-03-01"),
    (("prices", "override", "m", "--input", "1e400"), "error: --input must be a number from 0 to 1,000,000"),
    (("budget", "set", "b", "--total", "10", "--from", "next week"),
     "Error: Invalid value for '--from': 'next week' is not a day"),
    (("budget", "set", "b", "--monthly", "10", "--notify-at", "1e400"), "Error: Invalid value for '--notify-at'"),
    (("budget", "set", "b", "--monthly", "10", "--channel", "opz"),
     "Error: Invalid value for '--channel': 'opz' is not a configured alert channel"),
    (("proxy", "--port", "99999"), "Error: Invalid value for '--port'"),
    (("serve", "--port", "-1"), "Error: Invalid value for '--port'"),
    (("run", "--port", "99999", "--", "true"), "Error: Invalid value for '--port'"),
    (("watch", "--interval", "nan"), "Error: Invalid value for '--interval': 'nan': give seconds from 0.1 to 3600"),
    (("import", "--workers", "99999999999999999999999"), "Error: Invalid value for '--workers'"),
    (("record-cost", "1,2,3", "--tag", "client=acme"), "error: cost '1,2,3' is not an amount"),
    (("pull", "anthropic", "--since", "2026-03-01", "--base-url", "ftp://x"),
     "Error: Invalid value for '--base-url': 'ftp://x' is not an http(s) URL with a host"),
])
def test_numbers_dates_and_urls_out_of_range_are_one_line(args: tuple[str, ...], expected: str) -> None:
    assert refused(*args).startswith(expected)


@pytest.mark.parametrize("args", [
    ("record", "--provider", "anthropic", "--usage", SONNET, "--tag", "client==acme"),
    ("record-cost", "5", "--tag", "a==b"),
    ("report", "--tag", "client==acme"),
    ("budget", "set", "b", "--monthly", "10", "--scope", "client==acme"),
])
def test_a_tag_written_with_two_equals_signs_is_refused(args: tuple[str, ...]) -> None:
    assert "write one '=' between key and value, e.g. client=acme" in refused(*args)


@pytest.mark.parametrize("args", [
    ("report", "--session", "s\udcff"),
    ("record-cost", "5", "--note", "caf\udce9"),
    ("invoice", "list", "--client", "\udcff"),
    ("record", "--provider", "anthropic", "--usage", SONNET, "--model", "\udcff"),
])
def test_an_argument_that_is_not_utf8_is_one_line(args: tuple[str, ...]) -> None:
    assert "is not valid UTF-8 text" in refused(*args)


def test_a_file_name_that_is_not_utf8_still_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    name = os.fsdecode(b"usage-\xff.jsonl")             # a Latin-1 file name, as the shell passes it
    line = {"provider": "anthropic", "model": "claude-sonnet-4-5", "usage": json.loads(SONNET),
            "ts": "2026-03-14T10:00:00Z"}
    Path(name).write_text(json.dumps(line) + "\n")
    assert invoke("ingest", name).exit_code == 0


def test_ingest_of_a_file_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    assert "does not exist" in refused("ingest", str(tmp_path / "nope.jsonl"))


# -- the ledger -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "expected"), [
    ("mysql://h/x", "error: 'mysql://h/x': spendtag cannot keep a ledger in mysql: use a file path, "
                    "sqlite:///absolute/path.db, sqlite:relative.db or postgresql://user@host/db"),
    ("https://example.com/ledger.db", "spendtag cannot keep a ledger in https"),
    ("file:ledger.db", "spendtag cannot keep a ledger in file"),
    ("sqlite://ledger.db", "names no SQLite file: write sqlite:///absolute/path.db (three slashes)"),
    ("sqlite:", "names no SQLite file"),
])
def test_a_database_url_spendtag_cannot_use_is_refused_and_nothing_is_made(
        url: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for command in (("report",), ("record-cost", "5", "--tag", "client=a"), ("db", "migrate")):
        assert expected in refused("--db", url, *command)
    assert os.listdir(tmp_path) == []                   # no "mysql:" folder, no ledger reporting $0


def test_a_device_as_the_ledger_is_refused_before_sqlite_opens_it() -> None:
    assert refused("--db", "/dev/null", "report") == (
        "error: cannot open the ledger at /dev/null: it is not a regular file (give a ledger file, or a new file name)")
    assert not Path("/dev/null-journal").exists() and not Path("/dev/null-wal").exists()


@pytest.mark.parametrize("kind", ["folder", "fifo", "text", "damaged"])
def test_a_ledger_path_that_is_no_ledger_is_one_line(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "text":
        path.write_text("not a database\n" * 100)
    else:
        good = tmp_path / "good.db"
        assert invoke("--db", str(good), "record-cost", "5", "--tag", "client=a").exit_code == 0
        with sqlite3.connect(good) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        data = good.read_bytes()
        path.write_bytes(data[:100] + b"\xff" * 400 + data[500:len(data) // 2])
    line = refused("--db", str(path), "report")
    assert line.startswith(f"error: cannot open the ledger at {path}: ") or line.startswith("error: the ledger cannot")


# -- output files -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "expected"), [
    ("symlink", "it is a symbolic link, not a regular file"),
    ("dangling symlink", "it is a symbolic link, not a regular file"),
    ("fifo", "it is a FIFO (named pipe), not a regular file"),
    ("missing folder", "the folder"),
    ("file as folder", "Not a directory"),
])
def test_export_writes_only_a_regular_file_or_a_new_path(kind: str, expected: str, tmp_path: Path) -> None:
    seed()
    kept = tmp_path / "kept.txt"
    kept.write_text("keep me\n")
    target = tmp_path / "out.csv"
    if kind == "symlink":
        target.symlink_to(kept)
    elif kind == "dangling symlink":
        target.symlink_to(tmp_path / "elsewhere.csv")
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "missing folder":
        target = tmp_path / "missing" / "out.csv"
    else:
        target = kept / "out.csv"
    line = refused("export", "--output", str(target))
    assert line.startswith("error: ") and expected in line
    assert kept.read_text() == "keep me\n"
    made = {p.name for p in tmp_path.iterdir()} - {"ledger.db", "ledger.db-wal", "ledger.db-shm"}
    assert made == {"kept.txt"} | ({"out.csv"} if kind in ("symlink", "dangling symlink", "fifo") else set())
    if kind in ("symlink", "dangling symlink"):
        assert target.is_symlink()
    if kind == "fifo":
        assert not target.is_file() and target.exists()


def test_a_device_is_never_a_place_to_write() -> None:
    from spendtag.cli.target import output_path
    from spendtag.errors import SpendtagError

    # Checked without writing: the bug renamed a file over /dev/full when run as root.
    with pytest.raises(SpendtagError, match=r"^will not write /dev/full: it is a device, not a regular file"):
        output_path("/dev/full")


def test_export_replaces_a_regular_file_and_leaves_no_partial_file(tmp_path: Path) -> None:
    seed()
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    assert invoke("export", "--output", str(target)).exit_code == 0
    assert target.read_text().startswith("event_id,")
    assert not (tmp_path / "out.csv.partial").exists()


def test_invoice_output_is_checked_before_anything_is_issued(tmp_path: Path) -> None:
    seed()
    os.mkfifo(tmp_path / "inv.txt")
    line = refused("invoice", "--client", "acme", "--period", "2026-03", "--issue",
                   "--output", str(tmp_path / "inv.txt"))
    assert "it is a FIFO (named pipe), not a regular file" in line
    assert "no invoices issued" in invoke("invoice", "list").output


@pytest.mark.parametrize("kind", ["fifo", "long name", "not settings"])
def test_hook_install_refuses_what_it_cannot_update(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "long name":
        path = tmp_path / ("x" * 300)
    else:
        path.write_text("[1, 2]\n")
    assert refused("hook", "install", "--settings", str(path))


def test_hook_install_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "settings.json"
    real.parent.mkdir()
    real.write_text('{"model": "opus"}\n')
    link = tmp_path / "settings.json"
    link.symlink_to(real)
    assert invoke("hook", "install", "--settings", str(link)).exit_code == 0
    assert link.is_symlink()
    hooks = json.loads(real.read_text())["hooks"]
    assert hooks["SessionStart"][0]["hooks"][0]["command"] == "spendtag hook claude-code"
