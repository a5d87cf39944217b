"""Kimi CLI session wires: steps, a sub-agent seen twice, the model from config.toml, the work dir from kimi.json."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from agent_import_support import FIXTURES, copy_tree, pico, recorded, rules, run

from spendtag.capture.agents import LogFile, discover, read
from spendtag.usage import Usage

SHARE = FIXTURES / "kimi-cli" / ".kimi"
SESSION = "3f0c2a9e-8d1b-4c6a-b7e5-0a1b2c3d4e5f"
NUCLEUS = "/home/dev/clients/hooli/nucleus"
WIRE = SHARE / "sessions" / hashlib.md5(NUCLEUS.encode()).hexdigest() / SESSION / "wire.jsonl"

# event id -> (usage, agent); every call is kimi-k2-turbo-preview (config.toml's default model)
EXPECTED = {
    "kimi-cli:chatcmpl-k2a1": (Usage(input_tokens=1200, cache_read_tokens=8000, output_tokens=300), "kimi-cli"),
    # In the parent's wire as a SubagentEvent and in the sub-agent's own wire: once.
    "kimi-cli:chatcmpl-sub1": (Usage(input_tokens=2000, cache_read_tokens=4000, output_tokens=150), "kimi-cli/coder"),
    "kimi-cli:chatcmpl-sub2": (Usage(input_tokens=100, cache_read_tokens=6000, output_tokens=20), "kimi-cli/coder"),
    # A step without a message id: named by its session and time.
    f"kimi-cli:{SESSION}:1767621640000000": (Usage(input_tokens=500, output_tokens=50), "kimi-cli"),
}


def test_fixture_import_exact_calls_costs_and_client(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    config = rules(tmp_path, {"/home/dev/clients/hooli/**": "hooli"})
    out = run(db, "import", "kimi-cli", str(SHARE / "sessions"), config=config)
    assert "2 files (0 unchanged): 4 new calls, 1 already recorded, 2 malformed lines skipped" in out
    got = recorded(db)
    assert set(got) == set(EXPECTED)
    for event_id, (usage, agent) in EXPECTED.items():
        p = got[event_id]
        e = p.event
        assert (e.provider, e.model, e.usage, e.agent, e.session) == ("moonshotai", "kimi-k2-turbo-preview", usage,
                                                                      agent, SESSION)
        assert (e.project, e.tags, e.source) == (NUCLEUS, {"client": "hooli"}, "kimi-cli")
        assert p.cost.total == pico("kimi-k2-turbo-preview", usage.input_tokens, usage.cache_read_tokens, 0,
                                    usage.output_tokens)
    assert got["kimi-cli:chatcmpl-k2a1"].event.ts.isoformat() == "2026-01-05T14:00:05.500000+00:00"
    assert got["kimi-cli:chatcmpl-k2a1"].event.response_id == "chatcmpl-k2a1"
    assert "0 new calls" in run(db, "import", "kimi-cli", str(SHARE / "sessions"))


def test_bad_lines_are_counted_and_context_updates_are_not_calls() -> None:
    result = read(LogFile("kimi-cli", WIRE, SHARE / "sessions"))
    assert (result.lines, result.malformed, result.skipped, len(result.events)) == (11, 2, 6, 3)
    assert result.problems[1].endswith("token_usage.output must be a whole number of tokens, got -1")


def test_without_config_the_model_is_unknown_and_unpriced(tmp_path: Path) -> None:
    share = copy_tree(SHARE, tmp_path / ".kimi")
    (share / "config.toml").unlink()
    db = tmp_path / "ledger.db"
    run(db, "import", "kimi-cli", str(share / "sessions"))
    got = recorded(db)
    assert {(p.event.provider, p.event.model, p.cost.priced) for p in got.values()} == {("unknown", "unknown",
                                                                                         False)}


@pytest.mark.parametrize("plat", ["linux", "darwin", "win32"])
def test_discovery_in_each_platforms_places(tmp_path: Path, plat: str) -> None:
    home = tmp_path / "home"
    copy_tree(SHARE, home / ".kimi")
    assert len(discover("kimi-cli", env={}, home=home, plat=plat)) == 2
    moved = copy_tree(SHARE, tmp_path / "share")
    found = discover("kimi-cli", env={"KIMI_SHARE_DIR": str(moved)}, home=tmp_path / "empty", plat=plat)
    assert len(found) == 2 and all(moved in f.path.parents for f in found)


def test_a_path_is_sniffed_as_kimi() -> None:
    assert {f.agent for f in discover(None, SHARE)} == {"kimi-cli"}


def test_any_mutated_line_is_skipped_and_counted(tmp_path: Path) -> None:
    import random

    lines = WIRE.read_bytes().split(b"\n")[:-1]
    for seed in range(30):
        rnd = random.Random(seed)
        mixed = [line[:(cut := rnd.randrange(len(line) + 1))] + rnd.choice([b"\xff", b'"', b"}", b"-", b"9" * 30])
                 + line[cut:] if rnd.random() < 0.4 else line for line in lines]
        share = tmp_path / f"s{seed}"
        wire = share / "sessions" / "h" / SESSION / "wire.jsonl"
        wire.parent.mkdir(parents=True)
        wire.write_bytes(b"\n".join(mixed) + b"\n")
        result = read(LogFile("kimi-cli", wire, share / "sessions"))
        assert result.lines == len(mixed) and result.offset == wire.stat().st_size
        assert len(result.events) + result.skipped + result.malformed == len(mixed)
