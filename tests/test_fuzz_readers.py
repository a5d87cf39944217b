"""Every reader under mutated input (issue 19): a bad line is skipped and counted, never fatal.

The corpus comes from the repository's own fixtures and generated agent trees
(``fuzz_corpus``). Two kinds of test:

* **Exactness**: lines broken so that they must be refused are mixed among valid ones; the
  result must equal that of the valid lines read alone, every broken line counted as
  malformed, and a second run must record nothing new.
* **Anything goes**: lines broken in every way (bytes, depth, numbers, encoding, shape);
  nothing may escape, the import commits, a re-run records nothing, reports still work.

Each test is seeded and bounded (a few thousand lines in all); hypothesis runs few examples.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import re
from collections import Counter
from collections.abc import MutableMapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from agent_trees import BUCKETS, ClaudeTreeGenerator, CodexTreeGenerator
from click.testing import CliRunner, Result
from fuzz_corpus import (
    ANY_MUTATIONS,
    BAD_COUNTS,
    FORMATS,
    Raw,
    bad_claude_line,
    bad_codex_line,
    bad_event_line,
    dump,
    fixture_lines,
    mutate,
    nested,
    normalised_lines,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendtag.capture.agents import LogFile, read
from spendtag.cli.main import cli
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.providers_api import anthropic as anthropic_api
from spendtag.providers_api.http import AdminClient, Response, RetryPolicy
from spendtag.server.intake import otlp
from spendtag.server.intake.app import create_app
from spendtag.server.intake.events import parse_batch

SEEDS = (1, 2)


# -- helpers -----------------------------------------------------------------------------------


def invoke(*args: str, db: Path | None = None, input: str | None = None) -> Result:
    env = {"COLUMNS": "200"}
    if db is not None:
        env["SPENDTAG_DB"] = str(db)
    result = CliRunner().invoke(cli, list(args), input=input, env=env)
    # Nothing escapes: a user's problem is one line and exit status 2, anything else is a bug.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def ok(*args: str, db: Path | None = None) -> str:
    result = invoke(*args, db=db)
    assert result.exit_code == 0, result.output
    return result.output


def totals(db: Path, by: str) -> dict[str, Counter[str]]:
    store = open_store(str(db))
    try:
        out: dict[str, Counter[str]] = {}
        for a in store.aggregate(Filters(), [by]):
            counter = Counter({b: a.totals[b] for b in (*BUCKETS, "cost")})
            counter["calls"] = a.totals.requests
            counter["unpriced"] = a.totals["unpriced_requests"]
            out[str(a.key[0])] = +counter
        return out
    finally:
        store.close()


def event_ids(db: Path) -> set[str]:
    store = open_store(str(db))
    try:
        return {p.event.event_id for p in store.events(Filters())}
    finally:
        store.close()


def malformed_of(output: str) -> int:
    found = re.search(r"([\d,]+) malformed", output)
    assert found, output
    return int(found.group(1).replace(",", ""))


def new_calls(output: str) -> int:
    found = re.search(r"([\d,]+) new (?:calls|events)", output)
    assert found, output
    return int(found.group(1).replace(",", ""))


def rewrite(files: list[Path], src_root: Path, dst_root: Path, lines_of: dict[Path, list[bytes]]) -> None:
    for path in files:
        target = dst_root / path.relative_to(src_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"".join(line + b"\n" for line in lines_of[path]))


def is_claude_call_line(line: bytes) -> bool:
    """An assistant line (or a sub-agent's, in a progress line) of a real, billed call."""
    try:
        rec = json.loads(line)
    except ValueError:
        return False
    if not isinstance(rec, dict):
        return False
    if rec.get("type") == "progress":
        rec = (rec.get("data") or {}).get("message") or {}
    message = rec.get("message")
    return (rec.get("type") == "assistant" and isinstance(message, dict) and isinstance(message.get("usage"), dict)
            and message.get("model") != "<synthetic>" and not rec.get("isApiErrorMessage")
            and isinstance(message.get("id"), str))


# -- Claude Code ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_claude_code_bad_lines_among_valid_ones_change_nothing_but_the_malformed_count(tmp_path: Path,
                                                                                      seed: int) -> None:
    rng = random.Random(seed)
    tree = ClaudeTreeGenerator(seed=seed).write(tmp_path / "src", sessions_per_project=2, calls_per_session=10)
    mixed: dict[Path, list[bytes]] = {}
    valid: dict[Path, list[bytes]] = {}
    bad = 0
    for path in tree.files:
        data = path.read_bytes()
        body, _, tail = data.rpartition(b"\n")
        mixed[path], valid[path] = [], []
        for line in body.split(b"\n"):
            call = is_claude_call_line(line)
            if call and rng.random() < 0.25:      # a copy broken in place: its siblings must still count
                mixed[path].append(bad_claude_line(rng, line))
                bad += 1
                continue
            mixed[path].append(line)
            valid[path].append(line)
            if call and rng.random() < 0.15:      # a broken extra copy of the same call
                mixed[path].append(bad_claude_line(rng, line))
                bad += 1
        if tail:                                   # a last line still being written stays so
            mixed[path].append(tail)
            valid[path].append(tail)
    assert bad > 50
    rewrite(tree.files, tree.root, tmp_path / "mixed", mixed)
    rewrite(tree.files, tree.root, tmp_path / "valid", valid)
    for path in tree.files:   # (the unterminated tail keeps no newline)
        for root in (tmp_path / "mixed", tmp_path / "valid"):
            target = root / path.relative_to(tree.root)
            if not path.read_bytes().endswith(b"\n"):
                target.write_bytes(target.read_bytes()[:-1])

    alone_db, mixed_db = tmp_path / "alone.db", tmp_path / "mixed.db"
    alone = ok("import", "claude-code", str(tmp_path / "valid"), db=alone_db)
    out = ok("import", "claude-code", str(tmp_path / "mixed"), db=mixed_db)
    assert malformed_of(out) == malformed_of(alone) + bad
    assert new_calls(out) == new_calls(alone) > 0
    for by in ("model", "session", "project", "agent"):
        assert totals(mixed_db, by) == totals(alone_db, by), by
    assert event_ids(mixed_db) == event_ids(alone_db)
    # Every problem names its file and line.
    assert re.search(r"skipped .*\.jsonl:\d+: ", out)
    again = ok("import", "claude-code", str(tmp_path / "mixed"), db=mixed_db)
    assert new_calls(again) == 0


