"""Usage from provider responses: the entry points every capture path calls.

Each returns disjoint :class:`~spendtag.usage.Usage` buckets whatever the provider's own
overlaps (FORMATS.md section 0): OpenAI-style input includes cached tokens, Anthropic's
does not, Gemini's thoughts are outside its candidates. The response's own model, id and
tier modifiers are kept; errors and cut streams get a status instead of a silent zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spendtag.capture import anthropic, gemini, openai
from spendtag.capture._fields import JSON, loads, require_mapping, sub, text
from spendtag.capture.parsed import Parsed, normalise_provider
from spendtag.capture.stream import StreamReader, api_name, parse_stream
from spendtag.errors import UsageFormatError
from spendtag.usage import Usage

__all__ = [
    "Parsed",
    "StreamReader",
    "detect_provider",
    "normalise_provider",
    "parse_batch_line",
    "parse_response",
    "parse_stream",
    "parse_usage",
]

_GEMINI_KEYS = frozenset({
    "promptTokenCount", "candidatesTokenCount", "totalTokenCount", "cachedContentTokenCount",
    "thoughtsTokenCount", "toolUsePromptTokenCount",
    "prompt_token_count", "candidates_token_count", "total_token_count", "cached_content_token_count",
    "thoughts_token_count", "tool_use_prompt_token_count",
})
_CHAT_KEYS = frozenset({"prompt_tokens", "completion_tokens", "prompt_cache_hit_tokens"})
_ANTHROPIC_KEYS = frozenset({"cache_read_input_tokens", "cache_creation_input_tokens", "cache_creation",
                             "server_tool_use"})
_INPUT_OUTPUT_KEYS = frozenset({"input_tokens", "output_tokens"})
_MISTRAL_FAMILIES = ("mistral", "magistral", "codestral", "ministral", "pixtral", "devstral",
                     "voxtral", "open-mistral", "open-mixtral")


def parse_usage(provider: str, usage: Mapping[str, Any], *, api: str | None = None) -> Usage:
    """Just a provider's own usage object, e.g. pasted into ``spendtag record --usage``.

    ``api`` (chat, responses, messages, gemini) names its shape; without it the shape is
    sniffed from the keys. Provider "anthropic" means exclusive input whatever the keys.
    """
    u = require_mapping(usage, "usage")
    provider_id = normalise_provider(provider)
    shape = api_name(api) if api is not None else _sniff_usage(provider_id, u)
    if shape == "chat":
        return openai.chat_usage(u, provider_id)
    if shape == "responses":
        return openai.responses_usage(u)
    if shape == "messages":
        return anthropic.messages_usage(u)
    return gemini.gemini_usage(u)


def _sniff_usage(provider: str, u: JSON) -> str:
    keys = set(u)
    if keys & _GEMINI_KEYS:
        return "gemini"
    if keys & _CHAT_KEYS:
        return "chat"
    if keys & _ANTHROPIC_KEYS or (provider == "anthropic" and keys & _INPUT_OUTPUT_KEYS):
        return "messages"
    if keys & _INPUT_OUTPUT_KEYS or "cached_input_tokens" in keys:
        return "responses"
    if "usage" in keys or "usageMetadata" in keys:
        raise UsageFormatError("this looks like a whole response, not its usage object; pass the "
                               "'usage' (or 'usageMetadata') value itself, or use parse_response")
    shown = ", ".join(sorted(map(str, keys))) or "none"
    raise UsageFormatError(
        "no token counts found: expected prompt_tokens/completion_tokens (OpenAI chat), "
        "input_tokens/output_tokens (OpenAI Responses, Anthropic) or promptTokenCount... (Gemini); "
        f"got keys: {shown}"
    )


def parse_response(provider: str, body: Mapping[str, Any] | bytes | str) -> Parsed:
    """A whole non-streaming response body, dispatched on its shape."""
    obj = _load(body, "response body")
    provider_id = normalise_provider(provider) if provider.strip() else None
    if isinstance(obj, list):
        # streamGenerateContent without alt=sse returns a JSON array of chunks.
        chunks = [c for c in obj if isinstance(c, Mapping)]
        return gemini.parse_chunks(chunks, provider_id or "google")
    provider_id = provider_id or detect_provider(obj) or "unknown"
    kind, obj_type = obj.get("object"), obj.get("type")
    if obj_type == "error" or (obj.get("error") and kind != "response"):
        return Parsed(provider_id, text(obj, "model"), None, text(obj, "id"), "error")
    if obj_type == "message":
        return anthropic.parse_message(obj, provider_id)
    if kind == "response":
        return openai.parse_responses(obj, provider_id)
    if "candidates" in obj or "usageMetadata" in obj or "usage_metadata" in obj:
        return gemini.parse_generate_content(obj, provider_id)
    if "choices" in obj or kind in ("chat.completion", "text_completion"):
        return openai.parse_chat(obj, provider_id)
    raw = obj.get("usage")
    if isinstance(raw, Mapping):   # embeddings and other bodies with only a usage object
        return Parsed(provider_id, text(obj, "model"), parse_usage(provider_id, raw), text(obj, "id"), "ok")
    shown = ", ".join(sorted(map(str, obj))) or "none"
    raise UsageFormatError(f"unrecognised response body (keys: {shown}); expected a chat completion, "
                           "a Responses object, an Anthropic message or a Gemini response")


def parse_batch_line(provider: str, line: Mapping[str, Any] | str) -> Parsed:
    """One line of an OpenAI or Anthropic batch results file."""
    obj = _load(line, "batch line")
    if not isinstance(obj, Mapping):
        raise UsageFormatError(f"batch line must be a JSON object, got {type(obj).__name__}")
    provider_id = normalise_provider(provider)
    if isinstance(obj.get("result"), Mapping):
        return _anthropic_batch(obj, provider_id)
    if "response" in obj or "error" in obj:
        return _openai_batch(obj, provider_id)
    raise UsageFormatError("unrecognised batch line: expected {custom_id, result} (Anthropic) "
                           "or {id, custom_id, response, error} (OpenAI)")


def _openai_batch(obj: JSON, provider: str) -> Parsed:
    response = sub(obj, "response")
    body = response.get("body")
    status_code = response.get("status_code")
    failed = obj.get("error") or (isinstance(status_code, int) and status_code >= 400)
    if failed or not isinstance(body, Mapping | str | bytes):
        model = text(body, "model") if isinstance(body, Mapping) else None
        return Parsed(provider, model, None, text(obj, "id"), "error")
    parsed = parse_response(provider, body)
    if parsed.usage is None or parsed.status != "ok":
        return Parsed(provider, parsed.model, None, parsed.response_id or text(obj, "id"), "error")
    # The body carries no batch marker (FORMATS.md 1.6): the file it came from is the marker.
    return Parsed(provider, parsed.model, parsed.usage.replace(service_tier="batch"),
                  parsed.response_id or text(obj, "id"), "ok")


def _anthropic_batch(obj: JSON, provider: str) -> Parsed:
    result = sub(obj, "result")
    if result.get("type") != "succeeded":   # errored, expired, canceled: not billed
        return Parsed(provider, None, None, None, "error")
    parsed = anthropic.parse_message(sub(result, "message"), provider)
    usage = parsed.usage
    if usage is not None and usage.service_tier is None:
        usage = usage.replace(service_tier="batch")
    return Parsed(provider, parsed.model, usage, parsed.response_id, "ok" if usage else "error")


def detect_provider(body: Mapping[str, Any]) -> str | None:
    """A best guess at who produced ``body`` (a response, a stream event or a batch line)."""
    if not isinstance(body, Mapping):
        return None
    kind, obj_type = body.get("object"), body.get("type")
    if "custom_id" in body:
        return "anthropic" if "result" in body else "openai"
    if obj_type == "message" or (isinstance(obj_type, str)
                                 and obj_type.startswith(("message_", "content_block_"))):
        return "anthropic"
    if obj_type == "error" and isinstance(body.get("error"), Mapping):
        return "anthropic"   # OpenAI and Gemini errors have no top-level type
    if "usageMetadata" in body or "usage_metadata" in body or "candidates" in body or "modelVersion" in body:
        return "google"
    if kind == "response" or (isinstance(obj_type, str) and obj_type.startswith("response.")):
        return "openai"
    if "choices" in body or kind in ("chat.completion", "chat.completion.chunk", "text_completion"):
        return _compat_provider(body)
    return None


def _compat_provider(body: JSON) -> str:
    usage = sub(body, "usage")
    ident = text(body, "id") or ""
    model = (text(body, "model") or "").lower()
    if "x_groq" in body:
        return "groq"
    if "prompt_cache_hit_tokens" in usage:
        return "deepseek"
    if "cost" in usage or "provider" in body or ident.startswith("gen-"):
        return "openrouter"
    if model.startswith("gemini"):
        return "google"
    if model.startswith("deepseek"):
        return "deepseek"
    if model.startswith(_MISTRAL_FAMILIES):
        return "mistral"
    return "openai"


def _load(value: Mapping[str, Any] | bytes | str, what: str) -> JSON | list[Any]:
    if isinstance(value, Mapping):
        return value
    if isinstance(value, bytes | bytearray | str):
        try:
            obj = loads(value)
        except ValueError as exc:
            raise UsageFormatError(f"{what} is not JSON: {exc}") from None
        if isinstance(obj, Mapping | list):
            return obj
        raise UsageFormatError(f"{what} must be a JSON object, got {type(obj).__name__}")
    raise UsageFormatError(f"{what} must be a JSON object, bytes or str, got {type(value).__name__}")
