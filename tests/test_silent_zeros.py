"""No silent zeros (issue 17): a filter that matches nothing, and an unpriced call, are said, never shown as $0.

A tag key or value no call carries is most likely a typo: every command refuses it and names the
close matches. One that exists but has no calls in the period is told as such (with the nearest
call); where a script would bill from the result (invoice, export) that is an error too. Unpriced
calls are counted beside every amount ("—" when no call of a row has a price), in tables, CSV,
JSON, reprice, invoices and the dashboard.

The ledger: acme has a priced call (Sonnet, $0.0045) on 2026-03-14 and an unpriced one (an
unknown model) on 2026-03-15; globex has one unpriced call on 2026-03-16; one untagged priced
call on 2026-03-20.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_event
from fastapi.testclient import TestClient

from spendtag import settings
from spendtag.cli import main
from spendtag.cli.main import cli
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.periods import parse_period, zone
from spendtag.server.dashboard.access import create_token
from spendtag.server.dashboard.app import create_app
from spendtag.tags import Selector
from spendtag.usage import Usage

SONNET = '{"input_tokens": 1000, "output_tokens": 100}'        # $0.003 + $0.0015
UTC_ZONE = zone("UTC")


def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input, env={"COLUMNS": "160"})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def run(*args: str) -> str:
    code, out, err = invoke(*args)
    assert code == 0, out + err
    return out


def fail(*args: str) -> str:
    """The one-line error of a refused command (exit status 2, nothing on stdout)."""
    code, out, err = invoke(*args)
    assert (code, out) == (2, ""), (code, out, err)
    return err


@pytest.fixture(autouse=True)
def ledger(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("invoice", "record-cost", "reprice"):     # as test_billing_cli wires them
        monkeypatch.setitem(main.LAZY_COMMANDS, name, "spendtag.cli.billing")
    for event_id, model, tags, day in (("a1", "claude-sonnet-4-5", "client=acme", 14),
                                       ("a2", "house-9", "client=acme", 15),
                                       ("g1", "house-9", "client=globex", 16),
                                       ("u1", "claude-sonnet-4-5", "", 20)):
        provider = "anthropic" if model.startswith("claude") else "acme-ai"
        run("record", "--provider", provider, "--model", model, "--usage", SONNET, "--event-id", event_id,
            "--ts", f"2026-03-{day}T10:00:00Z", "--agent", "planner", "--project", "/work/acme",
            *(["--tag", tags] if tags else []))


# -- a name no call carries: refused, with the close matches ----------------------------------------------

def test_report_by_a_key_no_call_has_is_refused_with_the_close_match() -> None:
    assert fail("report", "--by", "clinet") == "error: no tag key 'clinet'; did you mean 'client'?\n"
    assert fail("report", "--by", "modle") == "error: no tag key 'modle'; did you mean 'model'?\n"
    assert fail("top", "--by", "client,clinet") == "error: no tag key 'clinet'; did you mean 'client'?\n"
    assert fail("report", "--by", "team") == (
        "error: no tag key 'team' (tag keys in the ledger: client; or group by provider, model, project, agent, "
        "key, user, source, status, session, hour, day, week, month, hour-of-day, weekday)\n")


def test_the_client_key_is_always_a_key_to_group_by(monkeypatch: pytest.MonkeyPatch) -> None:
    # With client_key = customer and no call tagged customer yet, every call is untagged: said, not refused.
    monkeypatch.setenv("SPENDTAG_CLIENT_KEY", "customer")
    assert run("report", "--by", "customer", "--format", "summary").startswith(
        "(untagged): <$0.01 + 2 unpriced (100.0%), 4 requests\n")
    assert fail("report", "--by", "custmer") == "error: no tag key 'custmer'; did you mean 'customer' or 'user'?\n"
    assert fail("report", "--tag", "customer=acme") == "error: no tag key 'customer' (tag keys in the ledger: client)\n"


def test_a_tag_filter_naming_an_unknown_key_or_value_is_refused() -> None:
    assert fail("report", "--tag", "client=acmee") == "error: no calls tagged client=acmee; did you mean client=acme?\n"
    assert fail("report", "--tag", "client=Acme") == "error: no calls tagged client=Acme; did you mean client=acme?\n"
    assert fail("report", "--tag", "client=initech") == (
        "error: no calls tagged client=initech (client values in the ledger: acme, globex)\n")
    assert fail("report", "--tag", "clinet=acme") == "error: no tag key 'clinet'; did you mean 'client'?\n"
    assert fail("report", "--tag", "client!=acmee") == (          # would silently match every client
        "error: no calls tagged client=acmee, so client!=acmee excludes nothing; did you mean client!=acme?\n")
    assert fail("report", "--tag", "!clinet") == "error: no tag key 'clinet'; did you mean 'client'?\n"
    for command in ("top", "trends", "sessions", "retag"):
        assert fail(command, "--tag", "client=acmee") == (
            "error: no calls tagged client=acmee; did you mean client=acme?\n"), command


def test_dimension_project_and_session_filters_naming_nothing_are_refused() -> None:
    assert fail("report", "--model", "house-99") == (
        "error: no calls with model 'house-99'; did you mean 'house-9'?\n")
    assert fail("report", "--agent", "planer") == "error: no calls with agent 'planer'; did you mean 'planner'?\n"
    assert fail("report", "--project", "/work/acmee") == (
        "error: no calls under project '/work/acmee'; did you mean '/work/acme'?\n")
    assert "total: <$0.01 + 2 unpriced, 4 requests\n" in run("report", "--project", "/work", "--format",
                                                                "summary")          # a parent path matches
    assert fail("report", "--session", "s-1") == (
        "error: no calls recorded for session 's-1'; see `spendtag sessions`\n")


def test_compare_refuses_a_side_that_names_nothing() -> None:
    assert fail("compare", "client=acme", "client=globx") == (
        "error: no calls tagged client=globx; did you mean client=globex?\n")


# -- names that exist, but no call in the period ------------------------------------------------------------

def test_report_of_a_period_without_calls_says_so_and_when_the_last_call_was() -> None:
    assert run("report", "--tag", "client=acme", "--period", "2026-04") == (
        "no calls for client=acme in 2026-04 (last call 2026-03-15)\n")
    assert run("report", "--tag", "client=acme", "--period", "2026-02", "--format", "summary") == (
        "no calls for client=acme in 2026-02 (first call 2026-03-14)\n")
    assert run("trends", "--tag", "client=globex", "--period", "2026-03-14") == (
        "no calls for client=globex in 2026-03-14 (first call 2026-03-16)\n")
    # JSON still goes out whole (its counts say 0); the message goes to stderr.
    code, out, err = invoke("report", "--tag", "client=acme", "--period", "2026-04", "--format", "json")
    assert code == 0 and json.loads(out)["total"]["requests"] == 0
    assert err == "note: no calls for client=acme in 2026-04 (last call 2026-03-15)\n"
    # Each name exists, but no call has both.
    assert run("report", "--tag", "client=acme", "--tag", "client=globex") == (
        "no calls match client=acme, client=globex: each exists in the ledger, but no call has them all\n")


def test_invoice_for_a_typo_or_a_client_without_calls_is_refused_not_billed_at_zero(tmp_path: Path) -> None:
    assert fail("invoice", "--client", "acmee", "--period", "2026-03") == (
        "error: no calls tagged client=acmee; did you mean client=acme?\n")
    assert fail("invoice", "--client", "acme", "--period", "2026-04") == (
        "error: no calls for client=acme in 2026-04 (last call 2026-03-15)\n")
    assert fail("invoice", "--all", "--period", "2026-04", "--output-dir", str(tmp_path / "out")) == (
        "error: no calls for any client in 2026-04 (last call 2026-03-16)\n")
    assert not (tmp_path / "out").exists()
    assert fail("invoice", "--client", "acme", "--period", "2026-03", "--by", "projet") == (
        "error: no tag key 'projet'; did you mean 'project'?\n")


def test_a_fixed_allocation_naming_a_client_no_call_has_is_refused() -> None:
    assert fail("invoice", "--client", "acme", "--period", "2026-03", "--allocate", "fixed:acmee=60,globex=40") == (
        "error: no calls tagged client=acmee; did you mean client=acme? "
        "(name it in [billing.clients] if it is a new client)\n")
    code, out, err = invoke("invoice", "--client", "acme", "--period", "2026-03", "--allocate",
                            "fixed:acme=60,globex=40")
    assert code == 0 and err.count("note: --allocate") == 0, err


def test_a_price_override_scoped_to_a_typo_is_refused() -> None:
    assert fail("prices", "override", "house-9", "--provider", "acme-ai", "--input", "1", "--output", "2",
                "--scope", "client=acmee") == (
        "error: no calls tagged client=acmee; did you mean client=acme? (pass --allow-new if it is new)\n")
    code, out, err = invoke("prices", "override", "house-9", "--provider", "acme-ai", "--input", "1", "--output",
                            "2", "--scope", "client=acmee", "--allow-new")
    assert (code, out.startswith("override #")) == (0, True), out + err
    assert err == ("note: the override applies from the first such call: no calls tagged client=acmee; "
                   "did you mean client=acme?\n")


def test_per_unit_terms_on_a_tag_no_call_has_are_refused_not_billed_as_zero_units() -> None:
    assert fail("invoice", "--client", "acme", "--period", "2026-03", "--per-unit", "tiket=2.50") == (
        "error: no tag key 'tiket' (tag keys in the ledger: client)\n")


def test_forecast_and_anomalies_refuse_what_no_call_has() -> None:
    assert fail("forecast", "--scope", "client=acmee") == (
        "error: no calls tagged client=acmee; did you mean client=acme?\n")
    assert fail("anomalies", "--by", "clinet", "--no-alert") == "error: no tag key 'clinet'; did you mean 'client'?\n"


def test_a_client_with_its_own_terms_may_be_invoiced_before_its_first_call(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "retainer.toml"
    config.write_text('[billing.clients.initech]\nmodel = "fixed-fee"\nfee = "500"\nusage_cap = "100"\n')
    monkeypatch.setenv("SPENDTAG_CONFIG", str(config))
    out = run("invoice", "--client", "initech", "--period", "2026-04")
    assert out.endswith("Total due (USD)" + " " * 55 + "USD 500.00\n")


def test_export_refuses_before_writing_anything(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "acme.csv"
    assert fail("export", "--tag", "client=acmee", "--output", str(target)) == (
        "error: no calls tagged client=acmee; did you mean client=acme?\n")
    assert fail("export", "--tag", "client=acme", "--period", "2026-04", "--output", str(target)) == (
        "error: no calls for client=acme in 2026-04 (last call 2026-03-15)\n")
    assert list((tmp_path / "out").iterdir()) == []
    assert len(run("export", "--tag", "client=acme").splitlines()) == 3       # the header and two calls


def test_reprice_names_what_it_would_touch() -> None:
    assert fail("reprice", "--period", "2026-03", "--tag", "client=acmee", "--dry-run") == (
        "error: no calls tagged client=acmee; did you mean client=acme?\n")
    assert run("reprice", "--period", "2026-04", "--tag", "client=acme", "--dry-run") == (
        "nothing to reprice: no calls for client=acme in 2026-04 (last call 2026-03-15)\n")


def test_budget_scopes_that_match_nothing(tmp_path: Path) -> None:
    assert fail("budget", "set", "acme", "--scope", "client=acmee", "--monthly", "10") == (
        "error: no calls tagged client=acmee; did you mean client=acme? (for a scope with no calls yet, pass "
        "--allow-new)\n")
    assert "acme" not in run("budget", "list", "--format", "json")
    # A new client (nothing close to it): saved, with a note.
    code, out, err = invoke("budget", "set", "initech", "--scope", "client=initech", "--monthly", "10")
    assert (code, out) == (0, "budget initech: client=initech, $10.00 monthly, alerts at 100% (default)\n")
    assert err == ("note: budget initech counts from the first such call: no calls tagged client=initech (client "
                   "values in the ledger: acme, globex)\n")
    run("budget", "set", "acme2", "--scope", "client=acme2", "--monthly", "10", "--allow-new")
    assert ("warning: this budget counts nothing until such a call is recorded: no calls tagged client=acme2; "
            "did you mean client=acme?\n") in run("budget", "show", "acme2")
    listed = run("budget", "list")
    assert "warning: budget acme2: no calls tagged client=acme2; did you mean client=acme?\n" in listed
    assert "warning: budget initech: no calls tagged client=initech" in listed
    run("budget", "set", "globex", "--scope", "client=globex", "--total", "10", "--from", "2026-04-01")
    assert "note: no calls for client=globex since 2026-04-01 (last call 2026-03-16)\n" in run(
        "budget", "show", "globex")
    assert fail("check", "--scope", "client=acmee") == (
        "error: no calls tagged client=acmee; did you mean client=acme? (for a scope with no calls yet, pass "
        "--allow-new)\n")


def test_a_share_link_for_a_typo_is_refused() -> None:
    assert fail("tokens", "add", "acme-link", "--client", "acmee") == (
        "error: no calls tagged client=acmee; did you mean client=acme? (for a client with no calls yet, pass "
        "--allow-new)\n")
    assert "acme-link" not in run("tokens", "list")


# -- unpriced calls: counted, never $0.00 --------------------------------------------------------------------

def test_report_rows_of_unpriced_calls_show_a_dash_and_a_count() -> None:
    assert run("report", "--by", "client", "--format", "summary") == (
        "acme: <$0.01 + 1 unpriced (50.0%), 2 requests\n"
        "(untagged): <$0.01 (50.0%), 1 requests\n"
        "globex: — (1 unpriced), 1 requests\n"
        "total: <$0.01 + 2 unpriced, 4 requests\n"
        "warning: 2 calls could not be priced and are not in these costs: acme-ai/house-9 (2). Add a price with "
        "`spendtag prices override`; see `spendtag prices check`.\n")
    table = run("report", "--by", "client")
    assert "$0.00 " not in table and "$0.00\n" not in table
    globex = next(line for line in table.splitlines() if "globex" in line)
    assert [c.strip() for c in globex.split("│")[-3:-1]] == ["— (1 unpriced)", "—"]


def test_csv_and_json_tell_unpriced_from_zero() -> None:
    rows = list(csv.DictReader(io.StringIO(run("report", "--by", "model", "--format", "csv"))))
    assert {r["model"]: (r["requests"], r["unpriced_requests"], r["cost_usd"]) for r in rows} == {
        "claude-sonnet-4-5": ("2", "0", "0.009"), "house-9": ("2", "2", ""), "total": ("4", "2", "0.009")}
    doc = json.loads(run("report", "--by", "model", "--format", "json"))
    assert {r["model"]: r["cost_usd"] for r in doc["rows"]} == {"claude-sonnet-4-5": "0.009", "house-9": None}
    sides = json.loads(run("compare", "client=acme", "client=globex", "--format", "json"))
    assert (sides["client=globex"]["cost_usd"], sides["client=globex"]["unpriced_requests"]) == (None, 1)
    assert sides["client=acme"]["models"] == {"claude-sonnet-4-5": "0.0045", "house-9": None}


def test_compare_table_counts_unpriced_calls() -> None:
    out = run("compare", "client=acme", "client=globex")
    cost = next(line for line in out.splitlines() if line.startswith("│ cost "))
    assert [c.strip() for c in cost.split("│")[2:4]] == ["<$0.01 + 1 unpriced", "— (1 unpriced)"]
    assert out.endswith("warning: 2 calls could not be priced and are not in these costs: house-9 (2). Add a price "
                        "with `spendtag prices override`; see `spendtag prices check`.\n")


def test_reprice_shows_newly_unpriced_calls_as_unpriced_not_as_a_drop_to_zero() -> None:
    run("prices", "override", "house-9", "--input", "1", "--output", "2")
    assert run("reprice", "--period", "2026-03", "--dry-run") == (
        "client  model    events        recorded  current prices  difference\n"
        "acme    house-9       1  — (1 unpriced)          <$0.01      <$0.01  1 newly priced\n"
        "globex  house-9       1  — (1 unpriced)          <$0.01      <$0.01  1 newly priced\n"
        "total                 2  — (2 unpriced)          <$0.01      <$0.01  2 newly priced\n"
        "dry run: nothing written; 2 events would get a new cost revision\n")
    run("reprice", "--period", "2026-03", "--yes")
    run("prices", "remove", "1")
    assert run("reprice", "--period", "2026-03", "--dry-run") == (
        "client  model    events  recorded  current prices  difference\n"
        "acme    house-9       1    <$0.01  — (1 unpriced)           —  1 now unpriced\n"
        "globex  house-9       1    <$0.01  — (1 unpriced)           —  1 now unpriced\n"
        "total                 2    <$0.01  — (2 unpriced)           —  2 now unpriced\n"
        "warning: 2 events cannot be priced at current prices (house-9) and are not in these costs; add a price "
        "with `spendtag prices override`, see `spendtag prices check`\n"
        "dry run: nothing written; 2 events would get a new cost revision\n")


def test_invoice_shows_unpriced_calls_as_lines_of_their_own_never_as_zero() -> None:
    code, text, err = invoke("invoice", "--client", "globex", "--period", "2026-03")
    assert code == 0
    assert "acme-ai/house-9: could not be priced, not billed" + " " * 31 + "—\n  1 call\n" in text
    assert "Draft: 1 calls could not be priced and are not included.\n" in text
    assert err.startswith(
        "warning: globex: 1 calls could not be priced and are not billed: acme-ai/house-9 (1); add a "
        "price with `spendtag prices override`, then `spendtag reprice` (see `spendtag prices check`)\n")
    assert "cost — (1 unpriced) · billed $0.00 before tax (USD)" in err           # the cost is unknown, not $0
    rows = list(csv.reader(io.StringIO(run("invoice", "--client", "acme", "--period", "2026-03", "--format",
                                           "csv"))))
    assert ["unpriced", "acme-ai/house-9: could not be priced, not billed", "1", "", "", "USD", "false"] in rows
    html = run("invoice", "--client", "acme", "--period", "2026-03", "--format", "html")
    assert ('<tr class="unpriced"><td class="d">acme-ai/house-9: could not be priced, not billed<small>1 call</small>'
            '</td><td class="n">—</td></tr>') in html


def test_invoice_summary_counts_unpriced_calls_beside_each_cost(tmp_path: Path) -> None:
    run("invoice", "--all", "--period", "2026-03", "--output-dir", str(tmp_path))
    summary = (tmp_path / "summary.txt").read_text()
    lines = {line.split()[0]: line for line in summary.splitlines() if line.startswith(("acme ", "globex ", "total "))}
    assert "<$0.01 + 1 unpriced" in lines["acme"]                 # on screen; summary.csv keeps 0.0045
    assert lines["globex"].split()[1:5] == ["$0.00", "—", "(1", "unpriced)"]      # billed $0.00; cost unknown
    assert ("Not in these totals, could not be priced (not billed): acme 1 calls (acme-ai/house-9); globex 1 calls "
            "(acme-ai/house-9)") in summary


def test_sessions_json_has_no_zero_cost_for_unpriced_calls() -> None:
    run("record", "--provider", "acme-ai", "--model", "house-9", "--usage", SONNET, "--event-id", "s1",
        "--ts", "2026-03-21T10:00:00Z", "--session", "sess-1", "--tag", "client=globex")
    [row] = json.loads(run("sessions", "--format", "json"))
    assert (row["session"], row["requests"], row["unpriced_requests"], row["cost_usd"]) == ("sess-1", 1, 1, None)
    assert "— (1 unpriced)" in run("sessions")


# -- the words, as a library ------------------------------------------------------------------------------

def test_close_matches_prefer_another_case_then_difflib() -> None:
    from spendtag.report.matching import close_matches

    assert close_matches("Acme", ["acme", "globex"]) == ["acme"]
    assert close_matches("clinet", ["client", "cluster", "team"]) == ["client"]
    assert close_matches("zzz", ["client"]) == []


@pytest.mark.parametrize(("period", "words"), [
    ("2026-03", "in 2026-03"), ("2026-03-14", "in 2026-03-14"), ("2026-W11", "in 2026-W11"), ("2026", "in 2026"),
])
def test_period_words_name_the_calendar_period(period: str, words: str) -> None:
    from spendtag.report.matching import period_words

    assert period_words(parse_period(period, zone("Europe/Berlin")), zone("Europe/Berlin")) == words


def test_explain_empty(tmp_path: Path) -> None:
    from spendtag.report.matching import explain_empty

    store = open_store(f"sqlite:///{tmp_path / 'l.db'}")
    acme = Filters(tags=(Selector("client", "eq", "acme"),))
    april = parse_period("2026-04", UTC_ZONE)
    assert str(explain_empty(store, acme, april, UTC_ZONE)) == "no calls recorded yet (asked for client=acme)"
    store.record([make_event("a", datetime(2026, 3, 31, 23, tzinfo=UTC), tags={"client": "acme"})])
    in_april = Filters(since=april.since, until=april.until, tags=acme.tags)
    found = explain_empty(store, in_april, april, UTC_ZONE)
    assert (str(found), found.kind, found.last_call) == (
        "no calls for client=acme in 2026-04 (last call 2026-03-31)", "empty", "2026-03-31")
    berlin = zone("Europe/Berlin")                          # 23:00 UTC on the 31st is April 1st in Berlin
    march = parse_period("2026-03", berlin)
    in_march = Filters(since=march.since, until=march.until, tags=acme.tags)
    assert str(explain_empty(store, in_march, march, berlin)) == (
        "no calls for client=acme in 2026-03 (first call 2026-04-01)")
    store.close()


# -- the web: 400 with the close matches, 404 for a period without calls, never a 200 of $0 ----------------

@pytest.fixture
def web(tmp_path: Path) -> TestClient:
    db = tmp_path / "web.db"
    store = open_store(f"sqlite:///{db}")
    at = lambda day: datetime(2026, 3, day, 10, tzinfo=UTC)  # noqa: E731
    store.record([make_event("a1", at(14), tags={"client": "acme"}),
                  make_event("a2", at(15), tags={"client": "acme"}, priced=False, provider="acme-ai", model="house-9"),
                  make_event("g1", at(16), tags={"client": "globex"}, priced=False, provider="acme-ai",
                             model="house-9", usage=Usage(input_tokens=10, output_tokens=1))])
    store.close()
    return TestClient(create_app(str(db), settings.load({"db": str(db)})))


def test_api_refuses_a_typo_with_the_close_matches(web: TestClient) -> None:
    r = web.get("/api/v1/report?tag=client=acmee")
    assert r.status_code == 400
    assert r.json() == {"detail": "no calls tagged client=acmee; did you mean client=acme?", "error": "no_such_value",
                        "suggestions": ["acme"], "last_call": None, "first_call": None}
    r = web.get("/api/v1/report?by=clinet")
    assert (r.status_code, r.json()["suggestions"]) == (400, ["client"])
    for path in ("/api/v1/overview?tag=client=acmee", "/api/v1/overview?stack=clinet&period=2026-03",
                 "/api/v1/summary?key=client&value=acmee", "/api/v1/events?tag=client=acmee",
                 "/api/v1/sessions?tag=client=acmee", "/api/v1/tags/clinet", "/api/v1/export?tag=client=acmee"):
        assert web.get(path).status_code == 400, path


def test_api_answers_404_for_a_period_without_calls(web: TestClient) -> None:
    said = {"detail": "no calls for client=acme in 2026-04 (last call 2026-03-15)", "error": "no_calls",
            "suggestions": [], "last_call": "2026-03-15", "first_call": None}
    for path in ("/api/v1/report?tag=client=acme&period=2026-04", "/api/v1/overview?tag=client=acme&period=2026-04",
                 "/api/v1/summary?key=client&value=acme&period=2026-04",
                 "/api/v1/export?tag=client=acme&period=2026-04"):
        r = web.get(path)
        assert (r.status_code, r.json()) == (404, said), path
    assert web.get("/api/v1/report?tag=client=acme&period=2026-03").status_code == 200


def test_a_client_link_is_never_told_other_clients_names(web: TestClient, tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'web.db'}")
    token, _ = create_token(store, "acme-link", "client", ("client", "acme"))
    store.close()
    headers = {"Authorization": f"Bearer {token}"}
    r = web.get("/api/v1/report?tag=client=globx&period=2026-03", headers=headers)
    assert r.status_code == 403 and "globex" not in r.text          # a client token sees billed amounts only
    r = web.get("/api/v1/client?period=2026-04", headers=headers)
    assert r.status_code == 404 and "globex" not in r.text and r.json()["suggestions"] == []
    page = web.get(f"/share/{token}?period=2026-04")
    assert page.status_code == 200
    assert 'id="notice">no calls for client=acme in 2026-04 (last call 2026-03-15)</p>' in page.text
    assert "globex" not in page.text


def test_pages_say_what_matches_nothing(web: TestClient) -> None:
    page = web.get("/?tag=client=acmee&period=2026-03")
    assert page.status_code == 400 and "no calls tagged client=acmee; did you mean client=acme?" in page.text
    page = web.get("/tags/client/acme?period=2026-04")
    assert page.status_code == 200
    assert 'id="notice">no calls for client=acme in 2026-04 (last call 2026-03-15)</p>' in page.text


def test_dashboard_counts_unpriced_calls_in_cards_rows_and_chart(web: TestClient) -> None:
    doc = web.get("/api/v1/overview?period=2026-03&stack=client").json()
    globex = next(s for s in doc["chart"]["series"] if s["name"] == "globex")
    assert (globex["total_usd"], sum(globex["requests"]), sum(globex["unpriced_requests"])) == (None, 1, 1)
    html = web.get("/?period=2026-03&stack=client").text
    assert "<title>2026-03-16 · globex: — (1 unpriced)</title>" in html            # the chart's tooltip
    assert '<span class="num">— (1 unpriced)</span>' in html                       # its legend
    assert ('id="total-cost" data-usd="0.000001">&lt;$0.01 <span class="warn" title="calls with no price, not in '
            'this total">+ 2 unpriced</span>') in html
    tags = web.get("/tags/client?period=2026-03").text
    assert ('data-usd=""><span class="warn" title="calls with no price: their cost is unknown, not $0">'
            '— (1 unpriced)</span>') in tags