@pytest.mark.parametrize("seed", SEEDS)
def test_claude_code_any_mutation_never_stops_the_import(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    tree = ClaudeTreeGenerator(seed=seed + 10).write(tmp_path / "src", sessions_per_project=2, calls_per_session=8)
    lines_of: dict[Path, list[bytes]] = {}
    must_be_malformed = 0
    for path in tree.files:
        lines_of[path] = []
        for line in path.read_bytes().split(b"\n")[:-1]:
            if rng.random() < 0.4:
                line = mutate(rng, line)
                text = line.decode("utf-8", errors="replace")
                try:
                    readable = isinstance(json.loads(text), dict)
                except (ValueError, RecursionError):
                    readable = False
                if not readable and b'"assistant"' in line:
                    must_be_malformed += 1
            lines_of[path].append(line)
    rewrite(tree.files, tree.root, tmp_path / "mut", lines_of)
    db = tmp_path / "l.db"
    out = ok("import", "claude-code", str(tmp_path / "mut"), db=db)
    assert malformed_of(out) >= must_be_malformed > 0
    assert new_calls(ok("import", "claude-code", str(tmp_path / "mut"), db=db)) == 0
    report = json.loads(ok("report", "--by", "project", "--format", "json", db=db))
    assert report["total"]["requests"] == new_calls(out)
    for by in ("model", "session", "project", "agent"):   # every text stored is valid UTF-8
        for key in totals(db, by):
            key.encode("utf-8")


def _claude_line(msg: str, req: str, out: int, *, ts: str = "2026-03-01T10:00:00.000Z", stop: str | None = None,
                 **extra: Any) -> str:
    usage: dict[str, Any] = {"input_tokens": 10, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000,
                             "output_tokens": out, "cache_creation": {"ephemeral_5m_input_tokens": 100,
                                                                      "ephemeral_1h_input_tokens": 0}}
    rec = {"type": "assistant", "sessionId": "s1", "cwd": "/home/u/p", "timestamp": ts, "requestId": req,
           "message": {"id": msg, "model": "claude-sonnet-4-5-20250929", "stop_reason": stop, "usage": usage}, **extra}
    return dump(rec)


def _project(tmp_path: Path, *lines: str | bytes) -> Path:
    folder = tmp_path / "projects" / "-home-u-p"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "s1.jsonl"
    path.write_bytes(b"".join((line.encode() if isinstance(line, str) else line) + b"\n" for line in lines))
    return tmp_path / "projects"


def test_regression_a_bad_timestamp_copy_among_valid_copies(tmp_path: Path) -> None:
    # The largest copy has an impossible date: it is malformed alone, the call is kept from its
    # largest valid copy (it used to be chosen, then dropped with its valid siblings).
    root = _project(tmp_path,
                    _claude_line("msg_a", "req_a", 3),
                    _claude_line("msg_a", "req_a", 500, ts="2026-13-45T10:00:00.000Z"),
                    _claude_line("msg_a", "req_a", 200, stop="end_turn"),
                    _claude_line("msg_b", "req_b", 7, stop="end_turn"))
    db = tmp_path / "l.db"
    out = ok("import", "claude-code", str(root), db=db)
    assert new_calls(out) == 2 and malformed_of(out) == 1
    assert "s1.jsonl:2: message msg_a: no readable timestamp within 2000-2100" in out
    assert totals(db, "model")["claude-sonnet-4-5-20250929"]["output_tokens"] == 207
    assert new_calls(ok("import", "claude-code", str(root), db=db)) == 0


@pytest.mark.parametrize("value", [Raw("1e30"), 10**30, Raw("1e400"), -1, Raw("NaN"), Raw("Infinity"), 10**12 + 1])
def test_regression_a_count_out_of_bounds_is_one_malformed_line_and_the_file_commits(tmp_path: Path,
                                                                                      value: Any) -> None:
    broken = json.loads(_claude_line("msg_x", "req_x", 5, stop="end_turn"))
    broken["message"]["usage"]["output_tokens"] = value
    root = _project(tmp_path, dump(broken), _claude_line("msg_ok", "req_ok", 7, stop="end_turn"))
    db = tmp_path / "l.db"
    out = ok("import", "claude-code", str(root), db=db)
    assert (new_calls(out), malformed_of(out)) == (1, 1)
    assert re.search(r"s1\.jsonl:1: message msg_x: .*(output_tokens|usage)", out), out
    assert new_calls(ok("import", "claude-code", str(root), db=db)) == 0
    ok("report", "--format", "json", db=db)


def test_regression_lone_surrogate_and_invalid_bytes_in_cwd_are_stored_as_replacement(tmp_path: Path) -> None:
    lone = _claude_line("msg_a", "req_a", 5, stop="end_turn").replace('"/home/u/p"', '"/home/\\ud800/p"')
    raw = _claude_line("msg_b", "req_b", 6, stop="end_turn").encode().replace(b'"/home/u/p"', b'"/home/\xff/q"')
    root = _project(tmp_path, lone, raw)
    db = tmp_path / "l.db"
    out = ok("import", "claude-code", str(root), db=db)
    assert (new_calls(out), malformed_of(out)) == (2, 0)
    assert set(totals(db, "project")) == {"/home/\ufffd/p", "/home/\ufffd/q"}
    assert new_calls(ok("import", "claude-code", str(root), db=db)) == 0


def test_regression_a_thousand_nested_brackets_are_one_malformed_line(tmp_path: Path) -> None:
    deep = json.loads(_claude_line("msg_x", "req_x", 5, stop="end_turn"))
    deep["message"]["content"] = nested(1000)
    deeper = json.loads(_claude_line("msg_y", "req_y", 5, stop="end_turn"))
    deeper["message"]["usage"] = nested(5000)
    root = _project(tmp_path, dump(deep), dump(deeper), _claude_line("msg_ok", "req_ok", 7, stop="end_turn"))
    db = tmp_path / "l.db"
    out = ok("import", "claude-code", str(root), db=db)
    assert new_calls(out) == 1 and malformed_of(out) == 2
    assert new_calls(ok("import", "claude-code", str(root), db=db)) == 0


# -- Codex -------------------------------------------------------------------------------------


def _codex_usage_line(line: bytes) -> bool:
    try:
        rec = json.loads(line)
    except ValueError:
        return False
    payload = rec.get("payload") if isinstance(rec, dict) else None
    return (isinstance(payload, dict) and payload.get("type") == "token_count"
            and isinstance(payload.get("info"), dict))


@pytest.mark.parametrize("seed", SEEDS)
def test_codex_bad_lines_and_corrupted_duplicates_change_nothing(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    tree = CodexTreeGenerator(seed=seed).write(tmp_path / "src", days=2, sessions_per_day=2, calls_per_session=10)
    mixed: dict[Path, list[bytes]] = {}
    valid: dict[Path, list[bytes]] = {}
    bad = 0
    for path in tree.files:
        mixed[path], valid[path] = [], []
        previous = b""
        for line in path.read_bytes().split(b"\n")[:-1]:
            usage = _codex_usage_line(line)
            duplicate = usage and json.loads(line)["payload"] == json.loads(previous or b"{}").get("payload")
            if usage and (duplicate or rng.random() < 0.2):
                # Every duplicate, and some calls, broken: a corrupted duplicate is malformed, never
                # a new call; a corrupted first copy leaves its duplicate to stand for the call.
                mixed[path].append(bad_codex_line(rng, line))
                bad += 1
            else:
                mixed[path].append(line)
                valid[path].append(line)
            previous = line
    assert bad > 20
    rewrite(tree.files, tree.root, tmp_path / "mixed", mixed)
    rewrite(tree.files, tree.root, tmp_path / "valid", valid)
    alone_db, mixed_db = tmp_path / "alone.db", tmp_path / "mixed.db"
    alone = ok("import", "codex", str(tmp_path / "valid"), db=alone_db)
    out = ok("import", "codex", str(tmp_path / "mixed"), db=mixed_db)
    assert malformed_of(out) == malformed_of(alone) + bad
    assert new_calls(out) == new_calls(alone) > 0
    for by in ("model", "session", "project"):
        assert totals(mixed_db, by) == totals(alone_db, by), by
    assert event_ids(mixed_db) == event_ids(alone_db)
    assert new_calls(ok("import", "codex", str(tmp_path / "mixed"), db=mixed_db)) == 0


def test_regression_codex_duplicate_with_a_corrupted_total_is_not_a_new_call(tmp_path: Path) -> None:
    lines = (FORMATS / "agents" / "codex_rollout.jsonl").read_bytes().split(b"\n")
    first = next(i for i, line in enumerate(lines) if _codex_usage_line(line))
    copy_ = json.loads(lines[first])
    copy_["timestamp"] = copy_["timestamp"][:-4] + "999Z"
    copy_["payload"]["info"]["total_token_usage"]["total_tokens"] = -14691
    for name, data in (("plain", lines), ("corrupted", [*lines[:first + 1], dump(copy_).encode(), *lines[first + 1:]])):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "rollout-2026-01-05T09-00-00-0199f3a2-7c4e-7b21-9d3a-5e6f7a8b9c0d.jsonl").write_bytes(
            b"\n".join(data))
    plain = read(LogFile("codex", next((tmp_path / "plain").iterdir()), tmp_path))
    corrupted = read(LogFile("codex", next((tmp_path / "corrupted").iterdir()), tmp_path))
    assert [e.event_id for e in corrupted.events] == [e.event_id for e in plain.events]
    assert corrupted.malformed == plain.malformed + 1
    assert any("total_tokens (-14691)" in p or "-14691" in p for p in corrupted.problems), corrupted.problems


# -- Gemini CLI ----------------------------------------------------------------------------------


def _gemini_records() -> list[dict[str, Any]]:
    doc = json.loads((FORMATS / "agents" / "gemini_cli_otel_logs_api_response.json").read_text())
    out = []
    for rl in doc["resourceLogs"]:
        for sl in rl["scopeLogs"]:
            out.extend(sl["logRecords"])
    return out


def test_gemini_cli_bad_records_among_valid_ones(tmp_path: Path) -> None:
    rng = random.Random(5)
    base = _gemini_records()
    valid, mixed, bad = [], [], 0
    for n in range(60):
        rec = copy.deepcopy(rng.choice(base))
        rec["timeUnixNano"] = str(1767609000000000000 + n * 1_000_000_000)
        for a in rec["attributes"]:
            if a["key"] in ("event.timestamp", "event.id", "log.record.uid"):
                a["value"] = {"stringValue": f"2026-01-05T10:{n // 60:02d}:{n % 60:02d}.000Z"} \
                    if a["key"] == "event.timestamp" else {"stringValue": f"id-{n}"}
        line = dump(rec).encode()
        valid.append(line)
        mixed.append(line)
        if rng.random() < 0.4:
            broken = copy.deepcopy(rec)
            counts = [a for a in broken["attributes"]   # (the total is not read: its sum is known)
                      if a["key"].endswith("_token_count") and a["key"] != "total_token_count"]
            kind = rng.randrange(3)
            if kind == 0 and counts:
                rng.choice(counts)["value"] = rng.choice(
                    ({"intValue": "-5"}, {"intValue": 10**13}, {"stringValue": "NaN"}, {"doubleValue": 1.5}))
            else:
                broken["attributes"] = [a for a in broken["attributes"] if a["key"] != "event.timestamp"]
                broken["timeUnixNano"] = rng.choice(("99999999999999999999999999", "-5", "NaN"))
                broken.pop("observedTimeUnixNano", None)
            mixed.append(dump(broken).encode())
            bad += 1
        if rng.random() < 0.1:
            mixed.append(dump({"attributes": {"event.name": "gemini_cli.api_response"}, "x": nested(2000)}).encode())
            bad += 1
    paths = []
    for name, lines in (("valid", valid), ("mixed", mixed)):
        path = tmp_path / f"{name}.log"
        path.write_bytes(b"\n".join(lines) + b"\n")
        paths.append(path)
    alone = read(LogFile("gemini-cli", paths[0], tmp_path))
    got = read(LogFile("gemini-cli", paths[1], tmp_path))
    assert sorted((e.event_id, e.usage) for e in got.events) == sorted((e.event_id, e.usage) for e in alone.events)
    assert got.malformed == alone.malformed + bad and bad > 5


def test_gemini_cli_any_mutation_never_fails(tmp_path: Path) -> None:
    rng = random.Random(6)
    lines = [dump(r).encode() for r in _gemini_records()] * 20
    path = tmp_path / "telemetry.log"
    path.write_bytes(b"\n".join(mutate(rng, line) if rng.random() < 0.5 else line for line in lines) + b"\n")
    result = read(LogFile("gemini-cli", path, tmp_path))
    assert result.malformed > 0
    for event in result.events:
        event.model.encode("utf-8")


# -- spendtag ingest -------------------------------------------------------------------------------


def test_ingest_bad_lines_among_valid_ones(tmp_path: Path) -> None:
    rng = random.Random(8)
    responses = [line for line in fixture_lines() if b'"usage' in line and b'"ts"' not in line
                 and b"custom_id" not in line and b'"model"' in line]
    valid = [*normalised_lines(80, rng), *responses[:6]]
    mixed: list[bytes] = []
    bad = 0
    for line in valid:
        mixed.append(line)
        if line.startswith(b'{"provider"') and rng.random() < 0.5:
            mixed.append(bad_event_line(rng, line))
            bad += 1
    valid_file, mixed_file = tmp_path / "valid.jsonl", tmp_path / "mixed.jsonl"
    valid_file.write_bytes(b"\n".join(valid) + b"\n")
    mixed_file.write_bytes(b"\n".join(mixed) + b"\n")
    alone_db, mixed_db = tmp_path / "alone.db", tmp_path / "mixed.db"
    alone = ok("ingest", str(valid_file), db=alone_db)
    out = ok("ingest", str(mixed_file), db=mixed_db)
    assert malformed_of(alone) == 0 and malformed_of(out) == bad > 10
    assert new_calls(out) == new_calls(alone) == len(valid)
    for by in ("model", "project", "tag:client"):
        assert totals(mixed_db, by) == totals(alone_db, by), by
    assert "mixed.jsonl:" in out
    assert new_calls(ok("ingest", str(mixed_file), db=mixed_db)) == 0


def test_ingest_any_mutation_never_fails(tmp_path: Path) -> None:
    rng = random.Random(9)
    seeds = [*normalised_lines(40, rng), *fixture_lines()]
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(mutate(rng, rng.choice(seeds)) for _ in range(400)) + b"\n")
    db = tmp_path / "l.db"
    out = ok("ingest", str(path), db=db)
    assert malformed_of(out) > 0
    assert new_calls(ok("ingest", str(path), db=db)) == 0
    ok("report", "--by", "project", "--format", "json", db=db)


