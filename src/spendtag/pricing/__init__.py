"""Exact prices for LLM calls: genai-prices list prices plus a book of user overrides."""

from spendtag.pricing.book import PriceBook, PriceOverride
from spendtag.pricing.pricer import Pricer
from spendtag.pricing.rates import PRICE_DATA_VERSION, Rates

__all__ = ["PRICE_DATA_VERSION", "PriceBook", "PriceOverride", "Pricer", "Rates"]
