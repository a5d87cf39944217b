"""Where the bundled list prices (genai-prices) disagree with LiteLLM's published price map.

The second source is a file the user provides, in the shape of LiteLLM's
``model_prices_and_context_window.json``: model id -> ``input_cost_per_token``,
``output_cost_per_token``, ``cache_read_input_token_cost``,
``cache_creation_input_token_cost`` (USD per token) and ``litellm_provider``. Its numbers
are JSON floats; they are read straight from the text as ``Decimal`` (floats already parsed
elsewhere go through ``repr``), never through float arithmetic.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spendtag.bill.terms import BillingError
from spendtag.usage import Usage

if TYPE_CHECKING:
    from spendtag.pricing.pricer import Pricer

# LiteLLM field -> spendtag bucket.
FIELDS: dict[str, str] = {
    "input_cost_per_token": "input_tokens",
    "output_cost_per_token": "output_tokens",
    "cache_read_input_token_cost": "cache_read_tokens",
    "cache_creation_input_token_cost": "cache_write_5m_tokens",
}
# spendtag provider id -> LiteLLM provider prefixes to try.
_ALIASES: dict[str, tuple[str, ...]] = {
    "google": ("gemini", "vertex_ai"),
    "mistral": ("mistral",),
    "xai": ("xai",),
}


def exact(value: object) -> Decimal | None:
    """A LiteLLM number as an exact Decimal: Decimal as is, a float through its repr, text as written."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int | str):
        return Decimal(value)
    return None


def load(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except (OSError, UnicodeDecodeError) as exc:
        raise BillingError(f"cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise BillingError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise BillingError(f"{path} is not a LiteLLM price map (a JSON object of models)")
    return {k: v for k, v in data.items() if isinstance(v, dict) and k != "sample_spec"}


@dataclass(frozen=True, slots=True)
class Mismatch:
    provider: str
    model: str
    bucket: str
    ours: Decimal           # USD per token
    theirs: Decimal


@dataclass(slots=True)
class Diff:
    compared: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    not_in_litellm: list[tuple[str, str]] = field(default_factory=list)
    not_listed: list[tuple[str, str]] = field(default_factory=list)    # genai-prices has no price


def find(litellm: Mapping[str, dict[str, Any]], provider: str, model: str) -> dict[str, Any] | None:
    prefixes = (provider, *_ALIASES.get(provider, ()))
    for key in (*(f"{p}/{model}" for p in prefixes), model):
        if key in litellm:
            return litellm[key]
    return None


def _models_in(litellm: Mapping[str, dict[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for key, entry in litellm.items():
        if "input_cost_per_token" not in entry:
            continue
        provider = str(entry.get("litellm_provider") or "")
        model = key.split("/", 1)[1] if "/" in key and key.split("/", 1)[0] == provider else key
        out.append((provider, model))
    return sorted(set(out))


def diff(pricer: Pricer, litellm: Mapping[str, dict[str, Any]], models: Iterable[tuple[str, str]] | None,
         when: datetime) -> Diff:
    """Compare the list rates in force at ``when`` for ``models`` (None: every LiteLLM chat model)."""
    result = Diff()
    for provider, model in (_models_in(litellm) if models is None else sorted(set(models))):
        entry = find(litellm, provider, model)
        if entry is None:
            result.not_in_litellm.append((provider, model))
            continue
        rates = pricer.resolve(provider, model, when, Usage(input_tokens=1))
        if rates is None:
            result.not_listed.append((provider, model))
            continue
        result.compared += 1
        for name, bucket in FIELDS.items():
            theirs, ours = exact(entry.get(name)), rates.rates.get(bucket)
            if theirs is not None and ours is not None and theirs != ours:
                result.mismatches.append(Mismatch(provider, model, bucket, ours, theirs))
    return result
