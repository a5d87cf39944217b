"""One test per provider fixture in tests/fixtures/formats: exact disjoint buckets.

Expected values are worked out from the fixture's own numbers (shown in each test) and,
where FORMATS.md section 7 gives an oracle, match it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spendtag.capture.parsers import (
    Parsed,
    detect_provider,
    parse_batch_line,
    parse_response,
    parse_stream,
    parse_usage,
)
from spendtag.errors import UsageFormatError
from spendtag.money import parse_usd
from spendtag.usage import Usage

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "formats"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def body(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(raw(name))
    return data


def lines(name: str) -> list[str]:
    return raw(name).decode().splitlines()


# --- OpenAI ----------------------------------------------------------------------------

def test_openai_01_chat_completion_nonstream() -> None:
    parsed = parse_response("openai", raw("openai/01_chat_completion_nonstream.json"))
    # prompt 3150 includes cached 2944; completion 702 includes reasoning 640.
    assert parsed == Parsed(
        provider="openai",
        model="gpt-5-mini-2025-08-07",
        usage=Usage(input_tokens=3150 - 2944, cache_read_tokens=2944, output_tokens=702,
                    reasoning_tokens=640, service_tier="default"),
        response_id="chatcmpl-CqT7b1Xy2Zc3Vd4We5Rf6Tg7Yh8",
        status="ok",
    )
    assert parsed.usage is not None and parsed.usage.total_tokens == 3852


def test_openai_01b_predicted_outputs_stay_in_output() -> None:
    parsed = parse_response("openai", body("openai/01b_chat_completion_predicted_outputs.json"))
    # accepted 120 and rejected 30 are both inside completion 180, and all of it is billed.
    assert parsed.usage == Usage(input_tokens=412, output_tokens=180, service_tier="default")
    assert parsed.model == "gpt-4o-2024-08-06"


def test_openai_02_stream_include_usage() -> None:
    parsed = parse_stream("openai", raw("openai/02_chat_completion_stream_include_usage.sse"))
    # FORMATS.md 7: prompt 1536 (cached 1280), completion 5.
    assert parsed == Parsed(
        provider="openai",
        model="gpt-4o-mini-2024-07-18",
        usage=Usage(input_tokens=256, cache_read_tokens=1280, output_tokens=5, service_tier="default"),
        response_id="chatcmpl-CqU1a9Bb8Cc7Dd6Ee5Ff4Gg3",
        status="ok",
    )


def test_openai_03_stream_interrupted_is_aborted_and_estimated() -> None:
    parsed = parse_stream("openai", raw("openai/03_chat_completion_stream_interrupted.sse"))
    streamed = "" + "Bonjour" + " le" + " monde"   # 16 characters -> 4 tokens at 4 chars/token
    assert parsed.status == "aborted"
    assert parsed.usage == Usage(input_tokens=0, output_tokens=len(streamed) // 4, service_tier="default",
                                 estimated=True)
    assert parsed.model == "gpt-4o-mini-2024-07-18"
    assert parsed.response_id == "chatcmpl-CqU1a9Bb8Cc7Dd6Ee5Ff4Gg3"


def test_openai_04_responses_web_search() -> None:
    parsed = parse_response("openai", raw("openai/04_responses_nonstream_web_search.json"))
    # input 9120 (cached 0), output 1388 (reasoning 960); tool_usage says 1 billable search
    # (the open_page action is not billed).
    assert parsed == Parsed(
        provider="openai",
        model="gpt-5-2025-08-07",
        usage=Usage(input_tokens=9120, output_tokens=1388, reasoning_tokens=960, web_search_requests=1,
                    service_tier="default"),
        response_id="resp_0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        status="ok",
    )


def test_openai_04_search_count_falls_back_to_search_actions() -> None:
    data = body("openai/04_responses_nonstream_web_search.json")
    del data["tool_usage"]
    data["output"].append({"type": "web_search_call", "action": {"type": "search", "query": "again"}})
    usage = parse_response("openai", data).usage
    assert usage is not None and usage.web_search_requests == 2   # two "search", one "open_page"


def test_openai_05_responses_stream() -> None:
    parsed = parse_stream("openai", raw("openai/05_responses_stream.sse"))
    # FORMATS.md 7: input 2311 (cached 2048), output 7; the tier is the completed response's.
    assert parsed == Parsed(
        provider="openai",
        model="gpt-4.1-mini-2025-04-14",
        usage=Usage(input_tokens=2311 - 2048, cache_read_tokens=2048, output_tokens=7,
                    service_tier="default"),
        response_id="resp_1f2e3d4c5b6a79880a1b2c3d4e5f6a7b",
        status="ok",
    )


def test_openai_06_batch_output() -> None:
    ok, bad_request, expired = (parse_batch_line("openai", line)
                                for line in lines("openai/06_batch_output.jsonl"))
    # The body has no batch marker: the parser sets it. prompt 1210 includes cached 1024.
    expected = Usage(input_tokens=1210 - 1024, cache_read_tokens=1024, output_tokens=4, service_tier="batch")
    assert ok == Parsed("openai", "gpt-4o-mini-2024-07-18", expected,
                        "chatcmpl-CqV2b3Cc4Dd5Ee6Ff7Gg8Hh9", "ok")
    assert bad_request == Parsed("openai", None, None, "batch_req_6951a2b3c4d5e6f708192a3c", "error")
    assert expired == Parsed("openai", None, None, "batch_req_6951a2b3c4d5e6f708192a3d", "error")


# --- Anthropic -------------------------------------------------------------------------

def test_anthropic_01_message_nonstream() -> None:
    parsed = parse_response("anthropic", raw("anthropic/01_message_nonstream.json"))
    # cache_creation 5120 = 1024 (5m) + 4096 (1h); input 1422 already excludes the cache.
    assert parsed == Parsed(
        provider="anthropic",
        model="claude-sonnet-4-5-20250929",
        usage=Usage(input_tokens=1422, cache_read_tokens=20480, cache_write_5m_tokens=1024,
                    cache_write_1h_tokens=4096, output_tokens=611, web_search_requests=1,
                    service_tier="standard", inference_geo="global"),
        response_id="msg_01Hq4Zt7Rk2Pw9Vx3Ny6Lb8M",
        status="ok",
    )


def test_anthropic_02_message_stream() -> None:
    parsed = parse_stream("anthropic", raw("anthropic/02_message_stream.sse"))
    # FORMATS.md 7: input 472 + cache_read 18304 + output 14 (the delta's, not start's placeholder 2).
    assert parsed == Parsed(
        provider="anthropic",
        model="claude-sonnet-4-5-20250929",
        usage=Usage(input_tokens=472, cache_read_tokens=18304, output_tokens=14,
                    service_tier="standard", inference_geo="global"),
        response_id="msg_01Tr8Ys5Ux2Wz4Aq6Cs8Eu0G",
        status="ok",
    )


def test_anthropic_03_web_search_stream_takes_delta_input() -> None:
    parsed = parse_stream("anthropic", raw("anthropic/03_message_stream_web_search.sse"))
    # FORMATS.md 7: input 12530 (message_start said 2210), output 438, 1 search.
    assert parsed.usage == Usage(input_tokens=12530, output_tokens=438, web_search_requests=1,
                                 service_tier="standard", inference_geo="global")
    assert parsed.status == "ok"


def test_anthropic_04_disconnected_stream_is_aborted_and_estimated() -> None:
    parsed = parse_stream("anthropic", raw("anthropic/04_message_stream_disconnected.sse"))
    streamed = "Chapter 1. The lighthouse keeper" + " had not spoken to anyone in"   # 60 chars, at 3 a token
    assert parsed == Parsed(
        provider="anthropic",
        model="claude-opus-4-1-20250805",
        usage=Usage(input_tokens=25, output_tokens=len(streamed) // 3, service_tier="standard",
                    inference_geo="not_available", estimated=True),
        response_id="msg_01Kd5Le6Mf7Ng8Oh9Pi0Qj1R",
        status="aborted",
    )


def test_anthropic_05_count_tokens_request_is_not_a_response() -> None:
    request = body("anthropic/05_count_tokens_request.json")
    assert detect_provider(request) is None
    with pytest.raises(UsageFormatError, match="unrecognised response body"):
        parse_response("anthropic", request)


def test_anthropic_05_count_tokens_response_reads_as_input() -> None:
    counted = body("anthropic/05_count_tokens_response.json")
    assert parse_usage("anthropic", counted) == Usage(input_tokens=623)


def test_anthropic_06_batch_results() -> None:
    results = [parse_batch_line("anthropic", line) for line in lines("anthropic/06_batch_results.jsonl")]
    assert [r.status for r in results] == ["ok", "ok", "error", "error", "error"]
    assert results[0].usage == Usage(input_tokens=318, cache_write_5m_tokens=2048, output_tokens=9,
                                     service_tier="batch")
    assert results[1].usage == Usage(input_tokens=301, cache_read_tokens=2048, output_tokens=7,
                                     service_tier="batch")
    assert results[1].response_id == "msg_01Bt2Ch2Dj2Ek2Fl2Gm2Hn"
    assert results[0].model == "claude-haiku-4-5-20251001"
    assert all(r.usage is None for r in results[2:])


def test_anthropic_07_request_body_is_not_a_response() -> None:
    request = body("anthropic/07_messages_request_metadata_user_id.json")
    with pytest.raises(UsageFormatError, match="unrecognised response body"):
        parse_response("anthropic", request)


# --- Gemini ----------------------------------------------------------------------------

def test_gemini_01_generate_content() -> None:
    parsed = parse_response("gemini", raw("gemini/01_generate_content.json"))
    # prompt 13344 includes cached 12288; thoughts 564 are outside candidates 212.
    assert parsed == Parsed(
        provider="google",
        model="gemini-2.5-flash",
        usage=Usage(input_tokens=13344 - 12288, cache_read_tokens=12288, output_tokens=212 + 564,
                    reasoning_tokens=564),
        response_id="mK3vaPq1Ob2m1dkP0pCJuAs",
        status="ok",
    )
    assert parsed.usage is not None and parsed.usage.total_tokens == 14120   # totalTokenCount


def test_gemini_02_stream_crlf_last_chunk_wins() -> None:
    parsed = parse_stream("google", raw("gemini/02_stream_generate_content.sse"))
    # FORMATS.md 7, last chunk: prompt 9, candidates 23, thoughts 432 (total 464).
    assert parsed == Parsed(
        provider="google",
        model="gemini-2.5-flash",
        usage=Usage(input_tokens=9, output_tokens=23 + 432, reasoning_tokens=432),
        response_id="x9nvaNn2Kc-l1dkPq7ei2Qk",
        status="ok",
    )
    assert parsed.usage is not None and parsed.usage.total_tokens == 464


def test_gemini_03_openai_compat_hides_thinking_in_total() -> None:
    parsed = parse_response("google", raw("gemini/03_openai_compat_chat_completion.json"))
    hidden = 1411 - 640 - 96   # total - prompt - completion = thinking
    assert parsed == Parsed(
        provider="google",
        model="gemini-2.5-flash",
        usage=Usage(input_tokens=640, output_tokens=96 + hidden, reasoning_tokens=hidden),
        response_id="eNzvaKyZFdGn1dkPxt2GgQ4",
        status="ok",
    )
    assert parsed.usage is not None and parsed.usage.total_tokens == 1411


def test_gemini_04_grounding_tool_tokens_and_searches() -> None:
    parsed = parse_response("google", raw("gemini/04_generate_content_grounding_tool_tokens.json"))
    # toolUsePrompt 291 is input; 2 webSearchQueries; thoughts 183 outside candidates 18.
    assert parsed.usage == Usage(input_tokens=11 + 291, output_tokens=18 + 183, reasoning_tokens=183,
                                 web_search_requests=2)
    assert parsed.usage.total_tokens == 503


# --- OpenAI-compatible providers -------------------------------------------------------

def test_compat_deepseek() -> None:
    parsed = parse_response("deepseek", raw("compat/deepseek_chat_completion.json"))
    # hit 1280 + miss 40 = prompt 1320; prompt_tokens_details.cached_tokens repeats the hit.
    assert parsed.usage == Usage(input_tokens=40, cache_read_tokens=1280, output_tokens=214,
                                 reasoning_tokens=188)
    assert (parsed.provider, parsed.model) == ("deepseek", "deepseek-reasoner")


def test_compat_groq_nonstream() -> None:
    parsed = parse_response("groq", raw("compat/groq_chat_completion.json"))
    # Timing fields are seconds, not tokens; service_tier "on_demand" is kept as sent.
    assert parsed.usage == Usage(input_tokens=42, output_tokens=2, service_tier="on_demand")
    assert parsed.model == "llama-3.3-70b-versatile"


def test_compat_groq_stream_x_groq_usage() -> None:
    parsed = parse_stream("groq", raw("compat/groq_stream_x_groq_usage.sse"))
    assert parsed == Parsed("groq", "llama-3.1-8b-instant", Usage(input_tokens=18, output_tokens=3),
                            "chatcmpl-7a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d", "ok")


def test_compat_openrouter_cost_is_exact_pico_usd() -> None:
    parsed = parse_response("openrouter", raw("compat/openrouter_chat_completion.json"))
    # prompt 10240 includes cached 8192 and cache writes 1536 (its sub-costs prove it:
    # 512*3 + 8192*0.3 + 1536*3.75 per MTok = 0.0097536 = upstream_inference_prompt_cost).
    assert parsed.usage == Usage(input_tokens=10240 - 8192 - 1536, cache_read_tokens=8192,
                                 cache_write_5m_tokens=1536, output_tokens=38,
                                 reported_cost=parse_usd("0.0103236"))
    assert parsed.usage.reported_cost == 10_323_600_000
    assert parsed.model == "anthropic/claude-sonnet-4.5"


def test_compat_mistral_nonstream() -> None:
    parsed = parse_response("mistral", raw("compat/mistral_chat_completion.json"))
    assert parsed == Parsed("mistral", "mistral-small-latest", Usage(input_tokens=11, output_tokens=5),
                            "9c2e4a6b8d0f4e2a8c6b4d2f0e8a6c4b", "ok")


def test_compat_mistral_stream_usage_on_finish_chunk() -> None:
    parsed = parse_stream("mistral", raw("compat/mistral_stream.sse"))
    assert parsed == Parsed("mistral", "mistral-small-latest", Usage(input_tokens=11, output_tokens=5),
                            "4d6f8a0c2e4a4c6e8a0c2e4a6c8e0a2c", "ok")


# --- provider detection ----------------------------------------------------------------

@pytest.mark.parametrize(("name", "expected"), [
    ("openai/01_chat_completion_nonstream.json", "openai"),
    ("openai/04_responses_nonstream_web_search.json", "openai"),
    ("anthropic/01_message_nonstream.json", "anthropic"),
    ("gemini/01_generate_content.json", "google"),
    ("gemini/03_openai_compat_chat_completion.json", "google"),
    ("compat/deepseek_chat_completion.json", "deepseek"),
    ("compat/groq_chat_completion.json", "groq"),
    ("compat/openrouter_chat_completion.json", "openrouter"),
    ("compat/mistral_chat_completion.json", "mistral"),
])
def test_detect_provider_from_fixture_bodies(name: str, expected: str) -> None:
    assert detect_provider(body(name)) == expected


def test_detect_provider_from_batch_lines() -> None:
    assert detect_provider(json.loads(lines("openai/06_batch_output.jsonl")[0])) == "openai"
    assert detect_provider(json.loads(lines("anthropic/06_batch_results.jsonl")[0])) == "anthropic"
