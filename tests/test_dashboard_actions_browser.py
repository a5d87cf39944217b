"""The dashboard's actions in a real browser (chromium, as tests/test_dashboard_browser.py drives it).

Each action is done by filling and submitting its form, then checked in the ledger (the Store,
or the CLI's JSON). A form whose CSRF token is missing or wrong is refused; a read-only token
sees no buttons and may not act; the audit page lists every change. Every form page is
screenshot at 1280 and 390 px, and none scrolls sideways at 390 px.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import test_dashboard_browser as pages
from click.testing import CliRunner
from dashboard_seed import seed
from test_dashboard_browser import Server, Tab, _serve

from spendtag.cli.main import cli
from spendtag.guard.budgets import Budget
from spendtag.ledger import Store, open_store
from spendtag.money import parse_usd
from spendtag.server.dashboard.access import create_token, hash_token
from spendtag.server.proxy.keys import key_hash

FORM_PAGES = ("/manage", "/manage/budgets/new", "/manage/budgets/acme-monthly/edit",
              "/manage/invoices/new?client=acme&period=2026-03", "/manage/billing?client=acme", "/manage/links",
              "/manage/keys/new", "/manage/prices", "/manage/rules", "/audit")
# Pages with buttons added to their tables: screenshot only (their tables' layout at 390 px is the layout work's).
BUTTON_PAGES = ("/budgets", "/keys", "/invoices")


# The browser test module's fixtures: chromium, where screenshots go, a tab.
browser = pages.browser
shots = pages.shots
tab = pages.tab


@dataclass
class Ledger:
    db: Path
    config: Path
    read_token: str


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    root = tmp_path_factory.mktemp("dashboard-actions")
    db, config = root / "ledger.db", root / "config.toml"
    config.write_text('tz = "UTC"\n', encoding="utf-8")
    seed(db)
    store = open_store(f"sqlite:///{db}")
    try:
        read, _ = create_token(store, "ops", "read")
    finally:
        store.close()
    return Ledger(db, config, read)


@pytest.fixture(scope="module")
def server(ledger: Ledger) -> Iterator[Server]:
    yield from _serve(ledger)  # type: ignore[arg-type]   # it reads .db and .config


@pytest.fixture(scope="module")
def guarded(ledger: Ledger) -> Iterator[Server]:
    yield from _serve(ledger, "--token", "secret")  # type: ignore[arg-type]


@pytest.fixture
def ledger_store(ledger: Ledger) -> Iterator[Store]:
    store = open_store(f"sqlite:///{ledger.db}")
    yield store
    store.close()


def cli_json(ledger: Ledger, *args: str) -> object:
    result = CliRunner().invoke(cli, ["--db", str(ledger.db), *args, "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def submit(tab: Tab, form: str, button: str | None = None) -> None:
    with tab.page.expect_navigation():
        target = tab.page.locator(f"{form} button[type=submit]")
        (target.filter(has_text=button) if button else target).first.click()


def flash(tab: Tab) -> str:
    return tab.page.locator("#flash").inner_text()


def last_audit(store: Store) -> tuple[str, str, str]:
    entry = store.audit_log(limit=1)[0]
    return entry.who, entry.action, entry.target


# -- each action, in the browser, checked in the ledger --------------------------------------------------

def test_budget_create_edit_delete(tab: Tab, server: Server, ledger: Ledger, ledger_store: Store) -> None:
    page = tab.visit(server.base, "/budgets")
    with page.expect_navigation():
        page.locator("#new-budget").click()
    page.fill("input[name=name]", "globex-cap")
    page.select_option("select[name=period]", "weekly")
    page.fill("input[name=limit]", "12.50")
    page.fill("input[name=scope]", "client=globex")
    page.fill("input[name=notify_at]", "50,80")
    tab.shot("action-budget-form")
    submit(tab, "#budget-form")
    assert urlsplit(page.url).path == "/budgets"
    assert "Budget globex-cap created: client=globex, $12.50 weekly" in flash(tab)
    assert page.locator('tr[data-budget="globex-cap"]').count() == 1
    made = Budget.from_dict("globex-cap", ledger_store.budgets()["globex-cap"])
    assert (made.limit, made.period, made.notify_percent) == (parse_usd("12.50"), "weekly", (Decimal(50), Decimal(80)))
    assert last_audit(ledger_store) == ("local", "budget.save", "globex-cap")

    with page.expect_navigation():
        page.locator('tr[data-budget="globex-cap"] a', has_text="Edit").click()
    assert page.locator("input[name=limit]").input_value() == "12.5"
    page.fill("input[name=limit]", "20")
    submit(tab, "#budget-form")
    assert "Budget globex-cap saved" in flash(tab)
    listed = {b["name"]: b for b in cli_json(ledger, "budget", "list")}  # type: ignore[attr-defined]
    assert listed["globex-cap"]["limit_usd"] == "20.00"

    page.locator('tr[data-budget="globex-cap"] button', has_text="Delete").click()
    page.wait_for_load_state()
    assert "Budget globex-cap deleted" in flash(tab)
    assert "globex-cap" not in ledger_store.budgets()
    assert last_audit(ledger_store) == ("local", "budget.delete", "globex-cap")
    tab.assert_clean()


def test_budget_mistake_is_shown_in_the_form(tab: Tab, server: Server, ledger_store: Store) -> None:
    page = tab.visit(server.base, "/manage/budgets/new")
    page.fill("input[name=name]", "typo")
    page.fill("input[name=limit]", "10")
    page.fill("input[name=scope]", "client=acmee")
    with page.expect_navigation():
        page.locator("#budget-form button[type=submit]").click()
    assert "acme" in page.locator("#form-error").inner_text()
    assert page.locator("input[name=scope]").input_value() == "client=acmee"    # kept as typed
    assert "typo" not in ledger_store.budgets()


def test_draft_issue_and_mark_an_invoice(tab: Tab, server: Server, ledger_store: Store) -> None:
    before = {i.number for i in ledger_store.issued_invoices()}
    page = tab.visit(server.base, "/invoices")
    with page.expect_navigation():
        page.locator("#new-invoice").click()
    page.fill("#draft-form input[name=client]", "acme")
    page.fill("#draft-form input[name=period]", "2026-02")
    submit(tab, "#draft-form")
    assert page.locator("#draft-total").get_attribute("data-usd") == "2.00"
    tab.shot("action-invoice-draft")
    submit(tab, "#issue-form")
    made = [i for i in ledger_store.issued_invoices() if i.number not in before]
    assert [(i.client, i.period, Decimal(i.total_due)) for i in made] == [("acme", "2026-02", Decimal("2.00"))]
    number = made[0].number
    assert f"Issued {number} · acme · 2026-02 · total due USD 2.00" in flash(tab)
    assert last_audit(ledger_store) == ("local", "invoice.issue", number)

    row = page.locator("#invoices tr", has_text=number)
    row.locator("select[name=status]").select_option("paid")
    with page.expect_navigation():
        row.locator("button", has_text="Mark").click()
    assert f"Invoice {number} marked paid" in flash(tab)
    assert last_audit(ledger_store) == ("local", "invoice.status", number)
    assert [i.status for i in ledger_store.issued_invoices() if i.number == number] == ["paid"]
    assert page.locator("#invoices tr", has_text=number).locator("td.status").inner_text() == "paid"
    tab.assert_clean()


def test_billing_settings(tab: Tab, server: Server, ledger_store: Store) -> None:
    page = tab.visit(server.base, "/manage/billing?client=acme")
    page.fill("#business-form input[name=name]", "Freelance Ltd")
    page.fill("#business-form textarea[name=payment]", "IBAN DE00 0000")
    submit(tab, "#business-form")
    assert "Business profile saved" in flash(tab)
    assert page.locator("#business-form input[name=name]").input_value() == "Freelance Ltd"
    assert page.locator("#business-form textarea[name=payment]").input_value() == "IBAN DE00 0000"
    saved = ledger_store.billing_settings()["business"]
    assert (saved["name"], saved["payment"]) == ("Freelance Ltd", "IBAN DE00 0000")
    tab.assert_clean()


def test_share_link_make_open_revoke(tab: Tab, server: Server, ledger_store: Store) -> None:
    page = tab.visit(server.base, "/manage/links")
    page.fill("#link-form input[name=name]", "globex-link")
    page.fill("#link-form input[name=client]", "globex")
    submit(tab, "#link-form")
    url = page.locator("#secret").inner_text().strip()
    token = url.rsplit("/share/", 1)[1]
    found = ledger_store.access_token_by_hash(hash_token(token))
    assert found and (found.role, found.scope_key, found.scope_value) == ("client", "client", "globex")
    assert last_audit(ledger_store) == ("local", "link.create", "globex-link")
    tab.visit(server.base, f"/share/{token}")
    page = tab.visit(server.base, "/manage/links")
    assert token not in page.content()                                       # shown once
    with page.expect_navigation():
        page.locator(f'tr[data-token="{found.token_id}"] button', has_text="Revoke").click()
    assert "Revoked globex-link" in flash(tab)
    tab.visit(server.base, f"/share/{token}", status=404)


def test_virtual_key_make_and_revoke(tab: Tab, server: Server, ledger: Ledger, ledger_store: Store) -> None:
    page = tab.visit(server.base, "/keys")
    with page.expect_navigation():
        page.locator("#new-key").click()
    page.fill("input[name=name]", "globex-key")
    page.fill("input[name=tags]", "client=globex")
    submit(tab, "#key-form")
    secret = page.locator("#secret").inner_text().strip()
    made = ledger_store.key_by_hash(key_hash(secret))
    assert made and (made.name, dict(made.tags), made.active) == ("globex-key", {"client": "globex"}, True)
    assert secret not in tab.visit(server.base, "/keys").content()           # shown once
    row = page.locator("#keys tr", has_text=made.key_id)
    with page.expect_navigation():
        row.locator("button", has_text="Revoke").click()
    assert f"Revoked key globex-key ({made.key_id})" in flash(tab)
    listed = cli_json(ledger, "keys", "list", "--all")
    assert next(k for k in listed if k["id"] == made.key_id)["revoked"]  # type: ignore[attr-defined,index]
    assert last_audit(ledger_store) == ("local", "key.revoke", "globex-key")


def test_price_override_set_and_remove(tab: Tab, server: Server, ledger_store: Store) -> None:
    page = tab.visit(server.base, "/manage/prices")
    page.fill("#price-form input[name=model]", "ft:custom-model")
    page.fill("#price-form input[name=provider]", "openai")
    page.fill("#price-form input[name=input]", "3")
    page.fill("#price-form input[name=output]", "15")
    submit(tab, "#price-form")
    (made,) = ledger_store.price_overrides()
    assert (made.model, made.provider, made.rates) == ("ft:custom-model", "openai",
                                                       {"input_tokens": Decimal(3), "output_tokens": Decimal(15)})
    assert f"Override #{made.id} saved for ft:custom-model" in flash(tab)
    with page.expect_navigation():
        page.locator(f'tr[data-override="{made.id}"] button', has_text="Remove").click()
    assert f"Override #{made.id} removed" in flash(tab)
    assert ledger_store.price_overrides() == []
    assert last_audit(ledger_store) == ("local", "price.remove", f"#{made.id}")


def test_attribution_rule_add_and_remove(tab: Tab, server: Server, ledger_store: Store) -> None:
    page = tab.visit(server.base, "/manage/rules")
    page.fill("#rule-form input[name=pattern]", "~/clients/initech/**")
    page.fill("#rule-form input[name=tags]", "client=initech")
    submit(tab, "#rule-form")
    (rule,) = ledger_store.attribution_rules()
    assert (rule.pattern, dict(rule.tags)) == ("~/clients/initech/**", {"client": "initech"})
    with page.expect_navigation():
        page.locator(f'tr[data-rule="{rule.rule_id}"] button', has_text="Remove").click()
    assert "Rule ~/clients/initech/** removed" in flash(tab)
    assert ledger_store.attribution_rules() == []


def test_audit_page_lists_the_changes(tab: Tab, server: Server, ledger_store: Store) -> None:
    page = tab.visit(server.base, "/manage/rules")
    page.fill("#rule-form input[name=pattern]", "~/audit/**")
    page.fill("#rule-form input[name=tags]", "client=audit")
    submit(tab, "#rule-form")
    page = tab.visit(server.base, "/audit")
    first = page.locator("#audit tbody tr").first
    assert first.locator("td.who").inner_text() == "local"
    assert (first.locator("td.action").inner_text(), first.locator("td.target").inner_text()) == ("rule.add",
                                                                                                  "~/audit/**")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", first.locator("td.when").inner_text())
    assert page.locator("#audit tbody tr").count() == len(ledger_store.audit_log())
    tab.shot("action-audit")


# -- what may not act ------------------------------------------------------------------------------------

def test_a_form_without_its_csrf_token_is_refused(tab: Tab, server: Server, ledger_store: Store) -> None:
    page = tab.visit(server.base, "/manage/rules")
    page.fill("#rule-form input[name=pattern]", "~/forged/**")
    page.fill("#rule-form input[name=tags]", "client=forged")
    page.locator("#rule-form input[name=csrf]").evaluate("e => { e.value = 'forged' }")
    with page.expect_navigation() as nav:
        page.locator("#rule-form button[type=submit]").click()
    assert nav.value is not None and nav.value.status == 403
    assert "Form not accepted" in page.locator("main").inner_text()
    page = tab.visit(server.base, "/manage/rules")                             # now without it at all
    page.fill("#rule-form input[name=pattern]", "~/forged/**")
    page.fill("#rule-form input[name=tags]", "client=forged")
    page.locator("#rule-form input[name=csrf]").evaluate("e => e.remove()")
    with page.expect_navigation() as nav:
        page.locator("#rule-form button[type=submit]").click()
    assert nav.value is not None and nav.value.status == 403
    assert all(r.pattern != "~/forged/**" for r in ledger_store.attribution_rules())


def test_a_read_only_token_sees_no_buttons_and_cannot_act(tab: Tab, guarded: Server, ledger: Ledger) -> None:
    page = tab.visit(guarded.base, "/budgets", status=401)
    page.locator("input[name=token]").fill(ledger.read_token)
    with page.expect_navigation():
        page.get_by_role("button", name="Open the dashboard").click()
    assert urlsplit(page.url).path == "/budgets"
    for path in ("/budgets", "/keys", "/invoices"):
        page = tab.visit(guarded.base, path)
        assert page.locator("form[method=post]").count() == 0, path
        assert page.locator("a[href^='/manage']").count() == 0, path
    tab.visit(guarded.base, "/manage/budgets/new", status=403)
    assert "read-only" in page.locator("main").inner_text()
    tab.visit(guarded.base, "/audit")                                        # reading the log is allowed


# -- small screens -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("width", [1280, 390])
def test_form_pages_fit_the_screen(tab: Tab, server: Server, width: int) -> None:
    tab.page.set_viewport_size({"width": width, "height": 900})
    for path in (*FORM_PAGES, *BUTTON_PAGES):
        page = tab.visit(server.base, path)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert path in BUTTON_PAGES or wide <= width, (path, wide)
        name = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "manage"
        tab.shot(f"manage-{name}-{width}")
    tab.assert_clean()
