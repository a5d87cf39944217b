"""The public Python API: ``spendtag.record`` and what ``spendtag`` exports, plus the README example."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

import spendtag
from spendtag.ledger.query import Filters
from spendtag.ledger.sqlite import SQLiteStore
from spendtag.money import from_decimal
from spendtag.usage import PricedEvent, Usage

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(autouse=True)
def _close_recorders() -> Iterator[None]:
    """spendtag.record keeps one open ledger per path for the process; close this test's."""
    yield
    spendtag._close()


def _ledger_events(path: str | Path) -> list[PricedEvent]:
    with SQLiteStore(path) as store:
        return list(store.events(Filters()))


def test_all_is_sorted() -> None:
    assert spendtag.__all__ == sorted(spendtag.__all__)


def test_every_public_name_is_importable() -> None:
    for name in spendtag.__all__:
        assert hasattr(spendtag, name), name
    namespace: dict[str, object] = {}
    exec("from spendtag import *", namespace)
    assert set(spendtag.__all__) <= set(namespace)


def test_import_loads_the_public_names_on_first_use() -> None:
    # A fresh interpreter: this one has long since loaded the SDK wrappers.
    script = textwrap.dedent("""
        import sys
        import spendtag
        assert "spendtag.capture.sdk" not in sys.modules, "import spendtag loaded the SDK wrappers"
        import spendtag.ledger.query  # imports the module spendtag.tags by its full name
        import spendtag.capture.sdk as sdk
        assert spendtag.tags is sdk.tags and spendtag.instrument is sdk.instrument
        import spendtag.usage
        assert spendtag.Usage is spendtag.usage.Usage
    """)
    subprocess.run([sys.executable, "-c", script], check=True)


def test_version_is_a_string() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", spendtag.__version__)


def test_record_writes_to_the_ledger_in_spendtag_db(tmp_path: Path) -> None:
    ts = datetime(2026, 3, 14, 10, tzinfo=UTC)
    priced = spendtag.record("anthropic", "claude-sonnet-4-5", {"input_tokens": 1000, "output_tokens": 100},
                             tags={"client": "acme"}, project="/clients/acme", agent="planner", session="s-42",
                             user="u1", key="k1", event_id="call-0001", ts=ts)
    assert priced.cost.priced and priced.cost.total > 0
    stored = _ledger_events(os.environ["SPENDTAG_DB"])
    assert len(stored) == 1
    event, cost = stored[0].event, stored[0].cost
    assert (event.event_id, event.ts, event.provider, event.model) == ("call-0001", ts, "anthropic",
                                                                        "claude-sonnet-4-5")
    assert event.usage == Usage(input_tokens=1000, output_tokens=100)
    assert event.tags == {"client": "acme"}
    assert (event.project, event.agent, event.session, event.user, event.key, event.source) == (
        "/clients/acme", "planner", "s-42", "u1", "k1", "python")
    assert cost.total == priced.cost.total
    assert dict(cost.components) == {k: v for k, v in priced.cost.components.items() if v}


def test_record_is_idempotent_on_event_id() -> None:
    ts = datetime(2026, 3, 14, 10, tzinfo=UTC)
    first = spendtag.record("anthropic", "claude-sonnet-4-5", {"input_tokens": 10, "output_tokens": 1},
                            event_id="same", ts=ts)
    again = spendtag.record("anthropic", "claude-sonnet-4-5", {"input_tokens": 99999, "output_tokens": 999},
                            event_id="same", ts=ts)
    assert again.event.event_id == "same"
    stored = _ledger_events(os.environ["SPENDTAG_DB"])
    assert len(stored) == 1
    assert stored[0].event.usage == Usage(input_tokens=10, output_tokens=1)
    assert stored[0].cost.total == first.cost.total


def test_record_without_event_id_makes_a_new_one_each_time() -> None:
    usage = {"input_tokens": 10, "output_tokens": 1}
    a = spendtag.record("anthropic", "claude-sonnet-4-5", usage)
    b = spendtag.record("anthropic", "claude-sonnet-4-5", usage)
    assert a.event.event_id != b.event.event_id
    assert len(_ledger_events(os.environ["SPENDTAG_DB"])) == 2


def test_record_db_argument_overrides_the_environment(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    spendtag.record("anthropic", "claude-sonnet-4-5", {"input_tokens": 1}, event_id="x", db=str(other))
    assert [p.event.event_id for p in _ledger_events(other)] == ["x"]
    assert not Path(os.environ["SPENDTAG_DB"]).exists()


def test_record_checks_tags() -> None:
    with pytest.raises(spendtag.SpendtagError, match="'bad key'"):
        spendtag.record("anthropic", "claude-sonnet-4-5", {"input_tokens": 1}, tags={"bad key": "x"})


# -- the README example -----------------------------------------------------------------------


def _readme_block(section: str, lang: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{section}\n")
    end = text.find("\n## ", start + 1)
    blocks = re.findall(rf"```{lang}\n(.*?)```", text[start:end if end != -1 else None], re.S)
    assert len(blocks) == 1, f"expected one {lang} block under {section!r}"
    return textwrap.dedent(blocks[0])


def test_readme_record_example_runs_and_costs_exactly_the_gpt4o_price(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "readme.db"
    monkeypatch.setenv("SPENDTAG_DB", str(db))
    exec(compile(_readme_block("## Record usage", "python"), str(README), "exec"), {})

    stored = _ledger_events(db)
    assert len(stored) == 1
    event, cost = stored[0].event, stored[0].cost
    assert (event.provider, event.model, event.tags, event.agent) == ("openai", "gpt-4o", {"client": "acme"},
                                                                      "support-bot")
    assert event.usage == Usage(input_tokens=256, cache_read_tokens=1280, output_tokens=5)
    per_token = Decimal(1) / 1_000_000
    expected = from_decimal(256 * Decimal("2.50") * per_token + 1280 * Decimal("1.25") * per_token
                            + 5 * Decimal("10") * per_token, exact=True)
    assert expected == 2_290_000_000            # $0.00229
    assert cost.priced
    assert cost.total == expected
    assert dict(cost.components) == {"input_tokens": 640_000_000, "cache_read_tokens": 1_600_000_000,
                                     "output_tokens": 50_000_000}
