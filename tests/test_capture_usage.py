"""parse_usage: shape sniffing, normalisation rules and clear errors for unreadable usage."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spendtag.capture.parsers import normalise_provider, parse_response, parse_usage
from spendtag.errors import UsageFormatError
from spendtag.usage import Usage

# --- sniffing --------------------------------------------------------------------------


def test_openai_chat_with_audio_and_cache_writes() -> None:
    usage = {"prompt_tokens": 1000, "completion_tokens": 300,
             "prompt_tokens_details": {"cached_tokens": 600, "cache_write_tokens": 100, "audio_tokens": 50},
             "completion_tokens_details": {"reasoning_tokens": 80, "audio_tokens": 120}}
    assert parse_usage("openai", usage) == Usage(
        input_tokens=1000 - 600 - 100 - 50, cache_read_tokens=600, cache_write_5m_tokens=100,
        input_audio_tokens=50, output_tokens=300 - 120, reasoning_tokens=80, output_audio_tokens=120)


def test_openai_chat_null_details_read_as_zero() -> None:
    usage = {"prompt_tokens": 9, "completion_tokens": 1, "prompt_tokens_details": None,
             "completion_tokens_details": {"reasoning_tokens": None}}
    assert parse_usage("openai", usage) == Usage(input_tokens=9, output_tokens=1)


def test_responses_usage_with_cache_write_ttls() -> None:
    usage = {"input_tokens": 5000, "output_tokens": 40,
             "input_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 3000,
                                      "cache_write_tokens_details": {"ttl_30m_tokens": 1000,
                                                                     "ttl_12h_tokens": 1500}},
             "output_tokens_details": {"reasoning_tokens": 10}}
    # 30m -> the 5m bucket, 12h -> the 1h bucket; 500 writes with no TTL stated -> short.
    assert parse_usage("openai", usage) == Usage(
        input_tokens=1000, cache_read_tokens=1000, cache_write_5m_tokens=1500, cache_write_1h_tokens=1500,
        output_tokens=40, reasoning_tokens=10)


def test_codex_token_usage_is_responses_shaped() -> None:
    usage = {"input_tokens": 12000, "cached_input_tokens": 9000, "output_tokens": 500,
             "reasoning_output_tokens": 320, "total_tokens": 12500}
    assert parse_usage("openai", usage) == Usage(input_tokens=3000, cache_read_tokens=9000,
                                                 output_tokens=500, reasoning_tokens=320)


def test_anthropic_usage_is_exclusive_and_flat_cache_writes_are_5m() -> None:
    usage = {"input_tokens": 12, "cache_read_input_tokens": 900, "cache_creation_input_tokens": 300,
             "output_tokens": 40, "output_tokens_details": {"thinking_tokens": 25},
             "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 1},
             "service_tier": "priority", "inference_geo": "us", "speed": "fast"}
    assert parse_usage("anthropic", usage) == Usage(
        input_tokens=12, cache_read_tokens=900, cache_write_5m_tokens=300, output_tokens=40,
        reasoning_tokens=25, web_search_requests=2, web_fetch_requests=1,
        service_tier="priority", inference_geo="us", speed="fast")


def test_provider_anthropic_means_exclusive_input_even_without_cache_keys() -> None:
    # The same keys read as OpenAI Responses would subtract the cache from the input.
    usage = {"input_tokens": 100, "output_tokens": 5, "input_tokens_details": {"cached_tokens": 60}}
    assert parse_usage("anthropic", usage).input_tokens == 100
    assert parse_usage("openai", usage).input_tokens == 40


def test_anthropic_compaction_iterations_are_added_and_advisors_ignored() -> None:
    usage = {"input_tokens": 10, "output_tokens": 20, "service_tier": "standard",
             "iterations": [
                 {"type": "message", "input_tokens": 10, "output_tokens": 20},
                 {"type": "compaction", "input_tokens": 3000, "cache_read_input_tokens": 500,
                  "output_tokens": 400},
                 {"type": "advisor_message", "model": "claude-opus-4-7",
                  "usage": {"input_tokens": 999, "output_tokens": 999}},
                 "not-an-object",
             ]}
    assert parse_usage("anthropic", usage) == Usage(input_tokens=3010, cache_read_tokens=500,
                                                    output_tokens=420, service_tier="standard")


def test_gemini_camel_and_snake_case_agree() -> None:
    camel = {"promptTokenCount": 100, "cachedContentTokenCount": 40, "candidatesTokenCount": 10,
             "thoughtsTokenCount": 30, "toolUsePromptTokenCount": 5, "trafficType": "ON_DEMAND_FLEX"}
    snake = {"prompt_token_count": 100, "cached_content_token_count": 40, "candidates_token_count": 10,
             "thoughts_token_count": 30, "tool_use_prompt_token_count": 5, "traffic_type": "ON_DEMAND_FLEX"}
    expected = Usage(input_tokens=65, cache_read_tokens=40, output_tokens=40, reasoning_tokens=30,
                     service_tier="flex")
    assert parse_usage("gemini", camel) == expected
    assert parse_usage("google", snake) == expected


@pytest.mark.parametrize(("traffic", "tier"), [
    ("ON_DEMAND_PRIORITY", "priority"), ("ON_DEMAND_FLEX", "flex"), ("ON_DEMAND", "standard"),
    ("PROVISIONED_THROUGHPUT", "provisioned_throughput"),
])
def test_gemini_traffic_type_sets_the_tier(traffic: str, tier: str) -> None:
    assert parse_usage("google", {"promptTokenCount": 1, "trafficType": traffic}).service_tier == tier


def test_gemini_audio_modalities_get_their_own_buckets() -> None:
    usage = {"promptTokenCount": 500, "candidatesTokenCount": 200,
             "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 100},
                                     {"modality": "AUDIO", "tokenCount": 400}],
             "candidatesTokensDetails": [{"modality": "AUDIO", "tokenCount": 200}]}
    expected = Usage(input_tokens=100, input_audio_tokens=400, output_audio_tokens=200)
    assert parse_usage("google", usage) == expected


def test_deepseek_without_miss_count_derives_it() -> None:
    usage = {"prompt_tokens": 100, "completion_tokens": 3, "prompt_cache_hit_tokens": 64}
    assert parse_usage("deepseek", usage) == Usage(input_tokens=36, cache_read_tokens=64, output_tokens=3)


def test_openrouter_byok_adds_the_upstream_cost() -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 2, "cost": 0.0001, "is_byok": True,
             "cost_details": {"upstream_inference_cost": 0.0019}}
    assert parse_usage("openrouter", usage).reported_cost == 2_000_000_000   # $0.002 exactly


def test_openrouter_cost_as_string_is_exact() -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 2, "cost": "0.000000123456"}
    assert parse_usage("openrouter", usage).reported_cost == 123_456


@pytest.mark.parametrize(("api", "expected_input"), [("chat", 7), ("responses", 7), ("messages", 7)])
def test_explicit_api_overrides_sniffing(api: str, expected_input: int) -> None:
    usage = {"prompt_tokens": 7, "input_tokens": 7, "completion_tokens": 1, "output_tokens": 1}
    assert parse_usage("openai", usage, api=api) == Usage(input_tokens=expected_input, output_tokens=1)


def test_gemini_api_accepts_an_empty_usage() -> None:
    assert parse_usage("google", {}, api="gemini") == Usage()   # proto3 JSON omits zeros


def test_integer_strings_are_read_leniently() -> None:
    assert parse_usage("openai", {"prompt_tokens": "120", "completion_tokens": 4.0}) == Usage(
        input_tokens=120, output_tokens=4)


@pytest.mark.parametrize(("alias", "expected"), [
    ("gemini", "google"), ("google-gla", "google"), ("vertex", "google"), (" OpenAI ", "openai"),
    ("Groq", "groq"), ("mistral_ai", "mistral"),
])
def test_provider_ids_are_normalised(alias: str, expected: str) -> None:
    assert normalise_provider(alias) == expected


# --- errors ----------------------------------------------------------------------------

@pytest.mark.parametrize(("usage", "message"), [
    ({"prompt_tokens": -1, "completion_tokens": 2}, "usage.prompt_tokens must not be negative, got -1"),
    ({"prompt_tokens": "lots", "completion_tokens": 2},
     "usage.prompt_tokens must be a whole number of tokens, got 'lots'"),
    ({"prompt_tokens": 1.5, "completion_tokens": 2}, "must be a whole number of tokens, got 1.5"),
    ({"prompt_tokens": True, "completion_tokens": 2}, "must be a whole number of tokens, got True"),
    ({"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 11}},
     r"cached_tokens \(11\) exceed usage.prompt_tokens \(10\)"),
    ({"input_tokens": 10, "output_tokens": 1, "input_tokens_details": {"cached_tokens": "x"}},
     "usage.input_tokens_details.cached_tokens must be a whole number"),
    ({"promptTokenCount": 5, "cachedContentTokenCount": 9}, r"cachedContentTokenCount \(9\) exceed"),
    ({"input_tokens": 3, "output_tokens": -4, "cache_read_input_tokens": 0},
     "usage.output_tokens must not be negative"),
    ({"prompt_tokens": 10, "completion_tokens": 2, "completion_tokens_details": {"reasoning_tokens": 5,
                                                                                  "audio_tokens": 0},
      "cost": -1}, "usage.cost must not be negative"),
    ({"totally": 1}, "no token counts found.*got keys: totally"),
    ({"usage": {"prompt_tokens": 1}}, "looks like a whole response"),
])
def test_unreadable_usage_raises_a_clear_error(usage: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageFormatError, match=message):
        parse_usage("openai", usage)


def test_usage_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(UsageFormatError, match="usage must be a JSON object, got list"):
        parse_usage("openai", [1, 2])  # type: ignore[arg-type]


def test_unknown_api_is_refused() -> None:
    with pytest.raises(UsageFormatError, match="unknown api 'completion'"):
        parse_usage("openai", {"prompt_tokens": 1}, api="completion")


def test_reasoning_above_output_is_refused() -> None:
    with pytest.raises(UsageFormatError, match="reasoning_tokens .* cannot exceed output_tokens"):
        parse_usage("openai", {"prompt_tokens": 1, "completion_tokens": 2,
                               "completion_tokens_details": {"reasoning_tokens": 3}})


# --- response bodies -------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    {"error": {"message": "Rate limit", "type": "rate_limit_error"}},
    {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    {"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}},
])
def test_error_bodies_have_no_usage(body: dict[str, Any]) -> None:
    parsed = parse_response("openai", body)
    assert (parsed.status, parsed.usage) == ("error", None)


def test_response_body_as_text_and_bad_json() -> None:
    assert parse_response("anthropic", '{"type":"message","id":"m","model":"c","usage":{"input_tokens":2,'
                                       '"output_tokens":1}}').usage == Usage(input_tokens=2, output_tokens=1)
    with pytest.raises(UsageFormatError, match="response body is not JSON"):
        parse_response("openai", b"<html>502 Bad Gateway</html>")


def test_gemini_json_array_stream_body() -> None:
    chunks = [{"candidates": [{"content": {"parts": [{"text": "a"}]}}], "modelVersion": "gemini-2.5-pro",
               "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}},
              {"candidates": [{"content": {"parts": [{"text": "b"}]}, "finishReason": "STOP"}],
               "modelVersion": "gemini-2.5-pro",
               "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "thoughtsTokenCount": 4}}]
    parsed = parse_response("gemini", json.dumps(chunks))   # ...:streamGenerateContent without alt=sse
    assert (parsed.status, parsed.model) == ("ok", "gemini-2.5-pro")
    assert parsed.usage == Usage(input_tokens=3, output_tokens=6, reasoning_tokens=4)


def test_embeddings_body_reads_its_usage() -> None:
    body = {"object": "list", "data": [], "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 8, "total_tokens": 8}}
    parsed = parse_response("openai", body)
    assert (parsed.model, parsed.usage) == ("text-embedding-3-small", Usage(input_tokens=8))


# --- invariants ------------------------------------------------------------------------

@given(prompt=st.integers(0, 10**7), cached=st.integers(0, 10**7), completion=st.integers(0, 10**6),
       reasoning=st.integers(0, 10**6))
def test_chat_buckets_add_back_to_the_reported_totals(prompt: int, cached: int, completion: int,
                                                      reasoning: int) -> None:
    cached, reasoning = min(cached, prompt), min(reasoning, completion)
    usage = parse_usage("openai", {"prompt_tokens": prompt, "completion_tokens": completion,
                                   "total_tokens": prompt + completion,
                                   "prompt_tokens_details": {"cached_tokens": cached},
                                   "completion_tokens_details": {"reasoning_tokens": reasoning}})
    assert usage.total_input_tokens == prompt
    assert usage.total_tokens == prompt + completion


@given(prompt=st.integers(0, 10**7), cached=st.integers(0, 10**7), candidates=st.integers(0, 10**6),
       thoughts=st.integers(0, 10**6), tool=st.integers(0, 10**6))
def test_gemini_buckets_add_up_to_total_token_count(prompt: int, cached: int, candidates: int, thoughts: int,
                                                    tool: int) -> None:
    cached = min(cached, prompt)
    usage = parse_usage("google", {"promptTokenCount": prompt, "cachedContentTokenCount": cached,
                                   "candidatesTokenCount": candidates, "thoughtsTokenCount": thoughts,
                                   "toolUsePromptTokenCount": tool})
    assert usage.total_tokens == prompt + candidates + thoughts + tool
    assert usage.cache_read_tokens == cached
