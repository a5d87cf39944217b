"""Shared by the SDK tests: a ledger sink over a temporary ledger, and the fixture-replaying upstream."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import test_proxy_helpers as proxy_helpers

from spendtag.capture.sdk import LedgerSink
from spendtag.usage import PricedEvent

Upstream = proxy_helpers.Upstream
upstream = proxy_helpers.upstream
MSG = [{"role": "user", "content": "hi"}]


class Ledger(LedgerSink):
    """A LedgerSink whose events can be read back once written."""

    def __init__(self, db: str) -> None:
        super().__init__(db, interval=0.01)

    def events(self) -> list[PricedEvent]:
        from spendtag.ledger import open_store
        from spendtag.ledger.query import Filters

        assert self.flush(10)
        store = open_store(self.db or "")
        try:
            return sorted(store.events(Filters()), key=lambda p: p.event.event_id)
        finally:
            store.close()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    sink = Ledger(str(tmp_path / "ledger.db"))
    yield sink
    sink.close()


def no_spendtag_headers(headers: dict[str, str]) -> bool:
    return not any(k.lower().startswith(("x-spendtag", "x-metering")) for k in headers)