def test_regression_ingest_invalid_byte_huge_time_and_missing_file(tmp_path: Path) -> None:
    good = normalised_lines(2, random.Random(1))
    path = tmp_path / "in.jsonl"
    huge = json.loads(good[1])
    huge["ts"] = Raw("1e30")
    huge["event_id"] = "huge"
    first = good[0].replace(b'"project":', b'"agent":"b\xffd","project":')
    path.write_bytes(first + b"\n" + dump(huge).encode() + b"\n" + b"\xff\n" + good[1] + b"\n")
    db = tmp_path / "l.db"
    out = ok("ingest", str(path), db=db)
    assert new_calls(out) == 2 and malformed_of(out) == 2
    assert "in.jsonl:2: ts 1e+30 is not a time" in out
    missing = invoke("ingest", str(tmp_path / "nope.jsonl"), db=db)
    assert missing.exit_code != 0
    assert missing.exit_code == 2 and "Traceback" not in missing.output
    assert "nope.jsonl' does not exist" in missing.output.strip().splitlines()[-1]    # click's own one line


# -- POST /v1/events ---------------------------------------------------------------------------------


def test_events_body_bad_items_among_valid_ones() -> None:
    rng = random.Random(10)
    valid = [json.loads(line) for line in normalised_lines(30, rng)]
    bad_items: list[Any] = []
    for _ in range(20):
        text = bad_event_line(rng, dump(rng.choice(valid)).encode())
        try:
            bad_items.append(json.loads(text.decode("utf-8", errors="replace")))
        except (ValueError, RecursionError):
            bad_items.append(5)
    body = dump([*valid[:15], *bad_items, *valid[15:]]).encode()
    events, problems = parse_batch(body, "application/json")
    alone, none = parse_batch(dump(valid).encode(), "application/json")
    assert [(e.event_id, e.usage) for e in events] == [(e.event_id, e.usage) for e in alone] and none == []
    assert len(problems) == len(bad_items)


