"""The dashboard's actions over HTTP (in-process): each does what its CLI command does, is recorded in
the audit log, needs the admin and a CSRF token, and shows a mistake in its form (never a 500)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from dashboard_seed import seeded
from fastapi.testclient import TestClient
from httpx import Response

from spendtag import settings
from spendtag.attribution import Rules
from spendtag.cli.main import cli
from spendtag.guard.budgets import Budget
from spendtag.ledger import Store, open_store
from spendtag.money import parse_usd
from spendtag.server.dashboard import billing_actions
from spendtag.server.dashboard.access import create_token, hash_token
from spendtag.server.dashboard.app import create_app
from spendtag.server.proxy.keys import key_hash

ADMIN = "admin-secret"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]*)"')


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Path]:
    with seeded(tmp_path) as db:
        yield db


def client(ledger: Path, *, token: str | None = None) -> TestClient:
    return TestClient(create_app(str(ledger), settings.load({"db": str(ledger)}), token=token),
                      follow_redirects=False)


@pytest.fixture
def web(ledger: Path) -> TestClient:
    """The open loopback dashboard (its viewer is the admin, named "local")."""
    return client(ledger)


def csrf_of(c: TestClient, page: str = "/manage/budgets/new") -> str:
    found = CSRF.search(c.get(page).text)
    assert found and found.group(1), "the page has a CSRF field"
    return found.group(1)


def post(c: TestClient, path: str, data: dict[str, str | list[str]], *, page: str = "/manage/budgets/new",
         headers: dict[str, str] | None = None) -> Response:
    return c.post(path, data={**data, "csrf": csrf_of(c, page)}, headers=headers)


def follow(c: TestClient, response: Response) -> str:
    assert response.status_code == 303, (response.status_code, response.text[:500])
    return c.get(response.headers["location"]).text


def store_of(ledger: Path) -> Store:
    return open_store(str(ledger))


def audit_rows(ledger: Path) -> list[tuple[str, str, str]]:
    store = store_of(ledger)
    try:
        return [(e.who, e.action, e.target) for e in store.audit_log()]
    finally:
        store.close()


def run_cli(ledger: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", str(ledger), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


# -- budgets ------------------------------------------------------------------------------------------------

def test_create_a_budget_as_the_cli_would(web: TestClient, ledger: Path) -> None:
    done = post(web, "/manage/budgets", {"name": "globex-cap", "period": "monthly", "limit": "12.50",
                                         "scope": "client=globex", "notify_at": "50,80", "stop_at": "100",
                                         "enforce": "block", "forecast_alert": "on"})
    page = follow(web, done)
    assert "Budget globex-cap created: client=globex, $12.50 monthly" in page
    listed = {b["name"]: b for b in json.loads(run_cli(ledger, "budget", "list", "--format", "json"))}
    made = listed["globex-cap"]
    assert (made["limit_usd"], made["scope"], made["enforce"]) == ("12.50", "client=globex", "block")
    assert [t["label"] for t in made["thresholds"]] == ["50%", "80%", "stop 100%"]
    # The same budget as `spendtag budget set` makes.
    run_cli(ledger, "budget", "set", "cli-twin", "--scope", "client=globex", "--monthly", "12.50",
            "--notify-at", "50,80", "--stop-at", "100", "--enforce", "block")
    store = store_of(ledger)
    try:
        saved = store.budgets()
        assert {**saved["globex-cap"], "name": None} == {**saved["cli-twin"], "name": None}
        entry = store.audit_log()[0]
    finally:
        store.close()
    assert (entry.who, entry.action, entry.target) == ("local", "budget.save", "globex-cap")
    assert entry.details["limit"] == "12.50" and entry.details["created"] is True


def test_edit_and_delete_a_budget(web: TestClient, ledger: Path) -> None:
    form = web.get("/manage/budgets/acme-monthly/edit")
    assert form.status_code == 200 and 'value="acme-monthly"' in form.text and 'value="5"' in form.text
    page = follow(web, post(web, "/manage/budgets", {"editing": "acme-monthly", "name": "acme-monthly",
                                                     "period": "weekly", "limit": "7", "scope": "client=acme"}))
    assert "Budget acme-monthly saved" in page
    store = store_of(ledger)
    try:
        b = Budget.from_dict("acme-monthly", store.budgets()["acme-monthly"])
    finally:
        store.close()
    assert (b.period, b.limit, b.notify_percent) == ("weekly", parse_usd("7"), ())
    page = follow(web, post(web, "/manage/budgets/acme-monthly/delete", {}))
    assert "Budget acme-monthly deleted" in page
    assert "acme-monthly" not in json.loads(run_cli(ledger, "budget", "list", "--format", "json")).__repr__()
    assert audit_rows(ledger)[:2] == [("local", "budget.delete", "acme-monthly"),
                                      ("local", "budget.save", "acme-monthly")]


@pytest.mark.parametrize(("fields", "error"), [
    ({"limit": "lots"}, "lots"),
    ({"limit": ""}, "give the limit in USD"),
    ({"limit": "-5"}, ""),
    ({"period": "fortnightly"}, "period must be one of daily, weekly, monthly, total"),
    ({"notify_at": "80,x"}, "give percentages above 0 and up to 1000"),
    ({"stop_at": "80,90"}, "give one percentage"),
    ({"scope": "client=acmee"}, "acme"),                          # a near miss of a value the ledger has
    ({"start": "2026-13-01", "period": "total"}, "is not a date"),
    ({"name": "bad name!"}, "use letters, digits"),
    ({"enforce": "explode"}, "enforce must be warn or block"),
])
def test_budget_mistakes_are_shown_in_the_form(web: TestClient, ledger: Path, fields: dict[str, str],
                                               error: str) -> None:
    data = {"name": "new-one", "period": "monthly", "limit": "10", **fields}
    answer = post(web, "/manage/budgets", data)
    assert answer.status_code == 400
    shown = re.search(r'id="form-error"[^>]*>([^<]*)<', answer.text)
    assert shown and error in shown.group(1).replace("&#39;", "'"), answer.text[:2000]
    assert 'id="budget-form"' in answer.text and f'value="{data["name"]}"' in answer.text    # kept as typed
    store = store_of(ledger)
    try:
        assert "new-one" not in store.budgets() and "bad name!" not in store.budgets()
        assert store.audit_log() == []
    finally:
        store.close()


def test_a_config_file_budget_is_edited_there(ledger: Path) -> None:
    ledger.parent.joinpath("config.toml").write_text('[[budgets]]\nname = "from-file"\nlimit = "9"\n')
    web = client(ledger)
    assert web.get("/manage/budgets/from-file/edit").status_code == 400
    answer = post(web, "/manage/budgets", {"name": "from-file", "period": "monthly", "limit": "3"})
    assert answer.status_code == 400 and "defined in the config file; edit it there" in answer.text
    answer = post(web, "/manage/budgets/from-file/delete", {})
    assert "defined in the config file; remove it there" in follow(web, answer)


# -- the guards: admin only, CSRF, other sites ---------------------------------------------------------------

def test_without_the_csrf_token_nothing_changes(web: TestClient, ledger: Path) -> None:
    web.get("/manage")                                    # the browser has its cookie
    data = {"name": "sneaky", "period": "monthly", "limit": "1"}
    good = csrf_of(web)
    altered = good[:-1] + ("1" if good[-1] == "0" else "0")     # one character off (never the token itself)
    for token in (None, "", "0" * 64, altered):
        answer = web.post("/manage/budgets", data={**data, **({"csrf": token} if token is not None else {})})
        assert answer.status_code == 403 and "Form not accepted" in answer.text
    other = client(ledger)                                # a token made for another browser's cookie
    other.get("/manage")
    assert other.post("/manage/budgets", data={**data, "csrf": csrf_of(web)}).status_code == 403
    store = store_of(ledger)
    try:
        assert "sneaky" not in store.budgets() and store.audit_log() == []
    finally:
        store.close()


def test_a_post_from_another_site_is_refused(web: TestClient, ledger: Path) -> None:
    answer = post(web, "/manage/budgets", {"name": "x1", "period": "monthly", "limit": "1"},
                  headers={"Origin": "http://evil.example", "Host": "127.0.0.1"})
    assert answer.status_code == 403 and "another site" in answer.json()["detail"]
    answer = post(web, "/manage/budgets", {"name": "x2", "period": "monthly", "limit": "1"},
                  headers={"Sec-Fetch-Site": "cross-site"})
    assert answer.status_code == 403
    store = store_of(ledger)
    try:
        assert not {"x1", "x2"} & set(store.budgets())
    finally:
        store.close()


def test_read_only_and_client_tokens_cannot_act(ledger: Path) -> None:
    store = store_of(ledger)
    read, _ = create_token(store, "ops", "read")
    link, _ = create_token(store, "acme-view", "client", ("client", "acme"))
    store.close()
    web = client(ledger, token=ADMIN)
    for token, status in ((read, 403), (link, 403), (None, 401)):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for path in ("/manage", "/manage/budgets/new", "/manage/prices", "/manage/invoices/new"):
            assert web.get(path, headers=headers).status_code == status, (token, path)
        for path in ("/manage/budgets", "/manage/budgets/everyone/delete", "/manage/keys/vk_1/revoke",
                     "/manage/prices", "/manage/rules", "/manage/links", "/manage/invoices/issue"):
            assert web.post(path, data={"name": "n", "limit": "1"}, headers=headers).status_code == status, path
    # Nor are the buttons shown to a read-only token; the admin sees them.
    for page in ("/budgets", "/keys", "/invoices"):
        seen = web.get(page, headers={"Authorization": f"Bearer {read}"}).text
        assert 'name="csrf"' not in seen and "/manage/" not in seen, page
        assert "/manage/" in web.get(page, headers={"Authorization": f"Bearer {ADMIN}"}).text
    store = store_of(ledger)
    try:
        assert "everyone" in store.budgets() and store.audit_log() == []
        assert [k.key_id for k in store.keys(include_revoked=True)] == ["vk_1"]
    finally:
        store.close()


def test_the_admin_token_acts_and_is_named_in_the_audit_log(ledger: Path) -> None:
    web = client(ledger, token=ADMIN)
    web.cookies.set("spendtag_token", ADMIN)
    page = follow(web, post(web, "/manage/budgets", {"name": "by-admin", "period": "daily", "limit": "2"}))
    assert "Budget by-admin created" in page
    assert audit_rows(ledger) == [("admin", "budget.save", "by-admin")]


# -- invoices ---------------------------------------------------------------------------------------------

def test_draft_and_issue_an_invoice_as_the_cli_would(web: TestClient, ledger: Path) -> None:
    cli_draft = json.loads(run_cli(ledger, "invoice", "--client", "acme", "--period", "2026-02", "--format", "json"))
    draft = web.get("/manage/invoices/new?client=acme&period=2026-02")
    assert draft.status_code == 200
    shown = re.search(r'id="draft-total" data-usd="([^"]+)"', draft.text)
    assert shown and Decimal(shown.group(1)) == Decimal(cli_draft["total_due"]) == Decimal("2.00")
    store = store_of(ledger)
    before = [i.number for i in store.issued_invoices()]
    store.close()
    page = follow(web, post(web, "/manage/invoices/issue", {"client": "acme", "period": "2026-02",
                                                            "issued_on": "2026-03-02"},
                            page="/manage/invoices/new?client=acme&period=2026-02"))
    store = store_of(ledger)
    try:
        made = [i for i in store.issued_invoices() if i.number not in before]
        assert len(made) == 1
        number = made[0].number
        doc = json.loads(store.issued_invoice(number).document)    # type: ignore[union-attr]
        entry = store.audit_log()[0]
    finally:
        store.close()
    assert f"Issued {number} · acme · 2026-02 · total due USD 2.00" in page
    assert (made[0].client, made[0].period, Decimal(made[0].total_due)) == ("acme", "2026-02", Decimal("2.00"))
    assert doc["issued_on"] == "2026-03-02" and doc["lines"] == cli_draft["lines"]
    assert (entry.who, entry.action, entry.target, entry.details["total_due"]) == ("local", "invoice.issue", number,
                                                                                   "2.00")
    # Issued once: a second issue is refused in the form, unless "issue again" is ticked.
    again = post(web, "/manage/invoices/issue", {"client": "acme", "period": "2026-02"})
    assert again.status_code == 400 and f"was already issued as {number}" in again.text


@pytest.mark.parametrize(("query", "error"), [
    ("client=acmee&period=2026-03", "acme"),
    ("client=acme&period=2026-13", "2026-13"),
    ("client=acme&period=2025-01", "no"),
    ("client=acme&period=2026-03&markup=lots", "lots"),
    ("client=acme&period=2026-03&by=nosuchkey", "nosuchkey"),
    ("client=&period=2026-03", "give the client and the period"),
])
def test_invoice_mistakes_are_shown_in_the_form(web: TestClient, query: str, error: str) -> None:
    answer = web.get(f"/manage/invoices/new?{query}")
    assert answer.status_code == 400
    shown = re.search(r'id="form-error"[^>]*>([^<]*)<', answer.text)
    assert shown and error in shown.group(1), answer.text[:1500]
    assert 'id="draft-form"' in answer.text


def test_an_unpriced_draft_cannot_be_issued(web: TestClient, ledger: Path) -> None:
    store = store_of(ledger)
    from conftest import make_event

    store.record([make_event("u9", None, provider="openai", model="ft:custom", priced=False,
                             tags={"client": "globex"})])
    store.close()
    draft = web.get("/manage/invoices/new?client=globex&period=2026-03-14")
    assert draft.status_code == 200 and 'id="draft-unpriced"' in draft.text
    answer = post(web, "/manage/invoices/issue", {"client": "globex", "period": "2026-03-14"})
    assert answer.status_code == 400 and "not issued: 1 calls could not be priced: openai/ft:custom" in answer.text


def test_invoice_status_goes_through_the_billing_support(web: TestClient, ledger: Path) -> None:
    store = store_of(ledger)
    number = store.issued_invoices()[0].number
    store.close()
    page = follow(web, post(web, f"/manage/invoices/{number}/status", {"status": "paid"}, page="/invoices"))
    assert f"Invoice {number} marked paid" in page
    assert audit_rows(ledger)[0] == ("local", "invoice.status", number)
    store = store_of(ledger)
    assert [i.status for i in store.issued_invoices() if i.number == number] == ["paid"]     # as `invoice mark` does
    store.close()
    page = follow(web, post(web, f"/manage/invoices/{number}/status", {"status": "void"}, page="/invoices"))
    assert f"Invoice {number} not changed" in page                      # paid is final, as in the CLI
    page = follow(web, post(web, "/manage/invoices/NOPE-1/status", {"status": "paid"}))
    assert "no issued invoice 'NOPE-1'" in page.replace("&#39;", "'")


def test_billing_settings_forms(web: TestClient, ledger: Path) -> None:
    page = web.get("/manage/billing?client=acme")
    assert page.status_code == 200
    for name in (*billing_actions.BUSINESS_FIELDS, *billing_actions.CLIENT_FIELDS):
        assert f'name="{name}"' in page.text, name
    answer = post(web, "/manage/billing/business", {"name": "Freelance Ltd", "terms_days": "14"})
    assert "Business profile saved" in follow(web, answer)
    answer = post(web, "/manage/billing/client", {"client": "acme", "currency": "EUR", "tax_rate": "20%",
                                                  "reverse_charge": "", "layout": "separate"})
    assert "Billing details for acme saved" in follow(web, answer)
    store = store_of(ledger)
    saved = store.billing_settings()
    store.close()
    assert saved["business"]["name"] == "Freelance Ltd" and saved["business"]["terms_days"] == "14"
    assert (saved["client:acme"]["currency"], saved["client:acme"]["tax_rate"], saved["client:acme"]["layout"]) == (
        "EUR", "20%", "separate")
    page = web.get("/manage/billing?client=acme").text
    assert 'value="Freelance Ltd"' in page and 'value="EUR"' in page
    # A mistake is said in the form, with what was typed kept; nothing is saved.
    answer = post(web, "/manage/billing/client", {"client": "acme", "currency": "EURO"})
    assert answer.status_code == 400 and "not an ISO 4217 currency code" in answer.text
    assert 'value="EURO"' in answer.text


# -- share links and keys -----------------------------------------------------------------------------------

def test_make_and_revoke_a_share_link(web: TestClient, ledger: Path) -> None:
    page = follow(web, post(web, "/manage/links", {"name": "globex-link", "client": "globex"}))
    link = re.search(r'id="secret">([^<]+)<', page)
    assert link and "/share/st_" in link.group(1)
    token = link.group(1).rsplit("/", 1)[1]
    store = store_of(ledger)
    try:
        found = store.access_token_by_hash(hash_token(token))
        assert found and (found.name, found.role, found.scope_key, found.scope_value) == (
            "globex-link", "client", "client", "globex")
    finally:
        store.close()
    assert web.get(f"/share/{token}").status_code == 200
    assert token not in web.get("/manage/links").text                   # shown once
    page = follow(web, post(web, f"/manage/links/{found.token_id}/revoke", {}))
    assert "Revoked globex-link" in page
    assert web.get(f"/share/{token}").status_code == 404
    assert [r[1] for r in audit_rows(ledger)] == ["link.revoke", "link.create"]
    assert all(token not in json.dumps(e.details) for e in _entries(ledger))


def _entries(ledger: Path) -> list:  # type: ignore[type-arg]
    store = store_of(ledger)
    try:
        return store.audit_log()
    finally:
        store.close()


@pytest.mark.parametrize(("fields", "error"), [
    ({"name": "", "client": "acme"}, "give the link a name"),
    ({"name": "x", "client": "acme", "scope": "project=a"}, "one of the two"),
    ({"name": "x", "scope": "project"}, "KEY=VALUE"),
    ({"name": "x", "client": "acmee"}, "acme"),
])
def test_share_link_mistakes(web: TestClient, fields: dict[str, str], error: str) -> None:
    answer = post(web, "/manage/links", fields)
    assert answer.status_code == 400 and error in answer.text


def test_make_and_revoke_a_virtual_key(web: TestClient, ledger: Path) -> None:
    page = follow(web, post(web, "/manage/keys", {"name": "globex-key", "tags": "client=globex,env=prod",
                                                  "budget_monthly": "30"}))
    secret = re.search(r'id="secret">([^<]+)<', page)
    assert secret and secret.group(1).startswith("sk-spendtag-")
    assert secret.group(1) not in web.get("/keys").text                  # shown once
    store = store_of(ledger)
    try:
        made = store.key_by_hash(key_hash(secret.group(1)))
        assert made and (made.name, dict(made.tags), made.budget) == ("globex-key", {"client": "globex", "env": "prod"},
                                                                       "key-globex-key")
        budget = Budget.from_dict("key-globex-key", store.budgets()["key-globex-key"])
        assert (budget.limit, budget.enforce, budget.key) == (parse_usd("30"), "block", made.key_id)
    finally:
        store.close()
    page = follow(web, post(web, f"/manage/keys/{made.key_id}/revoke", {}, page="/keys"))
    assert f"Revoked key globex-key ({made.key_id})" in page
    listed = json.loads(run_cli(ledger, "keys", "list", "--all", "--format", "json"))
    assert next(k for k in listed if k["id"] == made.key_id)["revoked"] is not None
    assert [r[1:] for r in audit_rows(ledger)] == [("key.revoke", "globex-key"), ("key.create", "globex-key")]
    assert all(secret.group(1) not in json.dumps(e.details) for e in _entries(ledger))


@pytest.mark.parametrize(("fields", "error"), [
    ({"name": "bad name"}, "use letters, digits"),
    ({"name": "k", "tags": "client"}, "has no '='"),
    ({"name": "k", "budget_monthly": "a lot"}, "a lot"),
])
def test_key_mistakes(web: TestClient, fields: dict[str, str], error: str) -> None:
    answer = post(web, "/manage/keys", fields)
    assert answer.status_code == 400 and error in answer.text.replace("&#39;", "'")


# -- price overrides and attribution rules -------------------------------------------------------------------

def test_set_and_remove_a_price_override(web: TestClient, ledger: Path) -> None:
    page = follow(web, post(web, "/manage/prices", {"model": "ft:custom-model", "provider": "openai", "input": "3",
                                                    "output": "15", "valid_from": "2026-03-01", "note": "tuned"}))
    assert "saved for ft:custom-model" in page
    run_cli(ledger, "prices", "override", "ft:custom-model", "--provider", "openai", "--input", "3", "--output", "15",
            "--from", "2026-03-01", "--note", "tuned")
    store = store_of(ledger)
    try:
        ours, theirs = store.price_overrides()
    finally:
        store.close()
    assert ours.rates == {"input_tokens": Decimal(3), "output_tokens": Decimal(15)}
    assert {**ours.__dict__, "id": 0} == {**theirs.__dict__, "id": 0}     # the same override as the CLI's
    page = follow(web, post(web, f"/manage/prices/{ours.id}/remove", {}))
    assert f"Override #{ours.id} removed" in page
    store = store_of(ledger)
    try:
        assert [o.id for o in store.price_overrides()] == [theirs.id]
    finally:
        store.close()
    assert [r[1:] for r in audit_rows(ledger)] == [("price.remove", f"#{ours.id}"), ("price.set", f"#{ours.id}")]
    assert "No active override #999" in follow(web, post(web, "/manage/prices/999/remove", {}))


@pytest.mark.parametrize(("fields", "error"), [
    ({"model": "m"}, "exactly one of rates"),
    ({"model": "m", "input": "x"}, "is not a number"),
    ({"model": "m", "input": "1", "multiplier": "0.5"}, "exactly one of rates"),
    ({"model": "m", "input": "-1"}, "from 0 to 1,000,000"),
    ({"model": "m", "input": "1", "valid_from": "2026-04-01", "valid_until": "2026-03-01"}, "must be before"),
    ({"model": "m", "input": "1", "scope": "client=acmee"}, "acme"),
    ({"model": "", "input": "1"}, "needs a model"),
])
def test_price_override_mistakes(web: TestClient, ledger: Path, fields: dict[str, str], error: str) -> None:
    answer = post(web, "/manage/prices", fields)
    assert answer.status_code == 400 and error in answer.text
    store = store_of(ledger)
    try:
        assert store.price_overrides() == []
    finally:
        store.close()


def test_add_and_remove_an_attribution_rule(web: TestClient, ledger: Path) -> None:
    page = follow(web, post(web, "/manage/rules", {"pattern": "~/clients/initech/**", "tags": "client=initech"}))
    assert "Rule added: ~/clients/initech/**" in page
    store = store_of(ledger)
    try:
        (rule,) = store.attribution_rules()
        rules = Rules.load(store, {"~/clients/**": {"client": "general", "team": "a"}})
    finally:
        store.close()
    # After the config file's rules, as if written at its end: the dashboard's rule wins on the same key.
    assert rules.tags_for("~/clients/initech/web") == {"client": "initech", "team": "a"}
    assert rules.tags_for("~/clients/other") == {"client": "general", "team": "a"}
    page = follow(web, post(web, f"/manage/rules/{rule.rule_id}/remove", {}))
    assert "Rule ~/clients/initech/** removed" in page
    store = store_of(ledger)
    try:
        assert store.attribution_rules() == []
    finally:
        store.close()
    assert [r[1] for r in audit_rows(ledger)] == ["rule.remove", "rule.add"]


@pytest.mark.parametrize(("fields", "error"), [
    ({"pattern": "", "tags": "client=a"}, "needs a path pattern"),
    ({"pattern": "~/a/**", "tags": ""}, "gives no tags"),
    ({"pattern": "~/a/**", "tags": "client"}, "has no '='"),
])
def test_rule_mistakes(web: TestClient, fields: dict[str, str], error: str) -> None:
    answer = post(web, "/manage/rules", fields)
    assert answer.status_code == 400 and error in answer.text.replace("&#39;", "'")


# -- the audit page ----------------------------------------------------------------------------------------

def test_the_audit_page_lists_changes(web: TestClient, ledger: Path) -> None:
    follow(web, post(web, "/manage/budgets", {"name": "audited", "period": "monthly", "limit": "4"}))
    follow(web, post(web, "/manage/rules", {"pattern": "~/x/**", "tags": "client=x"}))
    page = web.get("/audit").text
    rows = re.findall(r'<td class="who">([^<]*)</td><td class="action">([^<]*)</td><td class="target">([^<]*)</td>',
                      page)
    assert rows == [("local", "rule.add", "~/x/**"), ("local", "budget.save", "audited")]
    assert re.search(r'<td class="when">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</td>', page)
