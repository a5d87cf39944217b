"""The estimate's calibration (``spendtag.capture.estimate``), checked against the fixtures that hold
both a text and the provider's count for it: change a ratio and these figures say what it costs."""

from __future__ import annotations

import json

from conftest import fixture_path

from spendtag.capture.estimate import prompt_tokens, tokens_for_chars
from spendtag.capture.stream import parse_stream

# (provider, fixture, how to read its streamed text)
STREAMS = [
    ("openai", "openai/02_chat_completion_stream_include_usage.sse", "chat"),
    ("openai", "openai/05_responses_stream.sse", "responses"),
    ("openai", "compat/groq_stream_x_groq_usage.sse", "chat"),
    ("openai", "compat/mistral_stream.sse", "chat"),
    ("anthropic", "anthropic/02_message_stream.sse", "messages"),
    ("google", "gemini/02_stream_generate_content.sse", "gemini"),
]


def _text(raw: bytes, api: str) -> str:
    out = []
    for line in raw.decode().splitlines():
        if not line.startswith("data:") or line[5:].strip() == "[DONE]":
            continue
        obj = json.loads(line[5:])
        if api == "chat":
            out += [c["delta"].get("content") or "" for c in obj.get("choices", [])]
        elif api == "responses" and obj["type"] == "response.output_text.delta":
            out.append(obj["delta"])
        elif api == "messages" and obj["type"] == "content_block_delta":
            out.append(obj["delta"].get("text", ""))
        elif api == "gemini":
            out += [p.get("text", "") for c in obj.get("candidates", []) for p in c["content"]["parts"]]
    return "".join(out)


def _pairs() -> list[tuple[str, int, int]]:
    """(provider, characters streamed, output tokens reported for them) per fixture stream.

    Thinking is billed as output but not streamed as text (Gemini's 432 here): only the
    visible output is compared."""
    pairs = []
    for provider, name, api in STREAMS:
        folder, file = name.split("/")
        raw = fixture_path(folder, file).read_bytes()
        usage = parse_stream(provider, raw).usage
        assert usage is not None and not usage.estimated
        pairs.append((provider, len(_text(raw, api)), usage.output_tokens - usage.reasoning_tokens))
    return pairs


def test_the_fixture_figures_are_the_ones_documented() -> None:
    assert _pairs() == [("openai", 18, 5), ("openai", 34, 7), ("openai", 11, 3), ("openai", 9, 5),
                        ("anthropic", 40, 14), ("google", 114, 23)]


def test_per_provider_the_estimates_add_up_to_the_reported_counts() -> None:
    for provider in ("openai", "anthropic", "google"):
        mine = [(chars, real) for p, chars, real in _pairs() if p == provider]
        assert sum(tokens_for_chars(chars, provider) for chars, _ in mine) == sum(real for _, real in mine)


def test_each_stream_is_within_the_documented_error() -> None:
    for provider, chars, real in _pairs():
        assert abs(tokens_for_chars(chars, provider) - real) <= 0.4 * real, (provider, chars, real)


def test_the_one_request_with_its_count_is_within_30_percent() -> None:
    request = fixture_path("anthropic", "05_count_tokens_request.json").read_bytes()
    real = json.loads(fixture_path("anthropic", "05_count_tokens_response.json").read_bytes())["input_tokens"]
    estimate = prompt_tokens(request, "anthropic")
    assert (estimate, real) == (437, 623)
    assert abs(estimate - real) <= 0.3 * real
