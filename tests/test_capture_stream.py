"""SSE framing and the streaming readers: chunking, cut streams, errors, bad lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spendtag.capture import _fields
from spendtag.capture.parsers import Parsed, StreamReader, parse_stream
from spendtag.capture.sse import SSEDecoder
from spendtag.errors import UsageFormatError
from spendtag.usage import Usage

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "formats"

STREAM_FIXTURES = {
    "openai/02_chat_completion_stream_include_usage.sse": "openai",
    "openai/03_chat_completion_stream_interrupted.sse": "openai",
    "openai/05_responses_stream.sse": "openai",
    "anthropic/02_message_stream.sse": "anthropic",
    "anthropic/03_message_stream_web_search.sse": "anthropic",
    "anthropic/04_message_stream_disconnected.sse": "anthropic",
    "gemini/02_stream_generate_content.sse": "google",
    "compat/groq_stream_x_groq_usage.sse": "groq",
    "compat/mistral_stream.sse": "mistral",
}
_RAW = {name: (FIXTURES / name).read_bytes() for name in STREAM_FIXTURES if (FIXTURES / name).exists()}


def sse(*events: dict[str, Any] | str, event: str | None = None, newline: str = "\n") -> bytes:
    out = []
    for item in events:
        data = item if isinstance(item, str) else json.dumps(item)
        head = f"event: {event}{newline}" if event else ""
        out.append(f"{head}data: {data}{newline}{newline}")
    return "".join(out).encode()


def feed_in_pieces(provider: str, data: bytes, cuts: list[int]) -> Parsed:
    reader = StreamReader(provider)
    start = 0
    for cut in sorted(set(cuts)):
        reader.feed(data[start:cut])
        start = cut
    reader.feed(data[start:])
    return reader.finish()


# --- the SSE decoder -------------------------------------------------------------------

@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_sse_decoder_accepts_every_line_ending(newline: str) -> None:
    text = "event: a|data: 1|data: 2||: keep-alive|data:3||".replace("|", newline)
    decoder = SSEDecoder()
    assert decoder.feed(text.encode()) + decoder.close() == [("a", b"1\n2"), (None, b"3")]


def test_sse_decoder_joins_a_crlf_split_across_chunks() -> None:
    # Were the LF after a chunk-final CR taken as a blank line, "a" and "b" would be two events.
    decoder = SSEDecoder()
    events = [e for piece in (b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n") for e in decoder.feed(piece)]
    assert events == [(None, b"a\nb")]


def test_sse_decoder_keeps_utf8_split_mid_character() -> None:
    payload = "data: {\"t\": \"h\u00e9llo \u20ac\"}\n\n".encode()
    cut = payload.index("\u20ac".encode()) + 1     # inside the 3-byte euro sign
    decoder = SSEDecoder()
    events = decoder.feed(payload[:cut]) + decoder.feed(payload[cut:])
    assert events == [(None, '{"t": "h\u00e9llo \u20ac"}'.encode())]


def test_sse_decoder_flushes_an_unterminated_last_event_on_close() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: {\"a\":1}") == []
    assert decoder.close() == [(None, b'{"a":1}')]


# --- chunking never changes the result -------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(_RAW)), data=st.data())
def test_any_chunking_gives_the_same_result(name: str, data: st.DataObject) -> None:
    raw = _RAW[name]
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(raw)), max_size=40))
    provider = STREAM_FIXTURES[name]
    assert feed_in_pieces(provider, raw, cuts) == parse_stream(provider, raw)


def test_byte_by_byte_feeding_gives_the_same_result() -> None:
    assert len(_RAW) == len(STREAM_FIXTURES), "a stream fixture is missing"
    for name, raw in _RAW.items():
        provider = STREAM_FIXTURES[name]
        assert feed_in_pieces(provider, raw, list(range(len(raw)))) == parse_stream(provider, raw), name


# --- hot path: undecodable-usage chunks are not decoded --------------------------------

def test_chat_stream_decodes_only_the_first_and_the_usage_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[bytes] = []
    real = _fields.load_event

    def spy(data: bytes) -> Any:
        decoded.append(data)
        return real(data)

    monkeypatch.setattr("spendtag.capture.openai.load_event", spy)
    parsed = parse_stream("openai", _RAW["openai/02_chat_completion_stream_include_usage.sse"])
    assert parsed.usage is not None and parsed.usage.output_tokens == 5
    assert len(decoded) == 2
    assert b'"choices":[]' in decoded[1]


# --- malformed input -------------------------------------------------------------------

def test_bad_json_line_mid_stream_is_skipped() -> None:
    raw = _RAW["anthropic/02_message_stream.sse"]
    broken = raw.replace(b'"text":"Short"}}', b'"text":"Short"', 1)   # truncate one delta's JSON
    assert broken != raw
    assert parse_stream("anthropic", broken).usage == parse_stream("anthropic", raw).usage


def test_bad_json_before_the_usage_chunk_is_skipped() -> None:
    stream = (sse({"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": []})
              + b"data: {not json\n\n"
              + sse({"id": "c1", "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 2}})
              + b"data: [DONE]\n\n")
    assert parse_stream("openai", stream) == Parsed("openai", "m", Usage(input_tokens=10, output_tokens=2),
                                                    "c1", "ok")


def test_invalid_usage_in_a_stream_is_reported_at_finish() -> None:
    stream = sse({"id": "c1", "choices": [], "usage": {"prompt_tokens": -3, "completion_tokens": 2}})
    with pytest.raises(UsageFormatError, match="prompt_tokens must not be negative, got -3"):
        parse_stream("openai", stream)


# --- OpenAI chat -----------------------------------------------------------------------

def test_chat_stream_done_without_usage_is_ok_but_estimated() -> None:
    stream = sse({"id": "c1", "model": "gpt-4o", "choices": [{"delta": {"content": "12345678"}}],
                  "usage": None}) + b"data: [DONE]\n\n"
    parsed = parse_stream("openai", stream)
    assert parsed.status == "ok"
    assert parsed.usage == Usage(output_tokens=2, estimated=True)


def test_chat_stream_error_chunk_keeps_status_error() -> None:
    stream = sse({"id": "c1", "model": "m", "choices": [{"delta": {"content": "abcd"}}]},
                 {"error": {"message": "overloaded", "code": 502}})
    parsed = parse_stream("openrouter", stream)
    assert parsed.status == "error"
    assert parsed.usage == Usage(output_tokens=1, estimated=True)


def test_chat_stream_keeps_the_last_non_null_usage() -> None:
    stream = sse({"id": "c1", "model": "m", "choices": [],
                  "usage": {"prompt_tokens": 5, "completion_tokens": 1}},
                 {"id": "c1", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 9}},
                 {"id": "c1", "choices": [], "usage": None})
    assert parse_stream("openai", stream).usage == Usage(input_tokens=5, output_tokens=9)


def test_gemini_openai_compat_stream_adds_hidden_thinking() -> None:
    stream = sse({"id": "g", "object": "chat.completion.chunk", "model": "gemini-2.5-flash",
                  "choices": [{"delta": {"content": "hi"}, "finish_reason": "stop"}],
                  "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 40}})
    usage = parse_stream("gemini", stream + b"data: [DONE]\n\n").usage
    assert usage == Usage(input_tokens=10, output_tokens=30, reasoning_tokens=26)


# --- OpenAI Responses ------------------------------------------------------------------

def test_responses_stream_cut_before_completed_is_aborted() -> None:
    raw = _RAW["openai/05_responses_stream.sse"]
    cut = raw[: raw.index(b"event: response.output_text.done")]
    parsed = parse_stream("openai", cut)
    streamed = "Streaming keeps the UI responsive."   # 34 chars in the deltas -> 9 tokens
    assert parsed == Parsed("openai", "gpt-4.1-mini-2025-04-14",
                            Usage(output_tokens=-(-len(streamed) // 4), estimated=True),
                            "resp_1f2e3d4c5b6a79880a1b2c3d4e5f6a7b", "aborted")


def test_responses_stream_failed_event_is_an_error_with_its_usage() -> None:
    failed = {"type": "response.failed", "response": {
        "id": "resp_x", "object": "response", "model": "gpt-5", "status": "failed",
        "error": {"code": "server_error"},
        "usage": {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 40}, "output_tokens": 3}}}
    parsed = parse_stream("openai", sse(failed, event="response.failed"))
    assert parsed == Parsed("openai", "gpt-5", Usage(input_tokens=60, cache_read_tokens=40, output_tokens=3),
                            "resp_x", "error")


def test_responses_stream_incomplete_event_is_a_normal_call() -> None:
    incomplete = {"type": "response.incomplete", "response": {
        "id": "resp_y", "object": "response", "model": "gpt-5", "status": "incomplete",
        "usage": {"input_tokens": 10, "output_tokens": 64,
                  "output_tokens_details": {"reasoning_tokens": 64}}}}
    parsed = parse_stream("openai", sse(incomplete, event="response.incomplete"), api="responses")
    assert parsed.status == "ok"
    assert parsed.usage == Usage(input_tokens=10, output_tokens=64, reasoning_tokens=64)


# --- Anthropic -------------------------------------------------------------------------

def _message_start(**usage: Any) -> dict[str, Any]:
    return {"type": "message_start", "message": {"id": "msg_1", "type": "message", "model": "claude-x",
                                                   "usage": usage}}


def test_anthropic_delta_keeps_start_fields_it_lacks_and_last_delta_wins() -> None:
    start = _message_start(input_tokens=10, cache_read_input_tokens=50, cache_creation_input_tokens=300,
                           cache_creation={"ephemeral_5m_input_tokens": 100,
                                           "ephemeral_1h_input_tokens": 200},
                           output_tokens=1, service_tier="priority", speed="fast")
    stream = (sse(start, event="message_start")
              + sse({"type": "message_delta", "usage": {"output_tokens": 7}}, event="message_delta")
              + sse({"type": "message_delta", "usage": {"output_tokens": 20,
                                                        "output_tokens_details": {"thinking_tokens": 12}}},
                    event="message_delta")
              + sse({"type": "message_stop"}, event="message_stop"))
    assert parse_stream("anthropic", stream).usage == Usage(
        input_tokens=10, cache_read_tokens=50, cache_write_5m_tokens=100, cache_write_1h_tokens=200,
        output_tokens=20, reasoning_tokens=12, service_tier="priority", speed="fast")


def test_anthropic_error_event_mid_stream_keeps_known_usage() -> None:
    stream = (sse(_message_start(input_tokens=40, output_tokens=1), event="message_start")
              + sse({"type": "content_block_delta", "index": 0,
                     "delta": {"type": "text_delta", "text": "x" * 40}}, event="content_block_delta")
              + sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
                    event="error"))
    parsed = parse_stream("anthropic", stream)
    assert parsed.status == "error"
    assert parsed.usage == Usage(input_tokens=40, output_tokens=14, estimated=True)   # 40 chars at 3 a token


def test_anthropic_estimate_never_goes_below_the_placeholder() -> None:
    start = sse(_message_start(input_tokens=5, output_tokens=3), event="message_start")
    parsed = parse_stream("anthropic", start)
    assert parsed.usage == Usage(input_tokens=5, output_tokens=3, estimated=True)
    assert parsed.status == "aborted"


def test_anthropic_stream_without_event_lines_is_still_read() -> None:
    raw = _RAW["anthropic/03_message_stream_web_search.sse"]
    without_names = b"".join(line + b"\n" for line in raw.split(b"\n") if not line.startswith(b"event:"))
    assert parse_stream("anthropic", without_names) == parse_stream("anthropic", raw)


# --- Gemini ----------------------------------------------------------------------------

def _gemini_chunk(text: str, usage: dict[str, int] | None, finish: bool = False) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = "STOP"
    chunk: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-2.5-pro", "responseId": "r1"}
    if usage is not None:
        chunk["usageMetadata"] = usage
    return chunk


def test_gemini_chunk_without_usage_does_not_zero_the_totals() -> None:
    stream = sse(_gemini_chunk("a", {"promptTokenCount": 7, "candidatesTokenCount": 3}),
                 _gemini_chunk("b", None, finish=True), newline="\r\n")
    assert parse_stream("google", stream) == Parsed("google", "gemini-2.5-pro",
                                                    Usage(input_tokens=7, output_tokens=3), "r1", "ok")


def test_gemini_stream_cut_before_finish_is_aborted_and_estimated() -> None:
    stream = sse(_gemini_chunk("x" * 12, {"promptTokenCount": 7, "candidatesTokenCount": 2}),
                 _gemini_chunk("y" * 12, None))
    parsed = parse_stream("google", stream)
    assert parsed.status == "aborted"
    assert parsed.usage == Usage(input_tokens=7, output_tokens=5, estimated=True)   # 24 chars at 5 a token


def test_gemini_corrupt_last_usage_chunk_falls_back_to_the_previous_one() -> None:
    stream = (sse(_gemini_chunk("ab", {"promptTokenCount": 7, "candidatesTokenCount": 2}))
              + b'data: {"candidates":[{"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":7,\n\n')
    parsed = parse_stream("google", stream)
    assert parsed.usage == Usage(input_tokens=7, output_tokens=2)
    assert parsed.status == "ok"


def test_gemini_grounding_in_stream_counts_searches() -> None:
    usage = {"promptTokenCount": 4, "candidatesTokenCount": 2, "toolUsePromptTokenCount": 30}
    last = _gemini_chunk("done", usage, finish=True)
    last["candidates"][0]["groundingMetadata"] = {"webSearchQueries": ["a", "b", "c"]}
    parsed = parse_stream("google", sse(last))
    assert parsed.usage == Usage(input_tokens=34, output_tokens=2, web_search_requests=3)


# --- reader lifecycle ------------------------------------------------------------------

def test_empty_stream_is_aborted_with_an_estimated_zero() -> None:
    assert parse_stream("anthropic", b"") == Parsed("anthropic", None, Usage(estimated=True), None, "aborted")


def test_explicit_api_and_repeated_finish() -> None:
    reader = StreamReader("Gemini", api="gemini")
    reader.feed(_RAW["gemini/02_stream_generate_content.sse"])
    first = reader.finish()
    assert first.provider == "google"
    assert first.usage is not None and first.usage.output_tokens == 455
    assert reader.finish() is first


def test_unknown_api_is_refused() -> None:
    with pytest.raises(UsageFormatError, match="unknown api 'completion'"):
        StreamReader("openai", api="completion")


_lines = st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"),
                          max_size=12), min_size=1, max_size=3)


@settings(max_examples=100, deadline=None)
@given(events=st.lists(_lines, min_size=1, max_size=4), endings=st.data(), cut_data=st.data())
def test_sse_decoder_is_independent_of_line_endings_and_chunking(
        events: list[list[str]], endings: st.DataObject, cut_data: st.DataObject) -> None:
    wire = b""
    for data_lines in events:
        for piece in [f"data: {line}" for line in data_lines] + [""]:
            # A lone CR followed by an empty line ending in LF would read as one CRLF: not a test case.
            choices = [b"\r", b"\r\n"] if not piece and wire.endswith(b"\r") else [b"\n", b"\r", b"\r\n"]
            wire += piece.encode() + endings.draw(st.sampled_from(choices))
    cuts = sorted(set(cut_data.draw(st.lists(st.integers(0, len(wire)), max_size=20))))
    decoder = SSEDecoder()
    got, start = [], 0
    for cut in [*cuts, len(wire)]:
        got += decoder.feed(wire[start:cut])
        start = cut
    got += decoder.close()
    assert got == [(None, "\n".join(lines).encode()) for lines in events]


def test_groq_usage_is_found_even_when_the_first_chunk_has_no_x_groq() -> None:
    stream = sse({"id": "c9", "object": "chat.completion.chunk", "model": "llama-3.1-8b-instant",
                  "choices": [{"delta": {"content": "Hi"}}]},
                 {"id": "c9", "choices": [{"delta": {}, "finish_reason": "stop"}],
                  "x_groq": {"id": "req_1", "usage": {"prompt_tokens": 18, "completion_tokens": 3}}})
    assert parse_stream("groq", stream).usage == Usage(input_tokens=18, output_tokens=3)


def test_responses_error_event_marks_the_stream_as_an_error() -> None:
    raw = _RAW["openai/05_responses_stream.sse"]
    cut = raw[: raw.index(b"event: response.output_text.delta")]
    error = sse({"type": "error", "code": "server_error", "message": "boom", "sequence_number": 4},
                event="error")
    parsed = parse_stream("openai", cut + error)
    assert (parsed.status, parsed.usage) == ("error", Usage(estimated=True))
    assert parsed.response_id == "resp_1f2e3d4c5b6a79880a1b2c3d4e5f6a7b"
