"""Gemini CLI telemetry: the OTLP fixture, the JS SDK's own records, concatenated and unfinished files."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from agent_trees import grow_and_read, read_whole, snapshot
from conftest import fixture_path
from hypothesis import given, settings
from hypothesis import strategies as st

from spendtag.capture.agents import LogFile, read
from spendtag.usage import Usage

SESSION = "c0ffee00-1234-4abc-9def-0123456789ab"


def test_fixture_gives_one_call_with_thoughts_as_output() -> None:
    path = fixture_path("agents", "gemini_cli_otel_logs_api_response.json")
    result = read(LogFile("gemini-cli", path, path.parent))
    (event,) = result.events
    # 18211 input includes 16384 cached; 402 output + 911 thoughts are billed as output.
    assert event.usage == Usage(input_tokens=1827, cache_read_tokens=16384, output_tokens=1313, reasoning_tokens=911)
    assert event.usage.total_tokens == 19524   # the record's own total_token_count
    assert (event.provider, event.model, event.session, event.agent, event.source, event.status) == (
        "google", "gemini-2.5-pro", SESSION, "gemini-cli", "gemini-cli", "ok")
    assert event.ts.isoformat() == "2026-01-05T10:30:00+00:00"
    assert event.event_id == f"gemini-cli:{SESSION}:{SESSION}########3:2026-01-05T10:30:00.000Z"
    assert (result.offset, result.lines, result.malformed, result.skipped) == (path.stat().st_size, 1, 0, 0)


def _js_record(prompt: str, second: int, **counts: Any) -> dict[str, Any]:
    """A record as the CLI's own file exporter writes it: plain attributes, hrTime."""
    attrs = {"session.id": "s-1", "event.name": "gemini_cli.api_response", "model": "gemini-2.5-flash",
             "prompt_id": prompt, "status_code": 200, "input_token_count": 1000, "output_token_count": 50,
             "cached_content_token_count": 600, "thoughts_token_count": 20, "tool_token_count": 7}
    attrs.update(counts)
    return {"hrTime": [1767609000 + second, 5_000], "attributes": attrs, "body": "API response"}


def _other_record() -> dict[str, Any]:
    return {"hrTime": [1767609000, 0], "attributes": {"event.name": "gemini_cli.user_prompt", "prompt_length": 5}}


def test_js_records_pretty_printed_one_after_another(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.log"
    path.write_text("".join(json.dumps(r, indent=2) + "\n" for r in (
        _js_record("p#1", 1), _other_record(), _js_record("p#1", 9, status_code=429, input_token_count=0,
                                                          output_token_count=0, cached_content_token_count=0,
                                                          thoughts_token_count=0, tool_token_count=0))))
    result = read(LogFile("gemini-cli", path, tmp_path))
    first, failed = result.events
    assert first.usage == Usage(input_tokens=407, cache_read_tokens=600, output_tokens=70, reasoning_tokens=20)
    assert first.event_id == "gemini-cli:s-1:p#1:1767609001.000005000"
    assert failed.status == "error" and failed.usage == Usage()
    assert (result.lines, result.skipped, result.malformed) == (3, 1, 0)


def test_unfinished_object_waits_and_garbage_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.log"
    whole = json.dumps(_js_record("p#2", 2), indent=2)
    path.write_text(json.dumps(_js_record("p#1", 1)) + "\n" + "garbage {{\n" + json.dumps(_js_record("p#3", 3))
                    + "\n" + whole[: len(whole) // 2])
    log = LogFile("gemini-cli", path, tmp_path)
    state: dict[str, Any] = {}
    first = read(log, state=state)
    assert [e.event_id.split(":")[2] for e in first.events] == ["p#1", "p#3"]
    assert first.malformed == 1 and first.problems == [f"{path}:2: not JSON: skipped up to the next record"]
    with open(path, "a") as f:
        f.write(whole[len(whole) // 2:] + "\n")
    second = read(log, first.offset, state=state)
    assert [e.event_id.split(":")[2] for e in second.events] == ["p#2"]
    assert second.offset == path.stat().st_size and second.malformed == 0


def test_negative_count_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.log"
    path.write_text(json.dumps(_js_record("p#1", 1, output_token_count=-1)) + "\n")
    result = read(LogFile("gemini-cli", path, tmp_path))
    assert result.events == [] and result.malformed == 1 and "negative" in result.problems[0]


_DATA = "".join(
    json.dumps(r, indent=2 if i % 2 else None) + "\n"
    for i, r in enumerate([_js_record(f"p#{n}", n, output_token_count=10 * n) for n in range(6)] + [_other_record()])
).encode()


@settings(max_examples=40, deadline=None)
@given(fractions=st.lists(st.floats(0, 1), max_size=8))
def test_reading_in_increments_gives_the_events_of_one_read(fractions: list[float]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        whole, whole_offset, whole_counts = read_whole("gemini-cli", _DATA, where)
        pieces, offset, counts = grow_and_read("gemini-cli", _DATA, [int(f * len(_DATA)) for f in fractions], where)
    assert len(whole) == 6
    assert [(e.event_id, snapshot(e)) for e in pieces] == [(e.event_id, snapshot(e)) for e in whole]
    assert (offset, counts) == (whole_offset, whole_counts)


def test_compact_calls_are_the_events_read_plainly(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.log"
    records = [_js_record("p#1", 1), _other_record(), _js_record("p#2", 2, model="gemini-2.5-pr\u00f6"),
               _js_record("p#3", 3, status_code=500)]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    log = LogFile("gemini-cli", path, tmp_path)
    plain = read(log)
    compact = read(log, compact=True)
    assert [c.event() for c in compact.calls] + compact.events == plain.events
    assert [e.status for e in compact.events] == ["error"]           # a failed call stays an event
    assert compact.calls[0].reasoning == 20 and compact.calls[0].counts == (407, 600, 0, 0, 70)
