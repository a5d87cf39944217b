"""`spendtag.BudgetExceeded`: money as exact Decimal dollars, the pico-USD integers under explicit names."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import spendtag
from spendtag.capture.sdk.enforce import Enforcer
from spendtag.guard.budgets import Budget
from spendtag.ledger import open_store
from spendtag.money import PICO_PER_USD, parse_usd
from spendtag.tags import Selector
from spendtag.usage import Usage, UsageEvent


def test_spent_and_limit_are_decimal_dollars() -> None:
    err = spendtag.BudgetExceeded("budget acme: spent $12.50 of $10.00", budget="acme",
                                  spent_pico=12_500_000_000_000, limit_pico=10 * PICO_PER_USD,
                                  retry_after=datetime(2026, 4, 1, tzinfo=UTC))
    assert (err.spent, err.limit) == (Decimal("12.50"), Decimal("10.00"))
    assert type(err.spent) is Decimal and type(err.limit) is Decimal
    assert (str(err.spent), str(err.limit)) == ("12.50", "10.00")
    assert (err.spent_pico, err.limit_pico) == (12_500_000_000_000, 10 * PICO_PER_USD)
    assert str(err) == "budget acme: spent $12.50 of $10.00"
    assert isinstance(err, spendtag.SpendtagError)


@given(spent=st.integers(0, 10**20), limit=st.integers(1, 10**20))
def test_the_dollars_are_the_pico_amounts_exactly(spent: int, limit: int) -> None:
    err = spendtag.BudgetExceeded("x", budget="b", spent_pico=spent, limit_pico=limit)
    assert parse_usd(err.spent) == spent and parse_usd(err.limit) == limit    # exact: no digit lost
    assert err.spent * PICO_PER_USD == spent


def test_it_survives_pickling() -> None:
    err = spendtag.BudgetExceeded("budget acme: spent $1.00 of $1.00", budget="acme", spent_pico=PICO_PER_USD,
                                  limit_pico=PICO_PER_USD, retry_after=datetime(2026, 4, 1, tzinfo=UTC))
    again = pickle.loads(pickle.dumps(err))
    assert (type(again), str(again), again.budget, again.spent, again.limit, again.retry_after) == (
        spendtag.BudgetExceeded, str(err), "acme", Decimal("1.00"), Decimal("1.00"), err.retry_after)


def test_the_enforcer_raises_it_with_dollars_and_a_readable_message(tmp_path: Path) -> None:
    db = str(tmp_path / "l.db")
    store = open_store(db)
    store.save_budget("acme", Budget("acme", parse_usd("2.50"), scope=(Selector.parse("client=acme"),),
                                     enforce="block").to_dict())     # no stop threshold given: stops at 100%
    from spendtag.recording import Recorder

    Recorder(store).record([UsageEvent("e1", datetime.now(UTC), "openai", "gpt-4o",
                                       Usage(input_tokens=1_000_000), tags={"client": "acme"})])   # $2.50
    store.close()
    enforcer = Enforcer(db=db)
    try:
        enforcer.check({"client": "acme"}, agent=None, project=None)
    except spendtag.BudgetExceeded as err:
        assert (err.budget, err.spent, err.limit) == ("acme", Decimal("2.50"), Decimal("2.50"))
        assert (err.spent_pico, err.limit_pico) == (parse_usd("2.50"), parse_usd("2.50"))
        assert str(err).startswith("budget acme (client=acme, ") and str(err).endswith(
            "has reached its stop threshold: spent $2.50 of $2.50")
    else:
        raise AssertionError("the enforcer let a call through a spent blocking budget")
    enforcer.check({"client": "globex"}, agent=None, project=None)     # not covered: no error
