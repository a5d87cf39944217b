"""What every capture parser returns, and the provider ids it uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from spendtag.usage import Status, Usage


@dataclass(frozen=True, slots=True)
class Parsed:
    """One call as read from a response body, a stream or a batch line."""

    provider: str               # normalised provider id: "openai", "anthropic", "google", ...
    model: str | None           # as the RESPONSE reports it
    usage: Usage | None         # None when the body carries no usage (error bodies, expired batch rows)
    response_id: str | None
    status: Status


# Aliases seen in SDKs, gateways (pydantic-ai, litellm) and OTel's gen_ai.provider.name.
_PROVIDER_ALIASES = {
    "gemini": "google",
    "google-gla": "google",
    "google-vertex": "google",
    "google-genai": "google",
    "google_genai": "google",
    "vertex": "google",
    "vertex_ai": "google",
    "vertexai": "google",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "mistral_ai": "mistral",
    "mistralai": "mistral",
    "x_ai": "xai",
}


def normalise_provider(provider: str) -> str:
    key = provider.strip().lower()
    return _PROVIDER_ALIASES.get(key, key)


class StreamState(Protocol):
    """Per-API stream state behind :class:`~spendtag.capture.stream.StreamReader`."""

    def on_event(self, event: str | None, data: bytes) -> None: ...

    def finish(self, provider: str) -> Parsed: ...
