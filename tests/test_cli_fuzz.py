"""Fuzz the command line's argument parsing (issue 19): every command, every option and argument,
bad values of every kind, through click's CliRunner over the real ``spendtag`` group.

Asserted for every run: no exception escapes (no traceback), and a refusal (exit status 2)
is one error line. Asserted for values that are wrong whatever the command (an amount that
is not money, a day that is not a date, a count out of range, a ``key==value`` tag, a format
that does not exist, a ledger URL or file spendtag cannot use): the command refuses them.

Commands that serve, run a child or watch forever (serve, proxy, run, watch, demo, and the
pulls, which would call a provider) are left out of the blind part; their bad arguments are
in tests/test_cli_arguments.py.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from spendtag.cli.main import cli
from spendtag.cli.params import Amount, Day

SONNET = '{"input_tokens": 1000, "output_tokens": 100}'
LEFT_OUT = {"serve", "proxy", "run", "watch", "demo", "pull anthropic", "pull openai", "statusline",
            "hook claude-code", "hook codex", "hook gemini-cli", "hook qwen-code", "hook droid"}
# What a command needs besides the value under test: (arguments, options).
NEEDS: dict[str, tuple[list[str], dict[str, str]]] = {
    "record": ([], {"--provider": "anthropic", "--usage": SONNET}),
    "record-cost": (["5"], {}),
    "compare": (["client=acme"], {}),
    "budget set": (["b1"], {"--monthly": "10"}),
    "budget show": (["b1"], {}),
    "reconcile": ([], {"--provider": "anthropic", "--period": "2026-03"}),
    "tag session": (["s1", "client=acme"], {}),
    "invoice": ([], {"--client": "acme", "--period": "2026-03"}),
    "keys create": (["k1"], {}),
    "tokens add": (["t1"], {}),
    "prices override": (["m1"], {"--input": "1"}),
    "prices show": (["claude-sonnet-4-5"], {}),
    "event": (["a1"], {}),
    "session": (["s1"], {}),
}
TEXT = ["", "abc", "a==b", "=", "-1", "1e400", "NaN", "2026-13-45", "s\udcff", "x" * 3000, "client=", "=acme", "!",
        "0", "$-5", "1,2,3", "%", "../../etc", "\t", "client=acme,", "{}", "-", "--help"]
NUMBERS = ["abc", "-1", "99999999999999999999999", "1.5", "", "1e3", "0x10"]
NOT_MONEY = ["abc", "NaN", "1e400", "-inf", "1e999999999", "$$5", "1,,,", "\udcff", ""]
NOT_DAYS = ["2026-13-45", "next week", "2026-02-30", "1e400", "", "26-03-01"]
BAD_DATES = ["2026-13-45", "yesterday-ish", "2026-02-30T25:00:00Z", "9999999999"]
SELECTOR_OPTIONS = {"--tag", "--scope"}
DATE_OPTIONS = {"--since", "--until", "--period", "--date", "--ts", "--issued-on"}


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Path]]:
    """A ledger with a call, agent homes that are empty, and paths of every awkward kind, all in tmp_path;
    the working directory is tmp_path too, so a relative name written by a command stays there."""
    monkeypatch.chdir(tmp_path)
    for name in ("CLAUDE_CONFIG_DIR", "CODEX_HOME", "GEMINI_CLI_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    for name in ("ANTHROPIC_ADMIN_KEY", "OPENAI_ADMIN_KEY"):
        monkeypatch.delenv(name, raising=False)
    result = run("record", "--provider", "anthropic", "--model", "claude-sonnet-4-5", "--usage", SONNET,
                 "--tag", "client=acme", "--session", "s1", "--event-id", "a1", "--ts", "2026-03-14T10:00:00Z")
    assert result.exit_code == 0, result.output
    paths = {"folder": tmp_path / "folder", "text": tmp_path / "notes.txt", "fifo": tmp_path / "fifo",
             "missing": tmp_path / "missing" / "dir" / "x.csv", "dangling": tmp_path / "dangling",
             "json": tmp_path / "prices.json"}
    paths["folder"].mkdir()
    paths["text"].write_text("not what anything expects\n\xff\n", errors="surrogateescape")
    os.mkfifo(paths["fifo"])
    paths["dangling"].symlink_to(tmp_path / "nowhere")
    paths["json"].write_text(json.dumps({"x": 1}))
    yield paths


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "120"}, input="")


def check(args: list[str]) -> Result:
    """Run; no traceback; a refusal is one error line."""
    result = run(*args)
    shown = [a[:40] for a in args]
    assert result.exception is None or isinstance(result.exception, SystemExit), (shown, repr(result.exception))
    assert "Traceback" not in result.output, shown
    if result.exit_code == 2:
        errors = [line for line in result.stderr.splitlines() if line.lower().startswith("error")]
        assert len(errors) == 1, (shown, result.stderr[-500:])
    return result


def commands() -> Iterator[tuple[list[str], click.Command]]:
    ctx = click.Context(cli)

    def walk(group: click.Group, prefix: list[str]) -> Iterator[tuple[list[str], click.Command]]:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if isinstance(command, click.Group):
                yield from walk(command, [*prefix, name])
            elif command is not None and " ".join([*prefix, name]) not in LEFT_OUT:
                yield [*prefix, name], command

    yield from walk(cli, [])


def invocation(path: list[str], command: click.Command, param: click.Parameter, value: str) -> list[str]:
    """The command with what it needs, and ``value`` for ``param``."""
    needs_args, needs_opts = NEEDS.get(" ".join(path), ([], {}))
    positional = [p for p in command.params if isinstance(p, click.Argument)]
    args = list(needs_args) + ["x"] * max(0, sum(p.required for p in positional) - len(needs_args))
    options = dict(needs_opts)
    if isinstance(param, click.Argument):
        at = positional.index(param)
        args = [*args, *["x"] * (at + 1 - len(args))]
        args[at] = value
        tail = ["--", *args] if any(a.startswith("-") for a in args) else args
        return [*path, *[x for kv in options.items() for x in kv], *tail]
    options[param.opts[0]] = value
    return [*path, *[x for kv in options.items() for x in kv], *args]


def values_for(param: click.Parameter, paths: dict[str, Path]) -> list[str]:
    kind = param.type
    if isinstance(kind, click.Path):
        reads = not (param.name or "").startswith(("output", "settings"))
        found = [str(p) for name, p in paths.items() if not (reads and name == "fifo")]  # a FIFO is read as a pipe
        return [*found, "x" * 300, ""]
    if isinstance(kind, click.Choice):
        return ["xml", "", "\udcff"]
    if isinstance(kind, Amount):
        return NOT_MONEY
    if isinstance(kind, Day):
        return NOT_DAYS
    if isinstance(kind, click.types.IntParamType | click.types.FloatParamType):
        return NUMBERS
    return TEXT


def cases(paths: dict[str, Path]) -> list[tuple[list[str], click.Command, click.Parameter, str]]:
    found = []
    for path, command in commands():
        for param in command.params:
            if param.name == "help" or (isinstance(param, click.Option) and param.is_flag):
                continue
            found += [(path, command, param, value) for value in values_for(param, paths)]
    return found


def test_no_bad_argument_to_any_command_gives_a_traceback(world: dict[str, Path]) -> None:
    every = cases(world)
    assert len(every) > 2500
    # A seeded sample keeps the run to seconds; every command and option is in it.
    sample = random.Random(19).sample(every, 1500)
    covered = {" ".join(p) for p, *_ in sample}
    for case in every:   # and every command at least once, however many options the others add
        if " ".join(case[0]) not in covered:
            covered.add(" ".join(case[0]))
            sample.append(case)
    assert {" ".join(p) for p, *_ in sample} == {" ".join(p) for p, *_ in every}
    refused = 0
    for path, command, param, value in sample:
        result = check(invocation(path, command, param, value))
        refused += result.exit_code != 0
    assert refused > 500


def test_values_wrong_for_every_command_are_refused(world: dict[str, Path]) -> None:
    checked = 0
    for path, command, param, _ in {(tuple(p), c, q, "") for p, c, q, _ in cases(world)}:
        if not isinstance(param, click.Option):
            continue
        opt = param.opts[0]
        if isinstance(param.type, Amount):
            wrong = NOT_MONEY
        elif isinstance(param.type, Day):
            wrong = NOT_DAYS
        elif isinstance(param.type, click.IntRange):
            wrong = ["abc", "99999999999999999999999", "-5"]
        elif isinstance(param.type, click.Choice):
            wrong = ["xml"]
        elif opt in SELECTOR_OPTIONS:
            wrong = ["a==b", "=acme", "client==acme", "\udcff"]
        elif opt in DATE_OPTIONS:
            wrong = BAD_DATES
        else:
            continue
        for value in wrong:
            result = check(invocation(list(path), command, param, value))
            assert result.exit_code != 0, (path, opt, value, result.output[-300:])
            checked += 1
    assert checked > 300


@pytest.mark.parametrize("db", ["mysql://h/x", "http://example.com/x.db", "file:x.db", "sqlite://x.db", "sqlite:",
                                "redis://localhost:6379/0", "postgresql+psycopg://h/x"])
def test_a_ledger_url_spendtag_cannot_use_is_refused_by_every_command_that_opens_it(
        db: str, world: dict[str, Path], tmp_path: Path) -> None:
    before = set(os.listdir(tmp_path))
    for command in (["report"], ["export"], ["record-cost", "5"], ["budget", "list"], ["sessions"], ["db", "migrate"],
                    ["invoice", "list"], ["keys", "list"], ["prices", "overrides"], ["check"], ["forecast"]):
        result = check(["--db", db, *command])
        assert result.exit_code == 2, (command, result.output)
        assert "ledger" in result.stderr or "SQLite" in result.stderr
    assert set(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("kind", ["folder", "text", "fifo"])
def test_a_ledger_file_that_is_not_a_ledger_is_refused_by_every_command(kind: str, world: dict[str, Path]) -> None:
    for command in (["report"], ["export"], ["record-cost", "5"], ["budget", "list"], ["db", "migrate"]):
        result = check(["--db", str(world[kind]), *command])
        assert result.exit_code == 2, (command, result.output)
