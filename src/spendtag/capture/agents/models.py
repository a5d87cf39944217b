"""Provider and model names as coding agents record them, made priceable.

Agents route calls through gateways and subscriptions: OpenCode records ``providerID:
"openrouter"`` with ``modelID: "anthropic/claude-sonnet-4"``, Droid records ``custom:`` models,
some record a ``vendor/model`` id with no provider at all. The price of such a call is the
upstream vendor's list price (OpenRouter passes it through), so a routed id is split into
the vendor and its model. A provider spendtag does not know, with a plain model id (OpenCode
Zen's ``opencode``, a company gateway) becomes the vendor of the model's family when it is
plain (``claude-*`` is Anthropic's), else stays: the price data then finds the model by name.
A free variant (``...:free``) is left as the router named it (priced as the router's data
says, or unpriced), never at the vendor's list price. A routed id of a vendor the price data
has no list of (``qwen/qwen3-coder``) is priced from OpenRouter's list.

Aider writes LiteLLM names (``anthropic/claude-sonnet-4``, ``gemini/gemini-2.5-pro``,
``openrouter/qwen/qwen3-coder``, ``ollama_chat/qwen2.5-coder:32b``): :func:`litellm`
splits off LiteLLM's provider prefix first.
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
# Vendors of routed ids that have no list of their own in the price data: OpenRouter's list.
_UNLISTED = frozenset({"qwen"})
# LiteLLM's provider prefixes (Aider's model names) and the provider they stand for.
_LITELLM = {"anthropic": "anthropic", "openai": "openai", "gemini": "google", "vertex_ai": "google",
            "bedrock": "aws", "azure": "azure", "deepseek": "deepseek", "xai": "x-ai", "groq": "groq",
            "mistral": "mistral", "cohere": "cohere", "fireworks_ai": "fireworks", "together_ai": "together",
            "moonshot": "moonshotai", "cerebras": "cerebras", "ollama": "ollama", "ollama_chat": "ollama",
            "openrouter": "openrouter"}
UNKNOWN = "unknown"
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
        if vendor in _UNLISTED and rest and name in ROUTERS:
            return "openrouter", model
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


def litellm(model: str) -> tuple[str, str]:
    """``(provider, model)`` for a LiteLLM model name (``gemini/gemini-2.5-pro``), made priceable."""
    head, slash, rest = model.strip().partition("/")
    provider = _LITELLM.get(head.lower()) if slash and rest else None
    if provider is None:
        return priceable(None, model)
    return priceable(provider, rest)
