"""A small ledger with exact, hand-made numbers for the dashboard and API tests.

March 2026 (UTC): acme $3.50 over 4 calls (2 sessions), globex $1.25 over 2 calls, one
untagged call of $0.40, and one unpriced (untagged) call on an unknown model. February has
acme $2.00 (the previous period). A monthly budget for acme ($5, notify 50%), one over
everybody, an alert, an issued invoice for acme and one for globex, and a virtual key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_event

from spendtag.guard.budgets import Budget
from spendtag.ledger import open_store
from spendtag.ledger.store import AlertRecord, VirtualKey
from spendtag.money import parse_usd
from spendtag.tags import Selector
from spendtag.usage import Usage

MARCH = datetime(2026, 3, 1, tzinfo=UTC)


def usd(text: str) -> int:
    return parse_usd(text)


@contextmanager
def seeded(root: Path) -> Iterator[Path]:
    """The seeded ledger under ``root``, with the config and home kept there while it is in use."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPENDTAG_CONFIG", str(root / "config.toml"))
        mp.setenv("HOME", str(root / "home"))
        mp.delenv("SPENDTAG_TZ", raising=False)
        seed(root / "ledger.db")
        yield root / "ledger.db"


def seed(db: Path) -> None:
    store = open_store(f"sqlite:///{db}")
    at = lambda day, hour=10: datetime(2026, 3, day, hour, tzinfo=UTC)  # noqa: E731
    store.record([
        make_event("a1", at(2), cost=usd("1.00"), tags={"client": "acme"}, session="s-acme-1", agent="coder"),
        make_event("a2", at(2, 11), cost=usd("0.50"), tags={"client": "acme"}, session="s-acme-1", agent="coder",
                   model="claude-haiku-4-5"),
        make_event("a3", at(9), cost=usd("1.75"), tags={"client": "acme", "project": "apollo"}, session="s-acme-2",
                   agent="planner"),
        make_event("a4", at(20), cost=usd("0.25"), tags={"client": "acme"}, session="s-acme-2", agent="planner",
                   usage=Usage(input_tokens=1000, output_tokens=200, cache_read_tokens=5000)),
        make_event("u1", at(21), provider="openai", model="ft:custom-model", priced=False, agent="summariser"),
        make_event("g1", at(5), cost=usd("1.00"), tags={"client": "globex"}, session="s-globex", agent="coder",
                   provider="openai", model="gpt-4.1"),
        make_event("g2", at(6), cost=usd("0.25"), tags={"client": "globex"}, session="s-globex", agent="coder",
                   provider="openai", model="gpt-4.1"),
        make_event("n1", at(12), cost=usd("0.40"), agent="coder"),
        make_event("f1", datetime(2026, 2, 10, tzinfo=UTC), cost=usd("2.00"), tags={"client": "acme"}),
    ])
    store.save_budget("acme-monthly", Budget("acme-monthly", usd("5"), scope=(Selector.parse("client=acme"),),
                                             notify_percent=(Decimal(50),)).to_dict())
    store.save_budget("everyone", Budget("everyone", usd("100")).to_dict())
    store.add_alert(AlertRecord("acme-monthly:2026-03:50%", "budget", "acme-monthly", "2026-03", "50%", usd("3.50"),
                                usd("5"), datetime(2026, 3, 9, 10, tzinfo=UTC),
                                {"message": "acme-monthly passed 50%", "scope": "client=acme"}))
    store.add_key(VirtualKey("vk_1", "acme-key", "0" * 64, "sk-st-abc", {"client": "acme"},
                             created_at=datetime(2026, 3, 1, tzinfo=UTC)))
    store.close()
    runner = CliRunner()
    for client in ("acme", "globex"):
        result = runner.invoke(_cli(), ["--db", str(db), "invoice", "--client", client, "--period", "2026-03",
                                        "--issue"], catch_exceptions=False)
        assert result.exit_code == 0, result.output


def _cli():  # type: ignore[no-untyped-def]
    from spendtag.cli.main import cli

    return cli
