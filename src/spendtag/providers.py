"""Provider names: the many spellings SDKs, gateways and OpenTelemetry use, mapped to one id.

The ids are genai-prices' provider ids (``openai``, ``anthropic``, ``google``, ``x-ai``,
``aws``, ``azure``...), so the ledger, reports and pricing all agree on a name.
"""

from __future__ import annotations

# Aliases seen in SDKs, gateways (pydantic-ai, litellm) and OTel's gen_ai.provider.name.
_ALIASES: dict[str, str] = {
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
    "xai": "x-ai",
    "x_ai": "x-ai",
    "grok": "x-ai",
    "bedrock": "aws",
    "aws.bedrock": "aws",
    "azure_openai": "azure",
    "azure-openai": "azure",
    "azure.ai.openai": "azure",
    "fireworks_ai": "fireworks",
}


def normalise(name: str) -> str:
    """One provider id for any common spelling (``Gemini`` -> ``google``); unknown names lower-cased."""
    key = name.strip().lower()
    return _ALIASES.get(key, key)