def _post(app: Any, path: str, body: bytes, content_type: str = "application/json") -> tuple[int, Any]:
    scope = {"type": "http", "method": "POST", "path": path, "headers": [(b"content-type", content_type.encode())]}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], json.loads(sent[1]["body"] or b"{}")


# -- OTLP --------------------------------------------------------------------------------------------


def _otlp(name: str) -> dict[str, Any]:
    doc = json.loads((FORMATS / "agents" / name).read_text())
    if "attributes" in doc and isinstance(doc["attributes"], dict):   # a bare span: as an exporter sends it
        span = {**doc, "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
                "endTimeUnixNano": "1767609000000000000",
                "attributes": [{"key": k, "value": {"intValue": str(v)} if isinstance(v, int) else
                                {"stringValue": str(v)}} for k, v in doc["attributes"].items()]}
        doc = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [span]}]}]}
    return doc


OTLP_BAD_VALUES = ({"intValue": "-5"}, {"intValue": str(10**13)}, {"stringValue": "NaN"}, {"doubleValue": 1.5},
                   {"stringValue": "Infinity"}, {"stringValue": "1e400"})


def _spread(doc: dict[str, Any], n: int, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any], int]:
    """``doc`` with its records copied ``n`` times (distinct ids and times), some of them broken;
    the same without the broken ones; and how many were broken."""
    top = next(k for k in doc if k.startswith("resource"))
    scope_key, list_key = {"resourceSpans": ("scopeSpans", "spans"), "resourceLogs": ("scopeLogs", "logRecords"),
                           "resourceMetrics": ("scopeMetrics", "metrics")}[top]
    originals = [r for res in doc[top] for sc in res[scope_key] for r in sc[list_key]]
    mixed, valid = [], []
    for i in range(n):
        rec = copy.deepcopy(originals[i % len(originals)])
        for key in ("spanId", "timeUnixNano", "endTimeUnixNano"):
            if key in rec:
                rec[key] = f"{int(rec[key], 16) + i:016x}" if key == "spanId" else str(int(rec[key]) + i * 10**9)
        for a in rec.get("attributes", []):
            if a["key"] in ("request_id", "event.sequence", "prompt_id"):
                a["value"] = {"stringValue": f"{a['key']}-{i}"}
        if rng.random() < 0.3:
            counts = [a for a in rec.get("attributes", []) if a["key"].endswith(("tokens", "_token_count"))]
            if counts and rng.random() < 0.7:
                rng.choice(counts)["value"] = rng.choice(OTLP_BAD_VALUES)
            else:
                time_key = "endTimeUnixNano" if "endTimeUnixNano" in rec else "timeUnixNano"
                rec[time_key] = rng.choice(("1" + "0" * 30, "-5", "NaN"))
                rec["attributes"] = [a for a in rec["attributes"] if a["key"] != "event.timestamp"]
            mixed.append(rec)
            continue
        mixed.append(rec)
        valid.append(rec)

    def with_records(records: list[Any]) -> dict[str, Any]:
        out = copy.deepcopy(doc)
        res = out[top][0]
        res[scope_key] = [{**res[scope_key][0], list_key: records}]
        out[top] = [res]
        return out

    return with_records(mixed), with_records(valid), len(mixed) - len(valid)


