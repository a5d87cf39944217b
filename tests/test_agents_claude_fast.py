"""The fast ways of reading Claude Code lines give exactly what the full ones give."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from spendtag.capture.agents import LogFile, read
from spendtag.capture.agents.claude_code import fast_usage
from spendtag.capture.parsers import parse_usage
from spendtag.errors import UsageFormatError
from spendtag.usage import Usage

COUNT = st.one_of(st.none(), st.integers(-3, 10**7), st.booleans(), st.just(2.0), st.just(1.5), st.just("12"),
                  st.just(""), st.just([]))
USAGE = st.dictionaries(
    st.sampled_from(["input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
                     "service_tier", "cache_creation", "server_tool_use", "inference_geo"]),
    st.one_of(COUNT, st.sampled_from(["standard", "batch", "priority"]),
              st.dictionaries(st.sampled_from(["ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens", "other",
                                               "web_search_requests"]), COUNT, max_size=3)),
    max_size=8)


@given(USAGE)
@settings(max_examples=600)
def test_fast_usage_is_the_full_parser_or_steps_aside(u: dict[str, Any]) -> None:
    fast = fast_usage(u)
    if fast is None:
        return
    try:
        full = parse_usage("anthropic", u)
    except UsageFormatError:
        raise AssertionError(f"fast_usage accepted {u!r}, which the full parser rejects") from None
    assert fast == full


def _line(kind: str, msg: Any, **extra: Any) -> str:
    rec = {"type": kind, "sessionId": "s1", "cwd": "/p", "timestamp": "2026-09-01T10:00:00Z", **extra}
    if msg is not ...:
        rec["message"] = msg
    return json.dumps(rec)


RECORDS = st.lists(st.one_of(
    st.builds(lambda i, out, stop, req: _line("assistant", {"id": f"m{i}", "model": "claude-sonnet-4-5",
                                                            "stop_reason": stop, "content": [{"text": "ü" * 3}],
                                                            "usage": {"input_tokens": 3, "output_tokens": out}},
                                               requestId=req),
              st.integers(0, 5), COUNT, st.sampled_from([None, "end_turn"]), st.sampled_from(["r1", "r2", "", None])),
    st.builds(lambda i, u, stop: _line("assistant", {"id": f"u{i}", "model": "claude-sonnet-4-5", "stop_reason": stop,
                                                     "usage": u}, requestId="r1"),
              st.integers(0, 3), USAGE, st.sampled_from([None, "end_turn"])),
    st.builds(lambda: _line("assistant", "not an object")),
    st.builds(lambda: _line("assistant", ..., requestId="r1")),
    st.builds(lambda: _line("assistant", {"id": "m9", "model": "<synthetic>", "usage": {}})),
    st.builds(lambda: _line("user", {"role": "user", "content": "next"})),
    st.just('{"type": "assistant", "message": {"id": "m7", "usage": {"input_tokens": 1}, "model": "x"}, "timestamp": '
            'NaN}'),
    st.just('{"type":"assistant","message":{"id":"m8","model":"x","content":"\udcff","usage":{}}}'),
    st.just('{"type":"assistant","message":{"id":"m8"'),
), max_size=25)


@given(RECORDS)
@settings(max_examples=200, deadline=None)
def test_both_decoders_give_the_same_events_and_counts(tmp_path_factory: Any, lines: list[str]) -> None:
    """Every line read with the fast decoder turned off gives the same result as with it on."""
    from spendtag.capture.agents import claude_code

    folder = Path(tmp_path_factory.mktemp("cc")) / "-p"
    folder.mkdir()
    path = folder / "s1.jsonl"
    # Invalid UTF-8 on some lines: written as bytes.
    path.write_bytes(b"".join(line.encode("utf-8", "surrogateescape") + b"\n" for line in lines))
    log = LogFile("claude-code", path, folder.parent)
    fast = read(log, 0, state={}, final=True)
    original = claude_code._DECODE_LINE

    def refuse(line: bytes) -> Any:
        raise claude_code.msgspec.DecodeError("off")

    claude_code._DECODE_LINE = refuse
    try:
        slow = read(log, 0, state={}, final=True)
    finally:
        claude_code._DECODE_LINE = original
    assert [(e.event_id, e.usage, e.ts, e.project, e.session) for e in fast.events] == \
        [(e.event_id, e.usage, e.ts, e.project, e.session) for e in slow.events]
    assert (fast.offset, fast.lines, fast.malformed, fast.skipped, fast.problems) == \
        (slow.offset, slow.lines, slow.malformed, slow.skipped, slow.problems)


N = st.one_of(st.none(), st.integers(0, 10**7))
CLAUDE_USAGE = st.fixed_dictionaries({}, optional={
    "input_tokens": N, "output_tokens": N, "cache_read_input_tokens": N, "cache_creation_input_tokens": N,
    "cache_creation": st.one_of(st.none(), st.fixed_dictionaries({}, optional={
        "ephemeral_5m_input_tokens": N, "ephemeral_1h_input_tokens": N})),
    "service_tier": st.one_of(st.none(), st.sampled_from(["", "standard", "priority", "batch"])),
    "server_tool_use": st.one_of(st.none(), st.fixed_dictionaries({}, optional={
        "web_search_requests": N, "web_fetch_requests": N})),
    "inference_geo": st.one_of(st.none(), st.sampled_from(["global", "us", "not_available"])),
    "speed": st.one_of(st.none(), st.sampled_from(["fast", "standard"])),
})


@given(st.one_of(CLAUDE_USAGE, USAGE))
@settings(max_examples=800)
def test_decoded_counts_are_what_fast_usage_reads(u: dict[str, Any]) -> None:
    """The usage decoded as ``_Counts`` gives fast_usage's Usage, or the full parser's verdict."""
    from spendtag.capture.agents import claude_code

    line = json.dumps({"type": "assistant", "message": {"id": "m", "usage": u}}).encode()
    try:
        counts = claude_code._DECODE_LINE(line).message.usage  # type: ignore[union-attr]
    except claude_code._DECODE_ERRORS:
        return   # another shape: the full path reads it
    expected: Usage | str
    try:
        expected = fast_usage(u) or parse_usage("anthropic", u)
    except UsageFormatError as exc:
        expected = str(exc)
    found = claude_code._text_counts(counts)
    if found is None:
        try:
            got: Usage | str = parse_usage("anthropic", claude_code._usage_dict(counts))
        except UsageFormatError as exc:
            got = str(exc)
    else:
        (i, r, w5, w1, o), tier = found
        got = Usage(input_tokens=i, cache_read_tokens=r, cache_write_5m_tokens=w5, cache_write_1h_tokens=w1,
                    output_tokens=o, service_tier=tier)
    assert got == expected
