"""Who may see what: open on loopback, tokens elsewhere, and client links that see one client only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from dashboard_seed import seeded
from fastapi import FastAPI
from fastapi.testclient import TestClient

from spendtag import settings
from spendtag.bill.profile import save_client
from spendtag.cli.main import cli
from spendtag.ledger import open_store
from spendtag.server.dashboard.access import AccessError, check_binding, create_token, hash_token
from spendtag.server.dashboard.app import create_app

ADMIN = "secret-admin-token"
STAFF_ONLY = ("/api/v1/overview", "/api/v1/events", "/api/v1/events/a1", "/api/v1/sessions",
              "/api/v1/sessions/s-acme-1", "/api/v1/alerts", "/api/v1/keys", "/api/v1/tags", "/api/v1/tags/client",
              "/api/v1/export")


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with seeded(tmp_path_factory.mktemp("access")) as db:
        root = db.parent
        store = open_store(str(db))
        tokens = {name: create_token(store, name, role, scope)[0] for name, role, scope in (
            ("acme-link", "client", ("client", "acme")), ("ops", "read", None),
            ("apollo-link", "client", ("project", "apollo")))}
        revoked = create_token(store, "old", "client", ("client", "acme"))[0]
        from datetime import UTC, datetime
        store.revoke_access_token("old", datetime.now(UTC))
        store.close()
        (root / "tokens").write_text("\n".join(f"{k}={v}" for k, v in {**tokens, "old": revoked}.items()))
        yield db


def tokens(ledger: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (ledger.parent / "tokens").read_text().splitlines())


def make(ledger: Path, *, token: str | None = None, host: str = "127.0.0.1") -> TestClient:
    app: FastAPI = create_app(str(ledger), settings.load({"db": str(ledger)}), token=token, host=host)
    return TestClient(app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_loopback_without_a_token_is_open(ledger: Path) -> None:
    c = make(ledger)
    assert c.get("/api/v1/me").json() == {"role": "admin", "name": "local", "scope": None}
    assert c.get("/").status_code == 200


def test_a_bad_token_is_refused_even_when_open(ledger: Path) -> None:
    c = make(ledger)
    assert c.get("/api/v1/report", headers=bearer("st_not-a-token")).status_code == 401
    assert c.get("/api/v1/report", headers=bearer(tokens(ledger)["old"])).status_code == 401   # revoked


def test_with_an_admin_token_every_call_needs_it(ledger: Path) -> None:
    c = make(ledger, token=ADMIN, host="0.0.0.0")
    for path in ("/api/v1/me", "/api/v1/report", "/api/v1/budgets", "/api/v1/invoices", *STAFF_ONLY):
        response = c.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
        assert "acme" not in response.text
    assert c.get("/api/v1/report", headers=bearer("wrong")).status_code == 401
    assert c.get("/api/v1/me", headers=bearer(ADMIN)).json()["role"] == "admin"
    page = c.get("/budgets")
    assert page.status_code == 401 and 'name="token"' in page.text and "acme" not in page.text


def test_signing_in_sets_a_cookie_the_pages_accept(ledger: Path) -> None:
    c = make(ledger, token=ADMIN, host="0.0.0.0")
    form = c.get("/login?next=/budgets")
    assert 'method="post"' in form.text and 'value="/budgets"' in form.text
    failed = c.post("/login", data={"token": "wrong", "next": "/budgets"})
    assert failed.status_code == 401 and "not valid" in failed.text
    assert c.get("/budgets?token=" + ADMIN).status_code == 401             # a token in a URL is not accepted
    signed = c.post("/login", data={"token": ADMIN, "next": "/budgets"}, follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == "/budgets"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert c.get("/budgets").status_code == 200                      # the client keeps the cookie
    away = c.post("/login", data={"token": ADMIN, "next": "//evil.example/x"}, follow_redirects=False)
    assert away.headers["location"] == "/"                           # never redirected off the site


def test_a_read_only_token_sees_everything(ledger: Path) -> None:
    c = make(ledger, token=ADMIN, host="0.0.0.0")
    ops = bearer(tokens(ledger)["ops"])
    assert c.get("/api/v1/me", headers=ops).json() == {"role": "read", "name": "ops", "scope": None}
    for path in STAFF_ONLY:
        assert c.get(path, headers=ops).status_code == 200, path


def show_cost(ledger: Path, on: bool) -> None:
    """The agency's per-client switch (billing details of acme), saved in the ledger as the dashboard does."""
    store = open_store(str(ledger))
    try:
        save_client(store, "acme", {"show_cost": "true" if on else "false"}, by="test")
    finally:
        store.close()


