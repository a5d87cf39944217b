"""The provider and model to price an agent's call with, from the names the agent wrote.

Agents write models as their configuration names them: a provider's own id
(``claude-sonnet-4-20250514``), a gateway's routed id (OpenRouter's
``anthropic/claude-sonnet-4``, which Cline's and Kilo Code's own providers use too), or a
LiteLLM name (Aider: ``openrouter/anthropic/claude-3.5-sonnet``, ``gemini/gemini-2.5-pro``).
:func:`priced_model` turns each into a provider the price data knows and the model under
it. The model text is kept as written otherwise: the pricer matches dated and aliased names.
"""

from __future__ import annotations

from spendtag.providers import normalise

UNKNOWN = "unknown"

# Providers whose model ids are OpenRouter's ``vendor/model`` ids: priced from OpenRouter's list.
_ROUTERS = frozenset({"openrouter", "cline", "kilocode", "kilo", "kilo-code", "roo", "requesty", "vercel-ai-gateway",
                      "glama", "unbound", "litellm"})
# The first part of a routed id, as model vendors spell it on OpenRouter.
_VENDORS = frozenset({"anthropic", "openai", "google", "x-ai", "meta-llama", "mistralai", "deepseek", "qwen",
                      "moonshotai", "z-ai", "minimax", "cohere", "amazon", "nvidia", "microsoft"})
# Vendors whose own list the price data has: a routed call is priced at the vendor's list
# price (the router passes it through; its own table lacks some cache rates).
_LISTED = {"anthropic": "anthropic", "openai": "openai", "google": "google", "x-ai": "x-ai", "deepseek": "deepseek",
           "moonshotai": "moonshotai", "z-ai": "zai", "mistralai": "mistral"}
# OpenRouter's variant suffixes that do not change the price (``:free`` does: it stays routed).
_VARIANTS = (":thinking", ":beta", ":nitro", ":floor", ":online", ":extended", ":exacto")
# LiteLLM's provider prefixes (Aider's model names) -> provider ids of the price data.
_LITELLM = {"anthropic": "anthropic", "openai": "openai", "gemini": "google", "vertex_ai": "google",
            "bedrock": "aws", "azure": "azure", "deepseek": "deepseek", "xai": "x-ai", "groq": "groq",
            "mistral": "mistral", "cohere": "cohere", "fireworks_ai": "fireworks", "together_ai": "together",
            "moonshot": "moonshotai", "cerebras": "cerebras", "ollama": "ollama", "ollama_chat": "ollama"}
# Agents' own names for providers the price data names otherwise.
_PROVIDERS = {"kimi": "moonshotai", "moonshot": "moonshotai", "qwen": "alibaba", "dashscope": "alibaba",
              "openai-native": "openai", "gemini-cli": "google", "claude-code": "anthropic"}
# A bare model's vendor, from how its name starts.
_PREFIXES = (("claude", "anthropic"), ("gpt-", "openai"), ("o1", "openai"), ("o3", "openai"), ("o4", "openai"),
             ("codex", "openai"), ("gemini", "google"), ("grok", "x-ai"), ("kimi", "moonshotai"),
             ("moonshot", "moonshotai"), ("deepseek", "deepseek"), ("mistral", "mistral"), ("codestral", "mistral"),
             ("devstral", "mistral"), ("glm", "zai"), ("qwen", "alibaba"))


def vendor_of(model: str) -> str:
    """The provider a bare model name belongs to, or ``unknown``."""
    name = model.lower()
    for prefix, vendor in _PREFIXES:
        if name.startswith(prefix):
            return vendor
    return UNKNOWN


def priced_model(provider: str | None, model: str, *, litellm: bool = False) -> tuple[str, str]:
    """``(provider, model)`` for pricing a call the agent recorded as ``provider`` and ``model``.

    * a router's ``vendor/model`` id (or such an id with no provider, or under a generic
      OpenAI-compatible provider) -> the vendor and model when the price data lists the
      vendor (``anthropic/claude-sonnet-4`` -> anthropic ``claude-sonnet-4``), else
      ``("openrouter", id)`` (``qwen/qwen3-coder``, ``...:free``);
    * a LiteLLM name ``prefix/model`` (``litellm=True``: Aider) -> the prefix's provider,
      ``openrouter/vendor/model`` -> ``("openrouter", "vendor/model")``;
    * a bare model with no provider -> the vendor its name says (``claude-...`` -> anthropic).
    """
    model = model.strip()
    given = normalise(provider) if provider and provider.strip() else ""
    given = _PROVIDERS.get(given, given)
    head, slash, rest = model.partition("/")
    if slash and rest:
        lower = head.lower()
        if lower == "openrouter":
            vendor, _, name = rest.partition("/")
            return _routed(vendor.lower(), rest, name) if name else ("openrouter", rest)
        if litellm and lower in _LITELLM and given in ("", _LITELLM[lower]):
            return _LITELLM[lower], rest
        if lower in _VENDORS and (given in _ROUTERS or not given or (given == "openai" and lower != "openai")):
            return _routed(lower, model, rest)
        if given == lower or given == _LITELLM.get(lower):
            return given, rest
    if given and given not in _ROUTERS:
        return given, model
    return vendor_of(model), model


def _routed(vendor: str, routed: str, name: str) -> tuple[str, str]:
    """A router's ``vendor/name``: the vendor's own list when the price data has it."""
    listed = _LISTED.get(vendor)
    if listed is None or name.endswith(":free"):
        return "openrouter", routed
    for suffix in _VARIANTS:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return listed, name
