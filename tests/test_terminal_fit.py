"""Terminal output that fits: at 60, 80 and 100 columns every money value is whole and no line is wider.

The ledger is seeded with amounts of every size (thousands of dollars, cents, less than a
cent, unpriced calls), long project paths, sub-agents and many tags; the money values each
command must show are computed from the ledger, then looked for, whole, in its output.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from conftest import make_event
from rich.cells import cell_len
from rich.console import Console

from spendtag.cli import render
from spendtag.cli.main import cli
from spendtag.cli.tables import Column, layout
from spendtag.ledger.query import Filters, Totals
from spendtag.ledger.sqlite import SQLiteStore
from spendtag.money import PICO_PER_USD, format_cost, screen
from spendtag.periods import zone
from spendtag.report.breakdown import build
from spendtag.usage import Usage

WIDTHS = (60, 80, 100)
MARCH = datetime(2026, 3, 2, 9, tzinfo=UTC)
LONG_PROJECT = "/home/dev/clients/acme-corporation/a-rather-long-repository-name/services/billing"
SESSION_A = "5f3c9a1e-7b2d-4c8e-9f10-aa11bb22cc33"
SESSION_B = "9e8d7c6b-5a49-4838-a726-15f4e3d2c1b0"
USD = PICO_PER_USD


def run(width: int, *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.output


def seed() -> SQLiteStore:
    store = SQLiteStore(os.environ["SPENDTAG_DB"])
    events = [
        make_event("big", MARCH, cost=1_234 * USD + 567_890_123_456, session=SESSION_A, project=LONG_PROJECT,
                   agent="claude-code", source="claude-code", tags={"client": "acme", "env": "production"},
                   usage=Usage(input_tokens=12_345_678, output_tokens=987_654, cache_read_tokens=45_678_901)),
        make_event("mid", MARCH + timedelta(hours=2), cost=42 * USD + 123_456_789_012, session=SESSION_A,
                   project=LONG_PROJECT, agent="claude-code/agent-1a2b3c", source="claude-code",
                   model="claude-sonnet-4-5-20250929", tags={"client": "acme", "env": "production"}),
        make_event("tiny", MARCH + timedelta(days=1), cost=2_376_000_000, session=SESSION_B,
                   project="/srv/globex-international-holdings/monorepo", agent="codex", source="codex",
                   model="gpt-5", provider="openai", tags={"client": "globex-international"}),
        make_event("dunno", MARCH + timedelta(days=1, hours=1), priced=False, session=SESSION_B,
                   project="/srv/globex-international-holdings/monorepo", agent="codex", source="codex",
                   model="my-local-model", provider="local", tags={"client": "globex-international"}),
        make_event("plain", MARCH + timedelta(days=3), cost=7 * USD + 5_000_000_000, agent="sdk",
                   tags={"client": "initech"}),
    ]
    store.record(events)
    return store


def check(out: str, width: int, expected: list[str]) -> None:
    too_wide = [line for line in out.splitlines() if cell_len(line) > width]
    assert too_wide == [], f"lines wider than {width}:\n" + "\n".join(too_wide)
    missing = [x for x in expected if x not in out]
    assert missing == [], f"money values cut at {width} columns: {missing}\n{out}"
    assert "…" not in "".join(line for line in out.splitlines() if "$" in line and "$…" in line)


def costs(store: SQLiteStore, by: list[str], **filters: object) -> list[str]:
    """The cost of every row and the total of a report, as the screen shows them."""
    report = build(store, by, Filters(since=datetime(2026, 3, 1, tzinfo=UTC), until=datetime(2026, 4, 1, tzinfo=UTC),
                                      **filters), zone("UTC"))  # type: ignore[arg-type]
    return [render.cost_of(r.totals) for r in report.rows] + [render.cost_of(report.total)]


def total_of(store: SQLiteStore, **filters: object) -> Totals:
    total = Totals()
    for a in store.aggregate(Filters(**filters)):  # type: ignore[arg-type]
        total.merge(a.totals)
    return total


def test_seeded_values_are_as_expected() -> None:
    """The amounts the other tests look for, by hand: the rule and the ledger agree ($7.005 is $7.00, half-even)."""
    store = seed()
    # (the untagged row has no call: its $0.00 is a true zero)
    assert costs(store, ["client"]) == ["$1,276.69", "$7.00", "<$0.01 + 1 unpriced", "$0.00", "$1,283.70 + 1 unpriced"]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("by", ["client", "client,model", "project", "session", "agent", "model"])
def test_report_keeps_money_whole(width: int, by: str) -> None:
    store = seed()
    out = run(width, "report", "--by", by, "--period", "2026-03")
    check(out, width, costs(store, by.split(",")))
    assert "$1,2" in out


@pytest.mark.parametrize("width", WIDTHS)
def test_top_keeps_money_whole(width: int) -> None:
    store = seed()
    out = run(width, "top", "--by", "session", "--period", "2026-03")
    check(out, width, costs(store, ["session"]))


@pytest.mark.parametrize("width", WIDTHS)
def test_trends_bars_never_wrap(width: int) -> None:
    store = seed()
    out = run(width, "trends", "--by", "day", "--period", "2026-03")
    check(out, width, costs(store, ["day"]))
    days = [line for line in out.splitlines() if line.startswith("2026-03-0")]
    assert [line[:10] for line in days] == ["2026-03-02", "2026-03-03", "2026-03-05"]
    assert len({len(line) for line in days}) == 1 and "█" in days[0]     # one line each, aligned


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_keeps_money_whole(width: int) -> None:
    store = seed()
    out = run(width, "compare", "client=acme", "client=globex-international", "--period", "2026-03")
    check(out, width, [format_cost(t.cost, t.requests, t["unpriced_requests"]) for t in (
        total_of(store, tags=(_sel("client=acme"),)), total_of(store, tags=(_sel("client=globex-international"),)))])


def _sel(text: str) -> object:
    from spendtag.tags import Selector

    return Selector.parse(text)


@pytest.mark.parametrize("width", WIDTHS)
def test_sessions_keep_money_whole_with_project_and_title(width: int) -> None:
    from spendtag.usage import SessionTitle

    store = seed()
    store.save_session_titles({SESSION_A: SessionTitle("Move the billing service to the new queue", "summary")})
    out = run(width, "sessions", "--period", "2026-03")
    a = total_of(store, dims={"session": (SESSION_A,)})
    b = total_of(store, dims={"session": (SESSION_B,)})
    check(out, width, [format_cost(a.cost, a.requests, 0), format_cost(b.cost, b.requests, 1)])
    row = next(line for line in out.splitlines() if SESSION_A[:8] in line)
    assert "/home/dev" in row                 # the project, cut rather than dropped
    if width >= 80:
        assert "Move the" in row              # and the title
    if width >= 100:
        assert "Move the billing" in row
    wide = run(240, "sessions", "--period", "2026-03")
    assert "claude-code (+1 sub-agent)" in wide and "claude-code/agent" not in wide


@pytest.mark.parametrize("width", WIDTHS)
def test_session_detail_fits(width: int) -> None:
    from spendtag.report.sessions import detail

    store = seed()
    out = run(width, "session", SESSION_A[:8])
    d = detail(store, SESSION_A)
    assert d is not None
    check(out, width, [format_cost(d.view.totals.cost, 2, 0), screen(d.average_per_call),
                       screen(d.view.cost_per_minute), *(screen(c) for c in d.costs.values())])
    # One model in two names: one line, the dated id beside it.
    assert "model claude-sonnet-4-5: $1,276.69 (2 calls) as claude-sonnet-4-5-20250929" in out.replace("\n", " ") \
        or width < 80
    assert "claude-code (+1 sub-agent)" in out


@pytest.mark.parametrize("width", WIDTHS)
def test_blocks_fit(width: int) -> None:
    store = seed()
    out = run(width, "blocks", "--since", "2026-03-01", "--until", "2026-04-01")
    block = total_of(store, since=datetime(2026, 3, 1, tzinfo=UTC), dims={"source": ("claude-code",)})
    check(out, width, [format_cost(block.cost, block.requests, 0)])


@pytest.mark.parametrize("width", WIDTHS)
def test_budget_list_keeps_money_whole(width: int) -> None:
    store = seed()
    run(160, "budget", "set", "acme-corporation-march", "--scope", "client=acme", "--total", "2500",
        "--from", "2026-03-01", "--until", "2026-04-01")
    run(160, "budget", "set", "tiny", "--scope", "client=globex-international", "--total", "0.50",
        "--from", "2026-03-01", "--until", "2026-04-01")
    out = run(width, "budget", "list")
    acme = total_of(store, tags=(_sel("client=acme"),))
    check(out, width, ["$2,500.00", "$0.50", screen(acme.cost), "<$0.01"])
    assert screen(acme.cost) == "$1,276.69"


@pytest.mark.parametrize("width", [60, 61, 73, 80, 100, 140])
def test_report_table_on_a_rich_console(width: int) -> None:
    store = seed()
    report = build(store, ["client", "model"], Filters(), zone("UTC"))
    console = Console(width=width, record=True, force_terminal=False, color_system=None)
    render.table(console, report)
    out = console.export_text()
    check(out, width, costs(store, ["client", "model"])[:-1] + [render.cost_of(report.total)])


def test_layout_drops_the_least_important_first_and_never_money() -> None:
    columns = [Column("name", shrink=True, keep=None), Column("a", keep=0), Column("b", keep=2),
               Column("c", keep=1), Column("cost", "right", money=True)]
    rows = [["a-very-long-name-indeed", "x" * 10, "y" * 10, "z" * 10, "$1,234,567.89 + 12 unpriced"]]
    kept, widths, _ = layout(columns, rows, 200)
    assert kept == [0, 1, 2, 3, 4]
    kept, widths, _ = layout(columns, rows, 60)
    assert kept == [0, 2, 4] and widths[-1] == len(rows[0][4])
    kept, widths, _ = layout(columns, rows, 45)
    assert kept == [0, 4] and widths == [45 - 7 - 27, 27]     # the name cut; the amount whole
