"""The error an instrumented client raises instead of sending a call a budget forbids."""

from __future__ import annotations

from datetime import datetime

from spendtag.errors import SpendtagError


class BudgetExceeded(SpendtagError):
    """A blocking budget's stop threshold is reached: the call was not sent.

    ``budget`` is the budget's name; ``spent`` and ``limit`` are pico-USD integers
    (:func:`spendtag.money.format_usd` shows them); ``retry_after`` is when the period
    resets (None for a budget with no end).
    """

    def __init__(self, message: str, *, budget: str, spent: int, limit: int,
                 retry_after: datetime | None = None) -> None:
        super().__init__(message)
        self.budget = budget
        self.spent = spent
        self.limit = limit
        self.retry_after = retry_after