@pytest.mark.parametrize("name,signal", [("otel_genai_span_from_anthropic.json", "traces"),
                                         ("claude_code_otel_logs_api_request.json", "logs"),
                                         ("gemini_cli_otel_logs_api_response.json", "logs")])
def test_otlp_bad_records_among_valid_ones(name: str, signal: str) -> None:
    read_ = otlp.events_from_traces if signal == "traces" else otlp.events_from_logs
    mixed, valid, bad = _spread(_otlp(name), 40, random.Random(3))
    rejected = otlp.Rejected()
    got = list(read_(mixed, rejected))
    alone = list(read_(valid))
    assert rejected.count == bad > 3 and len(got) == 40 - bad
    assert [(e.event_id, e.usage, e.ts) for e in got] == [(e.event_id, e.usage, e.ts) for e in alone]


def test_otlp_any_mutation_is_answered_never_a_500(tmp_path: Path) -> None:
    rng = random.Random(12)
    app = create_app(str(tmp_path / "otlp.db"))
    try:
        payloads = [("traces", _otlp("otel_genai_span_from_anthropic.json")),
                    ("logs", _otlp("claude_code_otel_logs_api_request.json")),
                    ("logs", _otlp("gemini_cli_otel_logs_api_response.json")),
                    ("metrics", _otlp("claude_code_otel_metrics_delta.json"))]
        statuses = Counter()
        for _ in range(60):
            signal, doc = rng.choice(payloads)
            body = json.dumps(doc).encode()
            if rng.random() < 0.5:
                body = mutate(rng, body)
            else:   # a part of the payload replaced by a wrong shape
                text = dump(doc)
                body = text.replace(rng.choice(('"resource":', '"attributes":', '"value":', '"spans":',
                                                '"logRecords":', '"dataPoints":', '"asInt":')),
                                    '"x":' + rng.choice(('5', '"s"', 'null', '[[[[1]]]]', nested(1200).text)) + ',"y":',
                                    1).encode()
            status, answer = _post(app, f"/v1/{signal}", body)
            statuses[status] += 1
            assert status in (200, 400), (status, answer)
            assert isinstance(answer, dict)
        status, answer = _post(app, "/v1/logs", json.dumps({"resourceLogs": 5}).encode())   # not OTLP at all
        assert status == 400 and "resourceLogs must be a list" in answer["message"]
        assert statuses[200] > 0
    finally:
        app.writer.close()


