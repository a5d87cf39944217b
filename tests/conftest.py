from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pg import Cluster, Unavailable

from spendtag.ledger import open_store
from spendtag.ledger.store import Store
from spendtag.usage import Cost, PricedEvent, PriceRef, Usage, UsageEvent

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "formats"


def fixture_path(*parts: str) -> Path:
    """A provider-format fixture kept in tests/fixtures/formats (see tests/fixtures/README.md)."""
    path = FIXTURES.joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(f"fixture missing: {path}")
    return path


def make_event(
    event_id: str,
    ts: datetime | None = None,
    *,
    provider: str = "anthropic",
    model: str = "claude-sonnet-4-5",
    usage: Usage | None = None,
    cost: int = 1_000_000,
    priced: bool = True,
    tags: dict[str, str] | None = None,
    **dims: object,
) -> PricedEvent:
    """A priced event with a hand-made cost split (input gets the remainder)."""
    usage = usage or Usage(input_tokens=100, output_tokens=10)
    event = UsageEvent(
        event_id=event_id,
        ts=ts or datetime(2026, 3, 14, 10, tzinfo=UTC),
        provider=provider,
        model=model,
        usage=usage,
        tags=tags or {},
        **dims,  # type: ignore[arg-type]
    )
    if not priced:
        return PricedEvent(event, Cost.unpriced())
    output = cost // 3
    price = PriceRef(provider, model, {"input_tokens": "0.000003"}, event.ts.date().isoformat(), "test")
    return PricedEvent(event, Cost({"input_tokens": cost - output, "output_tokens": output}, cost, price))


# Every Store implementation the contract tests (tests/test_store_*.py) run against.
STORE_IMPLEMENTATIONS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A throw-away PostgreSQL (tests/pg.py); without one, its tests skip (fail under SPENDTAG_REQUIRE_PG=1)."""
    try:
        cluster = Cluster.start()
    except Unavailable as exc:
        if os.environ.get("SPENDTAG_REQUIRE_PG") == "1":
            pytest.fail(f"SPENDTAG_REQUIRE_PG=1 but no PostgreSQL: {exc}")
        pytest.skip(f"no PostgreSQL: {str(exc).splitlines()[0]}")
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> Iterator[str]:
    """The URL of a fresh, migrated PostgreSQL database for one test."""
    url = pg_cluster.new_database()
    yield url
    pg_cluster.drop(url)


@pytest.fixture(params=STORE_IMPLEMENTATIONS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path / 'contract.db'}")
    elif request.param == "postgres":
        s = open_store(request.getfixturevalue("pg_url"))
    else:
        raise AssertionError(request.param)
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reads or writes the real user's data or config."""
    monkeypatch.setenv("SPENDTAG_DB", str(tmp_path / "ledger.db"))
    monkeypatch.setenv("SPENDTAG_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home" / ".local" / "share"))   # the demo's ledger
    for name in list(os.environ):
        if name.startswith("SPENDTAG_") and name not in ("SPENDTAG_DB", "SPENDTAG_CONFIG"):
            monkeypatch.delenv(name)
    yield
