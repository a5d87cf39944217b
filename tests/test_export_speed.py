"""The fast export (the ledger's rows, no PricedEvent per call) against the reference, CSV cells
a spreadsheet would run or split (a lone CR) in every CSV writer, and the export's progress bar."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import select
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import make_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pg import Cluster

from spendtag.cli.main import cli
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.ledger.store import EVENT_ROW_COLUMNS, Store
from spendtag.periods import from_us
from spendtag.report import exports
from spendtag.tags import Selector
from spendtag.usage import COST_COMPONENTS, STATUSES, Cost, PricedEvent, PriceRef, Usage, UsageEvent

# -- varied ledgers ---------------------------------------------------------------------------

# Text from outside: formulas, CSV specials, a lone CR, control characters, non-ASCII. (No NUL:
# PostgreSQL text cannot hold it.)
ODD = ["=1+1", "\r=1+1", "-2", "+44", "@SUM(A1)", "\tx", "a,b", 'say "hi"', "line\nbreak", "cr\rmid", "é",
       "日本", "\\back", "\x01ctl", "\u2028", "", " =sp", "'=q"]
texts = st.one_of(st.sampled_from(ODD),
                  st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=8))
names = st.sampled_from(["acme", "=cmd", "a,b", "x\ry", "globex"])
amounts = st.one_of(st.integers(0, 10**16), st.integers(0, 10**6).map(lambda c: c * 10**10),
                    st.sampled_from([0, 1, -1, -(10**12), -5 * 10**11 - 1, 10**18]))
micros = st.one_of(st.integers(-(10**14), 4 * 10**15), st.integers(-(10**8), 4 * 10**9).map(lambda s: s * 10**6))
PRICES = [
    PriceRef("anthropic", "claude-sonnet-4-5", {"input_tokens": "0.000003", "output_tokens": "0.000015"},
             "2026-03-14", "genai-prices 0.2.3"),
    PriceRef("openai", "gpt-4o", {"input_tokens": "0.0000025"}, "2026-03-01", "override:3", "x0.85, \"negotiated\""),
    PriceRef("acme-ai", "=house", {}, "2026-01-01", "provider-reported", "no list price;\rtier"),
]


@st.composite
def priced_events(draw: st.DrawFn, n: int) -> PricedEvent:
    output = draw(st.integers(0, 10**7))
    usage = Usage(
        input_tokens=draw(st.integers(0, 10**9)), cache_read_tokens=draw(st.integers(0, 10**6)),
        cache_write_5m_tokens=draw(st.integers(0, 10**5)), cache_write_1h_tokens=draw(st.integers(0, 10**5)),
        output_tokens=output, reasoning_tokens=draw(st.integers(0, output)),
        input_audio_tokens=draw(st.sampled_from([0, 0, 0, 7])), output_audio_tokens=draw(st.sampled_from([0, 0, 3])),
        web_search_requests=draw(st.sampled_from([0, 0, 2])), web_fetch_requests=draw(st.sampled_from([0, 0, 1])),
        estimated=draw(st.booleans()), service_tier=draw(st.one_of(st.none(), texts)),
    )
    tags = draw(st.dictionaries(st.sampled_from(["client", "env", "z.k", "a-b"]), texts, max_size=3))
    event = UsageEvent(
        event_id=f"{n}{draw(texts)}", ts=from_us(draw(micros)), provider=draw(names), model=draw(texts),
        usage=usage, tags=tags, project=draw(st.one_of(st.none(), texts)), session=draw(st.one_of(st.none(), texts)),
        agent=draw(st.one_of(st.none(), texts)), key=draw(st.one_of(st.none(), names)),
        user=draw(st.one_of(st.none(), texts)), source=draw(names), status=draw(st.sampled_from(STATUSES)))
    price = draw(st.one_of(st.none(), st.sampled_from(PRICES)))
    if draw(st.integers(0, 4)) == 0:
        return PricedEvent(event, Cost({}, 0, price, priced=False))
    components = {c: draw(amounts) for c in draw(st.sets(st.sampled_from(COST_COMPONENTS), max_size=5))}
    return PricedEvent(event, Cost(components, sum(components.values()), price))


ledgers = st.integers(0, 25).flatmap(lambda n: st.tuples(*(priced_events(i) for i in range(n))))
FILTERS = [Filters(), Filters(tags=(Selector.parse("client=acme"),)), Filters(since=datetime(2026, 1, 1, tzinfo=UTC)),
           Filters(tags=(Selector.parse("!env"),), dims={"status": ("ok",)})]


def _reference(store: Store, filters: Filters, fmt: str, lo: int | None = None, hi: int | None = None) -> str:
    events = (p for p in store.events(filters)
              if (lo is None or p.cost.total >= lo) and (hi is None or p.cost.total <= hi))
    return "".join(exports.chunks(store, filters, fmt, events=events))


def _check_same(store: Store, events: tuple[PricedEvent, ...], revised: list[int]) -> None:
    store.record(events)
    # A reprice: the current cost is what gets exported (the first copy of an id is the one kept).
    kept = {p.event.event_id: p for p in reversed(events)}
    store.revise([PricedEvent(kept[events[i].event.event_id].event, Cost({"request_fee": 7 * 10**10}, 7 * 10**10,
                                                                           PRICES[i % 3]))
                  for i in revised if i < len(events)], "test")
    for filters in FILTERS:
        for fmt in exports.FORMATS:
            assert "".join(exports.chunks(store, filters, fmt)) == _reference(store, filters, fmt)
    for lo, hi in ((1, None), (None, 10**12), (10**10, 10**15)):
        assert "".join(exports.chunks(store, Filters(), "jsonl", min_cost=lo, max_cost=hi)) == _reference(
            store, Filters(), "jsonl", lo, hi)


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow,
                                                                           HealthCheck.data_too_large])


@PROPERTY
@given(events=ledgers, revised=st.lists(st.integers(0, 25), max_size=3))
def test_fast_export_is_the_reference_byte_for_byte_sqlite(tmp_path: Path, events: tuple[PricedEvent, ...],
                                                            revised: list[int]) -> None:
    with closing(open_store(str(tmp_path / f"{uuid.uuid4().hex}.db"))) as store:   # tmp_path is shared by the examples
        _check_same(store, events, revised)


@settings(PROPERTY, max_examples=25)
@given(events=ledgers, revised=st.lists(st.integers(0, 25), max_size=3))
def test_fast_export_is_the_reference_byte_for_byte_postgres(pg_cluster: Cluster, events: tuple[PricedEvent, ...],
                                                              revised: list[int]) -> None:
    url = pg_cluster.new_database()
    try:
        with closing(open_store(url)) as store:
            _check_same(store, events, revised)
    finally:
        pg_cluster.drop(url)


def test_export_pieces_are_exact(tmp_path: Path) -> None:
    """One line of each format, spelled out: the reference could share a mistake with the fast path."""
    usage = Usage(input_tokens=1200, cache_read_tokens=18000, output_tokens=450, reasoning_tokens=50,
                  web_search_requests=2, service_tier="flex")
    p = make_event("call-1", datetime(2026, 3, 14, 10, 0, 1, 5, tzinfo=UTC), usage=usage, cost=2_290_000_001,
                   tags={"client": "=acme"}, project="/p", session="s,1", agent="bot")
    with closing(open_store(str(tmp_path / "one.db"))) as store:
        store.record([p])
        text = "".join(exports.chunks(store, Filters(), "csv"))
        line = json.loads("".join(exports.chunks(store, Filters(), "jsonl")))
    assert text.splitlines()[1] == (
        'call-1,2026-03-14T10:00:01.000005Z,anthropic,claude-sonnet-4-5,/p,"s,1",bot,,,api,ok,\'=acme,'
        "1200,18000,0,0,450,50,0,0,2,0,0.001526666668,0.00,0.00,0.00,0.000763333333,0.00,0.00,0.00,0.00,0.00,"
        '0.002290000001,true,false,flex,claude-sonnet-4-5,2026-03-14,test,,"{""input_tokens"": ""0.000003""}"')
    assert list(line) == exports.columns(["client"])
    assert (line["session"], line["tag:client"], line["web_search_requests"], line["cost_usd"], line["priced"]) == (
        "s,1", "=acme", 2, "0.002290000001", True)


# -- the store's rows ---------------------------------------------------------------------------


def test_event_rows_hold_what_varies_per_event(store: Store) -> None:
    usage = Usage(input_tokens=5, output_tokens=3, output_audio_tokens=9, estimated=True)
    store.record([make_event("b", datetime(2026, 3, 2, tzinfo=UTC), usage=usage, session="s"),
                  make_event("a", datetime(2026, 3, 1, tzinfo=UTC), priced=False)])
    rows = [r for batch in store.event_rows(Filters()) for r in batch]
    assert [dict(zip(EVENT_ROW_COLUMNS, r, strict=True))["event_id"] for r in rows] == ["a", "b"]
    a, b = (dict(zip(EVENT_ROW_COLUMNS, r, strict=True)) for r in rows)
    assert (a["price_flags"], a["extra"], a["tokens"], a["session"], a["cost"]) == (2, None, "100,0,0,0,10,0", "", 0)
    assert (b["price_flags"] & 3, b["extra"], b["session"], b["tokens"], b["cost"]) == (
        1, "0,9,0,0,0,0,0,0,0", "s", "5,0,0,0,3,0", 1_000_000)
    assert store.price_ref(b["price_flags"] >> 2) == make_event("b", datetime(2026, 3, 2, tzinfo=UTC)).cost.price
    dims, tags = store.event_dims(b["dim_id"])
    assert (dims["provider"], dims["project"], dict(tags)) == ("anthropic", "", {})
    assert [len(batch) for batch in store.event_rows(Filters(), batch=1)] == [1, 1]
    assert list(store.event_rows(Filters(), min_cost=1, max_cost=1)) == []


def test_more_allowed_dims_rows_than_one_query_holds(tmp_path: Path) -> None:
    """SQLite checks a long list of allowed dims rows row by row: the export is the same."""
    with closing(open_store(str(tmp_path / "many.db"))) as store:
        store.record([make_event(f"e{i}", agent=f"a{i}", tags={"client": "acme" if i % 3 else "b"})
                      for i in range(1500)])
        filters = Filters(tags=(Selector.parse("client=acme"),))
        text = "".join(exports.chunks(store, filters, "csv"))
        assert text == _reference(store, filters, "csv")
        assert len(text.splitlines()) == 1 + 1000


# -- cells a spreadsheet would run or split ----------------------------------------------------


def test_csv_line_quotes_a_lone_cr_which_csv_writer_does_not() -> None:
    plain = io.StringIO()
    csv.writer(plain, lineterminator="\n").writerow(["'\r=1+1", "x"])
    assert plain.getvalue() == "'\r=1+1,x\n"        # what every writer wrote: a new row at =1+1
    assert exports.csv_line(["'\r=1+1", "x"]) == "\"'\r=1+1\",x\n"
    assert exports.csv_line(["a,b", 'q"', "l\nf", 3, None, True]) == '"a,b","q""",' + '"l\nf",3,,True\n'
    assert exports.csv_line([""]) == '""\n' and exports.csv_line([]) == "\n"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(), st.integers(), st.none()), max_size=6))