def test_otlp_rejected_records_are_said_in_the_answer(tmp_path: Path) -> None:
    app = create_app(str(tmp_path / "otlp.db"))
    try:
        doc, _, bad = _spread(_otlp("claude_code_otel_logs_api_request.json"), 20, random.Random(4))
        status, answer = _post(app, "/v1/logs", json.dumps(doc).encode())
        assert status == 200 and answer["partialSuccess"]["rejectedLogRecords"] == bad > 0
        assert "logRecords[" in answer["partialSuccess"]["errorMessage"]
    finally:
        app.writer.close()


def test_otlp_metrics_bad_points_are_rejected_alone() -> None:
    doc = _otlp("claude_code_otel_metrics_delta.json")
    broken = copy.deepcopy(doc)
    points = [p for rm in broken["resourceMetrics"] for sm in rm["scopeMetrics"] for m in sm["metrics"]
              if m.get("name") == "claude_code.token.usage" for p in m["sum"]["dataPoints"]]
    points[0]["asDouble"] = "NaN"
    points[0].pop("asInt", None)
    points[1]["asInt"] = "-40"
    points[1].pop("asDouble", None)
    rejected = otlp.Rejected()
    calls = otlp.claude_code_metric_calls(broken, rejected)
    assert rejected.count == 2 and len(calls) >= 1
    assert all(getattr(c.event.usage, b) >= 0 for c in calls for b in ("input_tokens", "output_tokens"))


