"""Token estimates for calls whose usage never arrived: a stream the client abandoned or the
upstream cut, a non-streamed body cut short.

No tokenizer is used: none that works offline ships inside an installed package (tiktoken
downloads its data; Anthropic and Google publish none), so text is counted in characters
and divided by a per-provider ratio. Records made this way are marked ``estimated``.

Calibration, against every fixture under ``tests/fixtures/formats`` that holds both the
text and the provider's count for it (``tests/test_estimate_calibration.py`` checks it):

=========  ====================================================  ======  ======  ======
provider   fixture (streamed text -> reported output tokens)     chars   tokens  c/t
=========  ====================================================  ======  ======  ======
openai     openai/02 chat stream "Bonjour le monde !"                18       5   3.6
openai     openai/05 responses stream "Streaming keeps the UI ..."   34       7   4.9
openai     compat/groq stream "Hello there"                          11       3   3.7
openai     compat/mistral stream "Bonjour !"                          9       5   1.8
anthropic  anthropic/02 message stream "Short answer: yes, ..."      40      14   2.9
google     gemini/02 stream "Rust's ownership model ..."            114      23   5.0
=========  ====================================================  ======  ======  ======

Per provider, the ratio is the fixtures' (rounded to a half): OpenAI-style 4 characters a
token (72 characters, 20 tokens; counted per stream with rounding up, 20 estimated for
20), Anthropic 3 (14 for 14), Gemini 5 (23 for 23). Per stream the error is up to 40 % on
a few words (short strings round badly), and it shrinks with length. Thinking is billed as
output but not streamed as text (Gemini's stream also reports 432 thought tokens), so the
output of a thinking model's cut stream is under-estimated. On the input side one
fixture pairs a request with its count: ``anthropic/05`` (count_tokens: a system prompt, a
tool and one message) reports 623 tokens; the estimate is 437, 30 % under (87 from its text,
4 for the message, and the 346 of the hidden system prompt Anthropic documents for a request
with tools on Claude 4 models, added whenever a request has tools). The fixtures are hand-written
samples, so these ratios follow the providers' published rules of thumb (about four
characters a token for English, Claude's tokenizer somewhat denser) more than any exact
count; estimates are always reconciled later against the provider's usage reports.
"""

from __future__ import annotations

import json
import re

# Characters per token, in tenths (integer arithmetic), by normalised provider id.
TENTHS_PER_TOKEN = {"openai": 40, "anthropic": 30, "google": 50}
DEFAULT_TENTHS = 40
CHARS_PER_TOKEN = 4      # the default ratio, as a whole number (kept for readers of this module)
MESSAGE_TOKENS = 4       # each message's role and framing, as OpenAI's counting guide has it
# Anthropic: "tool use system prompt" tokens a request with tools is billed (Claude 4 models, tool_choice auto).
ANTHROPIC_TOOL_TOKENS = 346


def tokens_for_chars(chars: int, provider: str | None = None, *, at_least: int = 0) -> int:
    """Tokens for ``chars`` characters of text, rounded up, at ``provider``'s ratio."""
    tenths = TENTHS_PER_TOKEN.get(provider or "", DEFAULT_TENTHS)
    return max(at_least, -(-chars * 10 // tenths))


def string_fields(*keys: str) -> re.Pattern[bytes]:
    """A pattern capturing the raw (still JSON-escaped) value of string fields named ``keys``.

    Matching raw event bytes lets the stream readers measure streamed text without
    decoding every delta event as JSON.
    """
    names = b"|".join(re.escape(k.encode()) for k in keys)
    return re.compile(rb'"(?:' + names + rb')"\s*:\s*"([^"\\]*(?:\\.[^"\\]*)*)"')


def raw_chars(pattern: re.Pattern[bytes], data: bytes) -> int:
    """Characters of text in the fields ``pattern`` captures in one raw JSON event."""
    total = 0
    for raw in pattern.findall(data):
        if raw.isascii() and b"\\" not in raw:
            total += len(raw)
            continue
        try:
            total += len(json.loads(b'"' + raw + b'"'))
        except ValueError:
            total += len(raw)
    return total


# Request fields whose strings are not prompt text: binary payloads (base64), links to them,
# and the request's own settings.
_NOT_TEXT = frozenset({"data", "file_data", "image_url", "url", "input_audio", "b64_json", "file_id", "model",
                       "role", "type", "metadata", "user", "service_tier", "safety_identifier", "prompt_cache_key",
                       "cache_control", "stream_options", "previous_response_id"})
_TOOLS = frozenset({"tools", "functions"})


def prompt_tokens(body: bytes, provider: str | None = None) -> int:
    """An estimate of the input tokens of a request body (any of the providers' APIs).

    Never 0 for a request that sent anything. JSON strings count, except images, audio and
    files (base64 or links), which are billed by other rules and would swamp the estimate,
    and the request's settings (model, role, type...); tool definitions count as their JSON
    (their keys are part of the schema the model reads); each message adds its framing.
    """
    if not body:
        return 0
    try:
        obj = json.loads(body)
    except ValueError:
        return tokens_for_chars(len(body), provider, at_least=1)
    chars, messages, tools = _text_chars(obj)
    extra = ANTHROPIC_TOOL_TOKENS if tools and provider == "anthropic" else 0
    return max(1, tokens_for_chars(chars, provider) + MESSAGE_TOKENS * messages + extra)


_OUTPUT_TEXT = string_fields("content", "text", "thinking", "refusal", "arguments", "reasoning_content",
                             "partial_json")


def body_output_tokens(partial: bytes, provider: str | None = None) -> int:
    """Output tokens of the text in a response body cut short (raw bytes, partial JSON)."""
    return tokens_for_chars(raw_chars(_OUTPUT_TEXT, partial), provider)


def _text_chars(obj: object) -> tuple[int, int, bool]:
    """(characters of text, messages, whether it defines tools) in a decoded request."""
    chars = messages = 0
    tools = False
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            chars += len(item)
        elif isinstance(item, dict):
            if "role" in item:
                messages += 1
            for k, v in item.items():
                if k in _TOOLS and isinstance(v, list) and v:
                    tools = True
                    chars += len(json.dumps(v, separators=(",", ":"), ensure_ascii=False))
                elif k not in _NOT_TEXT:
                    stack.append(v)
        elif isinstance(item, list):
            stack.extend(item)
    return chars, messages, tools