def test_a_client_link_sees_only_its_own_billed_amounts_budgets_and_invoices(ledger: Path) -> None:
    for c in (make(ledger), make(ledger, token=ADMIN, host="0.0.0.0")):
        acme = bearer(tokens(ledger)["acme-link"])
        assert c.get("/api/v1/me", headers=acme).json() == {
            "role": "client", "name": "acme-link", "scope": {"key": "client", "value": "acme"}}
        # Billed amounts only (show_cost is off by default): every answer in raw cost is refused.
        for path in ("/api/v1/report?by=client&period=2026-03", "/api/v1/summary?period=2026-03", "/api/v1/budgets"):
            response = c.get(path, headers=acme)
            assert response.status_code == 403, path
            assert "/api/v1/client" in response.json()["detail"] and "3.50" not in response.text
        view = c.get("/api/v1/client?value=globex&period=2026-03", headers=acme).json()
        assert view["value"] == "acme" and view["billed"]["total"] == "3.50" and view["cost"] is None
        assert [b["name"] for b in view["budgets"]] == ["acme-monthly"]
        assert "globex" not in str(view) and "cost_usd" not in str(view) and "limit_usd" not in str(view)
        assert [i["number"] for i in c.get("/api/v1/invoices?client=globex", headers=acme).json()] == [
            "INV-2026-0001"]
        assert c.get("/api/v1/invoices/INV-2026-0002", headers=acme).status_code == 404
        issued = c.get("/api/v1/invoices/INV-2026-0001", headers=acme)
        assert issued.status_code == 200 and set(issued.json()["document"]) == {
            "number", "issued_on", "client", "period", "client_document"}           # not the agency's appendix
        for path in STAFF_ONLY:
            response = c.get(path, headers=acme)
            assert response.status_code == 403, path
            assert "globex" not in response.text


def test_a_client_link_sees_its_cost_when_the_agency_shows_it(ledger: Path) -> None:
    show_cost(ledger, True)
    try:
        c = make(ledger, token=ADMIN, host="0.0.0.0")
        acme = bearer(tokens(ledger)["acme-link"])
        report = c.get("/api/v1/report?by=client&period=2026-03", headers=acme).json()
        assert [(r["client"], r["cost_usd"]) for r in report["rows"]] == [("acme", "3.50"), (None, "0.00")]
        assert report["total"]["cost_usd"] == "3.50"
        by_model = c.get("/api/v1/report?by=model", headers=acme).json()
        assert "gpt-4.1" not in str(by_model)                           # globex's model never shows
        assert [b["name"] for b in c.get("/api/v1/budgets", headers=acme).json()] == ["acme-monthly"]
        summary = c.get("/api/v1/summary?value=globex&period=2026-03", headers=acme).json()
        assert summary["value"] == "acme" and summary["total"]["cost_usd"] == "3.50"
        assert "sessions" not in summary and "top_calls" not in summary
        view = c.get("/api/v1/client?period=2026-03", headers=acme).json()
        assert view["show_cost"] is True and view["cost"]["total"]["cost_usd"] == "3.50"
        assert "events" in c.get("/api/v1/invoices/INV-2026-0001", headers=acme).json()["document"]
        page = c.get(f"/share/{tokens(ledger)['acme-link']}?period=2026-03")
        assert 'data-usd="3.50">$3.50<' in page.text and 'id="billed-total"' in page.text
    finally:
        show_cost(ledger, False)