# -- provider usage and cost pulls -------------------------------------------------------------------


class _Pages:
    """A fake admin API answering every GET with one stored page."""

    def __init__(self, page: bytes) -> None:
        self.page = page

    def get(self, url: str, headers: Any, timeout: float) -> Response:
        return Response(200, {}, self.page)


def _pull_rows(page: dict[str, Any], report: str) -> Any:
    api = AdminClient("http://127.0.0.1:9", {}, transport=_Pages(dump(page).encode()),
                      policy=RetryPolicy(attempts=1), sleep=lambda s: None)
    fetch = anthropic_api.fetch_usage if report == "usage" else anthropic_api.fetch_costs
    return fetch(api, date(2026, 1, 1), date(2026, 2, 1))


@pytest.mark.parametrize("name,report", [("anthropic_usage_report_messages_page1.json", "usage"),
                                         ("anthropic_cost_report.json", "cost")])
def test_pull_bad_rows_make_their_day_incomplete_and_nothing_else(name: str, report: str) -> None:
    rng = random.Random(13)
    page = json.loads((FORMATS / "admin" / name).read_text())
    page["has_more"] = False
    plain = _pull_rows(page, report)
    broken = copy.deepcopy(page)
    bad_days = set()
    for bucket in broken["data"]:
        for row in bucket["results"]:
            if rng.random() < 0.5:
                field = "amount" if report == "cost" else "output_tokens"
                row[field] = rng.choice(("1e999999999", "NaN", 10**20, -5, "x")) \
                    if report == "cost" else rng.choice((-5, 10**16, Raw("NaN"), Raw("1e30"), "12", [1]))
                bad_days.add(date.fromisoformat(bucket["starting_at"][:10]))
    got = _pull_rows(broken, report)
    assert bad_days and set(got.missing) >= bad_days and "malformed row" in got.error
    assert got.rows == [r for r in plain.rows if r.day not in bad_days]
    for _ in range(30):   # and anything at all in a page is an error said, never an exception
        mutated = mutate(rng, dump(page).encode())
        api = AdminClient("http://127.0.0.1:9", {}, transport=_Pages(mutated), policy=RetryPolicy(attempts=1),
                          sleep=lambda s: None)
        anthropic_api.fetch_usage(api, date(2026, 1, 1), date(2026, 2, 1))


