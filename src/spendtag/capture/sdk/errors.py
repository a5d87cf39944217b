"""The error an instrumented client raises instead of sending a call a budget forbids."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from spendtag.errors import SpendtagError
from spendtag.money import to_decimal


class BudgetExceeded(SpendtagError):
    """A blocking budget's stop threshold is reached: the call was not sent.

    ``budget`` is the budget's name. ``spent`` and ``limit`` are exact ``Decimal`` US dollars
    (``Decimal("12.50")``); the same amounts as integer pico-USD (1e-12 USD, the ledger's
    unit) are ``spent_pico`` and ``limit_pico``. ``retry_after`` is when the period resets
    (None for a budget with no end). ``str(error)`` says it in words, money as ``$12.50``.
    """

    def __init__(self, message: str, *, budget: str, spent_pico: int, limit_pico: int,
                 retry_after: datetime | None = None) -> None:
        super().__init__(message)
        self.budget = budget
        self.spent_pico = spent_pico
        self.limit_pico = limit_pico
        self.retry_after = retry_after

    @property
    def spent(self) -> Decimal:
        """Spent in the budget's period, in USD (exact)."""
        return to_decimal(self.spent_pico)

    @property
    def limit(self) -> Decimal:
        """The budget's limit, in USD (exact)."""
        return to_decimal(self.limit_pico)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments: rebuild from them, so the error crosses process boundaries (pickle).
        return (_rebuild, (str(self), self.budget, self.spent_pico, self.limit_pico, self.retry_after))


def _rebuild(message: str, budget: str, spent_pico: int, limit_pico: int,
             retry_after: datetime | None) -> BudgetExceeded:
    return BudgetExceeded(message, budget=budget, spent_pico=spent_pico, limit_pico=limit_pico,
                          retry_after=retry_after)