def test_csv_line_reads_back_as_its_cells(cells: list[Any]) -> None:
    line = exports.csv_line(cells)
    got = next(csv.reader(io.StringIO(line, newline="")), [])
    assert got == [("" if c is None else str(c)) for c in cells] or (cells == [] and got == [])
    if "\r" not in "".join(map(str, cells)):   # everywhere else, exactly what csv.writer writes
        plain = io.StringIO()
        csv.writer(plain, lineterminator="\n").writerow(cells)
        assert line == plain.getvalue()


def _split_like_a_spreadsheet(text: str) -> list[list[str]]:
    """CSV as a spreadsheet reads it: CR, LF or CRLF outside quotes ends a row."""
    return list(csv.reader(io.StringIO(text, newline="")))


def _ledger_with(tmp_path: Path, value: str) -> Path:
    db = tmp_path / "ledger.db"   # SPENDTAG_DB (conftest)
    with closing(open_store(str(db))) as store:
        store.record([make_event("e1", tags={"client": value}, agent=value, session=value)])
    return db


@pytest.mark.parametrize("value", ["\r=1+1", "ok\r=1+1", "\t=1", "-1+1", "@x", "+1"])
def test_export_csv_cells_never_start_a_formula_nor_a_row(tmp_path: Path, value: str) -> None:
    _ledger_with(tmp_path, value)
    result = CliRunner().invoke(cli, ["export", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = _split_like_a_spreadsheet(result.output)
    assert len(rows) == 2
    record = dict(zip(rows[0], rows[1], strict=True))
    shown = exports.neutralise(value)
    assert (record["tag:client"], record["agent"], record["session"]) == (shown, shown, shown)
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row)


@pytest.mark.parametrize("value", ["\r=1+1", "ok\r=1+1"])
def test_report_csv_quotes_a_lone_cr(tmp_path: Path, value: str) -> None:
    _ledger_with(tmp_path, value)
    result = CliRunner().invoke(cli, ["report", "--by", "client,agent", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = _split_like_a_spreadsheet(result.output)
    assert rows[0][:2] == ["client", "agent"] and rows[1][:2] == [exports.neutralise(value)] * 2
    assert rows[-1][0] == "total" and all(len(r) == len(rows[0]) for r in rows)   # no row was split


def test_dashboard_export_quotes_a_lone_cr(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from spendtag import settings as spendtag_settings
    from spendtag.server.dashboard.app import create_app

    db = _ledger_with(tmp_path, "\r=1+1")
    client = TestClient(create_app(str(db), spendtag_settings.load({"db": str(db)})))
    rows = _split_like_a_spreadsheet(client.get("/api/v1/export?format=csv").text)
    assert len(rows) == 2
    assert dict(zip(rows[0], rows[1], strict=True))["tag:client"] == "'\r=1+1"


def test_invoice_csv_quotes_a_lone_cr() -> None:
    from spendtag.bill import render
    from spendtag.bill.build import Request, invoice_from_events
    from spendtag.bill.config import BillingConfig
    from spendtag.periods import month_range, zone

    utc = zone("UTC")
    req = Request(period="2026-03", range=month_range(2026, 3, utc), tz=utc, config=BillingConfig(),
                  by="team")
    inv = invoice_from_events(req, "acme", [make_event("x", datetime(2026, 3, 2, tzinfo=UTC), cost=10**12,
                                                       tags={"client": "acme", "team": "\r=cmd()"})])
    assert "usage,\"'\r=cmd()\",1,110,1.00,USD,\n" in render.as_csv(inv)


def test_negative_money_stays_a_number(tmp_path: Path) -> None:
    event = make_event("refund").event
    credit = PricedEvent(event, Cost({"reported": -5 * 10**11}, -5 * 10**11, PRICES[2]))
    with closing(open_store(str(tmp_path / "neg.db"))) as store:
        store.record([credit])
        record = next(csv.DictReader(io.StringIO("".join(exports.chunks(store, Filters(), "csv")))))
    assert (record["cost_reported"], record["cost_usd"]) == ("-0.50", "-0.50")


# -- the progress bar ---------------------------------------------------------------------------


def _run_export(tmp_path: Path, args: list[str], *, tty: bool, env: dict[str, str] | None = None) -> tuple[str, str]:
    """Run ``spendtag export`` with stderr on a pseudo-terminal (or a pipe); its stdout and stderr."""
    environ = {**os.environ, "SPENDTAG_DB": str(tmp_path / "ledger.db"), "COLUMNS": "100"}
    environ.pop("CI", None)
    environ.update(env or {})
    command = [sys.executable, "-c", "from spendtag.cli.entry import main; main()", "export", *args]
    if not tty:
        done = subprocess.run(command, env=environ, capture_output=True, text=True, timeout=120, check=True)
        return done.stdout, done.stderr
    leader, follower = pty.openpty()
    proc = subprocess.Popen(command, env=environ, stdout=subprocess.PIPE, stderr=follower, text=True)
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            proc.kill()
            raise AssertionError("export hung")
        try:
            chunk = os.read(leader, 65536)
        except OSError:   # the other side closed (Linux)
            break
        if not chunk:
            break
        seen += chunk
    out = proc.stdout.read() if proc.stdout else ""
    assert proc.wait(timeout=120) == 0
    os.close(leader)
    return out, seen.decode("utf-8", "replace")


@pytest.fixture
def three_events(tmp_path: Path) -> Iterator[Path]:
    with closing(open_store(str(tmp_path / "ledger.db"))) as store:
        store.record([make_event(f"e{i}", datetime(2026, 3, 14, i, tzinfo=UTC)) for i in range(3)])
    yield tmp_path / "out.csv"


def test_progress_bar_on_a_terminal_when_writing_a_file(tmp_path: Path, three_events: Path) -> None:
    out, err = _run_export(tmp_path, ["-o", str(three_events)], tty=True)
    assert out == ""
    assert "exporting" in err and "3/3" in err and "━" in err
    assert err.rstrip().endswith(f"wrote 3 events to {three_events}")
    text = three_events.read_text()
    assert "exporting" not in text and "━" not in text
    assert len(text.splitlines()) == 4


def test_no_progress_bar_in_a_pipe_to_stdout_or_in_ci(tmp_path: Path, three_events: Path) -> None:
    _, err = _run_export(tmp_path, ["-o", str(three_events)], tty=False)
    assert err == f"wrote 3 events to {three_events}\n"
    out, err = _run_export(tmp_path, [], tty=True)            # the output is stdout, not a file
    assert "exporting" not in err and "━" not in err
    assert len(out.splitlines()) == 4
    _, err = _run_export(tmp_path, ["-o", str(three_events)], tty=True, env={"CI": "true"})
    assert "exporting" not in err and err.strip() == f"wrote 3 events to {three_events}"


# -- several processes ----------------------------------------------------------------------------


def _spread_events(n: int) -> list[PricedEvent]:
    """``n`` events over a few days, some hours empty, odd text in places."""
    start, hour = datetime(2026, 3, 1, tzinfo=UTC), timedelta(hours=1)
    return [make_event(f"p{i:05d}", start + (i * 3 // 7) * hour + i * timedelta(seconds=1),
                       tags={"client": ODD[i % len(ODD)]}, session=f"s{i // 9}", agent=ODD[(i * 5) % len(ODD)])
            for i in range(n)]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_workers_write_the_same_bytes_in_the_same_order(request: pytest.FixtureRequest, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    url = str(tmp_path / "par.db") if kind == "sqlite" else request.getfixturevalue("pg_url")
    with closing(open_store(url)) as store:
        store.record(_spread_events(300))
        monkeypatch.setattr(exports, "SLICE_EVENTS", 25)       # a dozen slices, some hours between them empty
        filters = Filters(since=datetime(2026, 3, 1, 7, 30, tzinfo=UTC), tags=(Selector.parse("!env"),))
        assert len(exports._slices(store, filters) or []) > 5
        for fmt in exports.FORMATS:
            for f in (Filters(), filters):
                one, two = io.StringIO(), io.StringIO()
                seen: list[int] = []
                assert exports.write(store, f, fmt, one) == exports.write(store, f, fmt, two, workers=2,
                                                                          progress=seen.append)
                assert two.getvalue() == one.getvalue()
                assert seen == sorted(seen) and seen[-1] == exports.count(store, f)
                # A file as the command opens it: the workers' UTF-8 goes to it as it came.
                with open(tmp_path / "out", "w", encoding="utf-8", newline="") as handle:
                    exports.write(store, f, fmt, handle, workers=2)
                assert (tmp_path / "out").read_bytes() == one.getvalue().encode("utf-8")
                assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".spendtag-export")) == []
        # Where the kernel cannot copy a spooled block in (another file system), it is copied the plain way.
        def no_copy(*args: object) -> int:
            raise OSError(18, "Invalid cross-device link")

        monkeypatch.setattr(exports.os, "copy_file_range", no_copy)
        copied: list[str] = []
        copy_in = exports._copy_in
        monkeypatch.setattr(exports, "_copy_in", lambda path, raw: (copied.append(path), copy_in(path, raw)))
        with open(tmp_path / "out", "w", encoding="utf-8", newline="") as handle:
            exports.write(store, filters, "csv", handle, workers=2)
        assert len(copied) == len(exports._slices(store, filters) or [])   # every block went through a spool file
        expected = io.StringIO()
        exports.write(store, filters, "csv", expected)
        assert (tmp_path / "out").read_bytes() == expected.getvalue().encode("utf-8")


def test_small_exports_stay_in_one_process() -> None:
    assert exports.workers_for(exports.PARALLEL_MIN - 1) == 1
    assert exports.workers_for(exports.PARALLEL_MIN) == max(1, min(4, os.cpu_count() or 1))


def test_a_virtual_key_is_exported_by_its_id_never_in_clear(tmp_path: Path) -> None:
    from spendtag.server.proxy.keys import create

    with closing(open_store(str(tmp_path / "keys.db"))) as store:
        made = create(store, "acme", {"client": "acme"})
        store.record([make_event("k1", key=made.record.key_id, tags=dict(made.record.tags))])   # as the proxy does
        for fmt in exports.FORMATS:
            text = "".join(exports.chunks(store, Filters(), fmt))
            assert made.record.key_id in text
            assert made.key not in text and made.key[len(made.record.prefix):] not in text
        record = next(csv.DictReader(io.StringIO("".join(exports.chunks(store, Filters(), "csv")))))
        assert record["key"] == made.record.key_id