# -- spendtag record and record-cost ------------------------------------------------------------------

_NUMBERS = st.one_of(st.integers(min_value=-(10**20), max_value=10**20), st.floats(allow_nan=True),
                     st.sampled_from([10**12, 10**12 + 1, 2**63, -1, 0]), st.text(max_size=5),
                     st.sampled_from(["\ud800", None, True, [], {}]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(usage=st.dictionaries(st.sampled_from(["input_tokens", "output_tokens", "cache_read_input_tokens",
                                              "cache_creation_input_tokens", "prompt_tokens"]), _NUMBERS,
                             min_size=1, max_size=4),
       project=st.text(max_size=8))
def test_record_any_usage_is_recorded_or_refused_in_one_line(tmp_path: Path, usage: dict[str, Any],
                                                            project: str) -> None:
    db = tmp_path / "h.db"
    text = json.dumps(usage, allow_nan=True)
    args = ["record", "--provider", "anthropic", "--model", "claude-sonnet-4-5", "--usage", text,
            "--ts", "2026-03-01T10:00:00Z"]
    if project and "\x00" not in project:
        args += ["--project", project]
    result = invoke(*args, db=db)
    if result.exit_code:
        assert result.output.startswith("error: ") and result.output.strip().count("\n") == 0, result.output
    report = json.loads(ok("report", "--by", "project", "--format", "json", db=db))
    assert report["total"]["requests"] >= (1 if result.exit_code == 0 else 0)


def test_regression_record_of_huge_counts_keeps_reports_working(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    first = invoke("record", "--provider", "anthropic", "--model", "claude-sonnet-4-5", "--usage",
                   '{"input_tokens": 1000000000000, "output_tokens": 1}', db=db)
    assert first.exit_code == 0 and "unpriced" in first.output and "above the bound of $100,000" in first.output
    second = invoke("record", "--provider", "anthropic", "--model", "claude-sonnet-4-5", "--usage",
                    '{"input_tokens": 1500000000000, "output_tokens": 1}', db=db)
    assert second.exit_code == 2 and "input_tokens is 1500000000000, above the bound of 1e+12" in second.output
    report = json.loads(ok("report", "--format", "json", db=db))
    assert report["total"]["requests"] == 1 and report["total"]["unpriced_requests"] == 1
    assert report["total"]["tokens"]["input_tokens"] == 10**12


@pytest.mark.parametrize("amount", ["100000.01", "1e400", "1e999999999", "-5", "NaN"])
def test_record_cost_out_of_bounds_is_refused_in_one_line(tmp_path: Path, amount: str) -> None:
    result = invoke("record-cost", amount, "--tag", "client=acme", db=tmp_path / "l.db")
    assert result.exit_code != 0 and result.output.startswith("error: "), result.output
    assert result.output.strip().count("\n") == 0


def test_record_cost_at_the_bound_and_a_report_past_2_63_pico_usd(tmp_path: Path) -> None:
    # 100 costs at the bound: $10,000,000, more than a signed 64-bit sum of pico-USD holds.
    db = tmp_path / "l.db"
    for day in range(100):
        ok("record-cost", "100000", "--tag", "client=acme", "--date",
           date.fromordinal(date(2026, 1, 1).toordinal() + day).isoformat(), db=db)
    report = json.loads(ok("report", "--format", "json", db=db))
    assert report["total"]["cost_usd"] == "10000000.00"
    by_month = json.loads(ok("report", "--by", "month", "--format", "json", db=db))
    assert sum(int(r["requests"]) for r in by_month["rows"]) == 100


def test_fuzz_corpus_covers_every_mutation() -> None:
    rng = random.Random(14)
    line = fixture_lines()[0]
    names = {m.__name__ for m in ANY_MUTATIONS}
    assert names >= {"byte_flip", "truncate", "delete_key", "duplicate_key", "wrong_type", "huge_or_negative",
                     "not_a_number", "weird_text", "invalid_utf8", "deep_nesting", "bom", "crlf", "very_long"}
    for m in ANY_MUTATIONS:
        assert m(rng, line) != line, m.__name__
    assert len(BAD_COUNTS) > 5
