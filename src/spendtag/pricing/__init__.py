"""Exact prices for LLM calls: genai-prices list prices plus a book of user overrides.

The price book is light; the Pricer loads genai-prices' data, so it is imported only when
first asked for (reports need it only to name models, through ``pricing.identity``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spendtag.pricing.book import PriceBook, PriceOverride

if TYPE_CHECKING:
    from spendtag.pricing.pricer import Pricer
    from spendtag.pricing.rates import PRICE_DATA_VERSION, Rates

__all__ = ["PRICE_DATA_VERSION", "PriceBook", "PriceOverride", "Pricer", "Rates"]


def __getattr__(name: str) -> Any:
    if name == "Pricer":
        from spendtag.pricing.pricer import Pricer

        return Pricer
    if name in ("PRICE_DATA_VERSION", "Rates"):
        from spendtag.pricing import rates

        return getattr(rates, name)
    raise AttributeError(f"module 'spendtag.pricing' has no attribute {name!r}")
