"""Provider and model names as coding agents record them, made priceable.

Agents route calls through gateways and subscriptions: OpenCode records ``providerID:
"openrouter"`` with ``modelID: "anthropic/claude-sonnet-4"``, Droid records ``custom:`` models,
some record a ``vendor/model`` id with no provider at all. The price of such a call is the
upstream vendor's list price (OpenRouter passes it through), so a routed id is split into
the vendor and its model. A provider spendtag does not know, with a plain model id (OpenCode
Zen's ``opencode``, a company gateway) becomes the vendor of the model's family when it is
plain (``claude-*`` is Anthropic's), else stays: the price data then finds the model by name.
A free variant (``...:free``) is left as the router named it (priced as the router's data
says, or unpriced), never at the vendor's list price.
"""

from __future__ import annotations

from functools import lru_cache

from spendtag.providers import normalise

# Gateways whose model ids are ``vendor/model``, and the agents' own subscription names.
ROUTERS = frozenset({
    "openrouter", "opencode", "opencode-go", "vercel", "requesty", "litellm", "helicone", "zenmux",
    "github-copilot", "github-copilot-enterprise", "copilot", "amp", "factory", "kilo", "kilocode", "cline",
    "roo", "zen", "unknown", "custom", "",
})
# ``vendor/`` prefixes of routed ids, as the routers spell them, and the provider they stand for.
VENDORS = {
    "anthropic": "anthropic", "openai": "openai", "google": "google", "gemini": "google", "x-ai": "x-ai",
    "xai": "x-ai", "deepseek": "deepseek", "mistralai": "mistral", "mistral": "mistral", "qwen": "qwen",
    "moonshotai": "moonshotai", "z-ai": "zai", "zai": "zai", "meta-llama": "meta", "cohere": "cohere",
    "minimax": "minimax",
}
# Provider ids that name the same price list as a vendor.
_SAME = {"google-vertex": "google", "google-vertex-anthropic": "anthropic", "amazon-bedrock": "aws",
         "azure-openai": "azure", "claude": "anthropic", "xai": "x-ai", "moonshot": "moonshotai",
         "zhipuai": "zai", "zai-coding-plan": "zai"}


@lru_cache(maxsize=4096)
def priceable(provider: str | None, model: str) -> tuple[str, str]:
    """``(provider, model)`` to record for a call an agent logged as ``provider``/``model``.

    A router without a vendor in the id gives the vendor the model's family names, else the
    router itself (the price data then finds the model by its name).
    """
    model = model.strip()
    name = normalise(provider or "")
    name = _SAME.get(name, name)
    if model.startswith("custom:"):
        model = model[len("custom:"):]
    if "/" in model and not model.endswith(":free"):
        head, _, rest = model.partition("/")
        vendor = VENDORS.get(head.lower())
        if vendor is not None and rest and (name in ROUTERS or name == vendor or name not in VENDORS.values()):
            return vendor, rest
    if name in ROUTERS and not model.endswith(":free"):
        return guess_provider(model) or name or "unknown", model
    return name or guess_provider(model) or "unknown", model


def guess_provider(model: str) -> str:
    """The vendor a bare model id belongs to, from its family name ("" when unsure)."""
    m = model.lower()
    if "claude" in m or "sonnet" in m or "opus" in m or "haiku" in m:
        return "anthropic"
    if m.startswith(("gpt-", "o1", "o3", "o4", "codex")) or "-gpt-" in m:
        return "openai"
    if "gemini" in m:
        return "google"
    if "grok" in m:
        return "x-ai"
    return ""