def test_a_link_scoped_to_another_key_has_no_invoices(ledger: Path) -> None:
    c = make(ledger)
    apollo = bearer(tokens(ledger)["apollo-link"])
    assert c.get("/api/v1/report?by=client", headers=apollo).json()["total"]["cost_usd"] == "1.75"
    assert c.get("/api/v1/invoices", headers=apollo).status_code == 403


def test_the_shared_page_shows_one_client(ledger: Path) -> None:
    c = make(ledger, token=ADMIN, host="0.0.0.0")
    link = tokens(ledger)["acme-link"]
    page = c.get(f"/share/{link}?period=2026-03")
    assert page.status_code == 200
    # The seeded config bills pass-through in USD: the billed amount is the cost, and no raw amount is marked.
    assert 'id="billed-total" data-amount="3.50" data-currency="USD">USD 3.50<' in page.text
    assert "data-usd" not in page.text and "INV-2026-0001" in page.text and "acme-monthly" in page.text
    assert "globex" not in page.text and "everyone" not in page.text and "/keys" not in page.text
    assert f'href="/share/{link}/invoices/INV-2026-0001"' in page.text
    assert c.get(f"/share/{link}/invoices/INV-2026-0001").status_code == 200
    assert c.get(f"/share/{link}/invoices/INV-2026-0002").status_code == 404
    assert c.get(f"/share/{tokens(ledger)['old']}").status_code == 404           # revoked
    assert c.get("/share/st_made-up").status_code == 404
    assert c.get("/", headers=bearer(link)).status_code == 403                  # staff pages stay closed


def test_virtual_keys_never_open_the_dashboard(ledger: Path) -> None:
    c = make(ledger, token=ADMIN, host="0.0.0.0")
    assert c.get("/api/v1/report", headers=bearer("sk-st-abc-whole-key")).status_code == 401


def test_refuses_to_serve_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "l.db"))
    with pytest.raises(AccessError, match="refusing to serve on 0.0.0.0 without a token"):
        check_binding("0.0.0.0", None, store)
    check_binding("127.0.0.1", None, store)
    check_binding("::1", None, store)
    check_binding("0.0.0.0", ADMIN, store)
    create_token(store, "ops", "read")
    check_binding("0.0.0.0", None, store)                          # a read-only token is enough
    store.close()


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "l.db"), "serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0 without a token" in result.output


def test_tokens_cli_add_list_revoke_and_only_the_hash_is_kept(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    run = CliRunner().invoke
    made = run(cli, ["--db", str(db), "tokens", "add", "acme-link", "--client", "acme", "--url", "https://d.example"])
    assert made.exit_code == 0, made.output
    link = made.output.split("https://d.example/share/", 1)[1].split()[0]
    assert link.startswith("st_") and len(link) > 40
    assert link.encode() not in db.read_bytes() and hash_token(link).encode() in db.read_bytes()
    listed = run(cli, ["--db", str(db), "tokens", "list"], env={"COLUMNS": "200"})
    assert "acme-link" in listed.output and "client=acme" in listed.output and link not in listed.output
    both = run(cli, ["--db", str(db), "tokens", "add", "x", "--client", "a", "--read-only"])
    assert both.exit_code == 2 and "give one of" in both.output
    again = run(cli, ["--db", str(db), "tokens", "add", "acme-link", "--read-only"])
    assert again.exit_code == 2 and "an active access token named 'acme-link' exists" in again.output
    revoked = run(cli, ["--db", str(db), "tokens", "revoke", "acme-link"])
    assert revoked.exit_code == 0 and "revoked acme-link" in revoked.output
    c = make(db)
    assert c.get(f"/share/{link}").status_code == 404
