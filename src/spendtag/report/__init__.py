"""Reading the ledger for people: spend broken down by tag and dimension, sessions and 5-hour
blocks, exports, cheaper-model recommendations, the status line, what could not be priced, and
the selections behind them (with what they match, or the close names when they match nothing).

Modules load on their own (``from spendtag.report import breakdown``): nothing is imported here.
"""
