"""One name per model: the id a reported model id resolves to in genai-prices.

Providers report a model under several ids: dated ones (``claude-sonnet-4-5-20250929``),
dotted aliases (``claude-sonnet-4.5``), Vertex's ``claude-sonnet-4-5@20250929``. genai-prices
matches each to one model entry, and that entry's id is the model's name here, the same one
the Pricer prices it as. Overrides, report filters and report groups use it, so
``claude-sonnet-4-5`` covers every id of that model; a dated id still names that id alone.
A model the data does not know keeps the id it was reported with.

Resolving loads genai-prices' data (a few tenths of a second, once per process), so callers
ask only when a model has to be named: grouping or filtering by model.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spendtag.pricing.rates import ListPrices

_list: ListPrices | None = None


@lru_cache(maxsize=65536)
def model_name(provider: str | None, model: str) -> str:
    """The name ``model`` (as ``provider`` reported it) has in the price data, or ``model`` itself."""
    global _list
    if not model:
        return model
    if _list is None:
        from spendtag.pricing.rates import ListPrices

        _list = ListPrices()
    found = _list.find(provider or None, model)
    return found.model.id if found is not None else model
