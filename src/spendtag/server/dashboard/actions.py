"""The dashboard's actions: each a form (GET) and a POST that calls what the CLI calls, records
who did it in the audit log, and redirects with a message. Errors are shown in the form.

Only the admin may act (:func:`.forms.admin`); every POST carries a CSRF token (:mod:`.csrf`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from spendtag import attribution
from spendtag.bill import issuing
from spendtag.bill.model import Invoice
from spendtag.bill.terms import from_flags
from spendtag.errors import SpendtagError
from spendtag.guard import budgets as budget_rules
from spendtag.guard.budgets import ENFORCE, PERIODS, Budget, BudgetError
from spendtag.ledger.store import Store
from spendtag.money import exact_str, format_usd, parse_usd
from spendtag.periods import parse_instant, zone
from spendtag.pricing.book import override_from_text
from spendtag.server.dashboard import access, billing_actions
from spendtag.server.dashboard.api import context
from spendtag.server.dashboard.context import Context
from spendtag.server.dashboard.forms import Admin, FormData, done, posted, record
from spendtag.server.dashboard.pages import PageError, Staff, render
from spendtag.tags import Selector, parse_pairs

router = APIRouter(include_in_schema=False)

RATE_FIELDS: tuple[tuple[str, str], ...] = (
    ("input", "Input"), ("output", "Output"), ("cache_read", "Cache read"), ("cache_write_5m", "Cache write 5m"),
    ("cache_write_1h", "Cache write 1h"), ("reasoning", "Reasoning"), ("input_audio", "Audio input"),
    ("output_audio", "Audio output"), ("web_search", "Web search (per 1,000)"))


def _day(text: str, what: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SpendtagError(f"{what}: {text[:40]!r} is not a date; write it as 2026-03-01") from None


def _lines(text: str) -> list[str]:
    """Selectors typed one per line, or separated by spaces or commas."""
    return [p for p in text.replace(",", " ").split() if p]


@router.get("/manage", response_class=HTMLResponse)
def manage(request: Request, who: Admin) -> HTMLResponse:
    return render(request, "manage.html", page="manage")


# -- budgets ---------------------------------------------------------------------------------------

def _budget_values(b: Budget) -> dict[str, str]:
    return {"name": b.name, "period": b.period, "limit": exact_str(b.limit).rstrip("0").rstrip("."),
            "scope": " ".join(str(s) for s in b.scope), "agent": b.agent or "", "key": b.key or "",
            "project": b.project or "", "start": b.start.isoformat() if b.start else "",
            "end": b.end.isoformat() if b.end else "", "notify_at": ",".join(str(p) for p in b.notify_percent),
            "notify_amounts": ",".join(exact_str(a) for a in b.notify_amount),
            "stop_at": "" if b.stop_percent is None else str(b.stop_percent), "enforce": b.enforce,
            "forecast_alert": "on" if b.forecast_alert else "", "channels": ",".join(b.channels)}


def _budget_form(request: Request, values: dict[str, Any], *, editing: str | None = None, error: str | None = None,
                 status: int = 200) -> HTMLResponse:
    ctx = context(request)
    return render(request, "budget_form.html", status=status, page="budgets", values=values, editing=editing,
                  error=error, periods=PERIODS, enforce_choices=ENFORCE, channels=sorted(ctx.settings.alert_channels))


@router.get("/manage/budgets/new", response_class=HTMLResponse)
def budget_new(request: Request, who: Admin) -> HTMLResponse:
    return _budget_form(request, {"period": "monthly", "enforce": "warn", "forecast_alert": "on"})


@router.get("/manage/budgets/{name}/edit", response_class=HTMLResponse)
def budget_edit(request: Request, name: str, who: Admin) -> HTMLResponse:
    ctx = context(request)
    with ctx.store() as store:
        found = next((b for b in ctx.budgets(store) if b.name == name), None)
    if found is None:
        raise PageError(404, "Not found", f"No budget {name!r}.")
    if found.origin == "config":
        raise PageError(400, "Defined in the config file",
                        f"Budget {name!r} is defined in the config file; edit it there.")
    return _budget_form(request, _budget_values(found), editing=name)


def _budget_from(form: FormData, known_channels: Any) -> Budget:
    limit_text = form.get("limit")
    if not limit_text:
        raise BudgetError("give the limit in USD, e.g. 300")
    channels = tuple(c for c in form.all("channels") for c in c.split(",") if c.strip())
    return Budget(
        name=form.get("name"), limit=parse_usd(limit_text), period=form.get("period", "monthly"),
        scope=tuple(Selector.parse(s) for s in _lines(form.get("scope"))),
        agent=form.get("agent") or None, key=form.get("key") or None, project=form.get("project") or None,
        start=_day(form.get("start"), "from"), end=_day(form.get("end"), "until"),
        notify_percent=budget_rules.parse_percents(form.get("notify_at"), "notify at"),
        notify_amount=tuple(parse_usd(a) for a in _lines(form.get("notify_amounts"))),
        stop_percent=budget_rules.parse_stop_percent(form.get("stop_at"), "stop at"),
        enforce=form.get("enforce", "warn"),  # type: ignore[arg-type]  # Budget checks it
        forecast_alert=form.flag("forecast_alert"), channels=channels)


@router.post("/manage/budgets", response_class=HTMLResponse)
async def budget_save(request: Request, who: Admin) -> Response:
    form = await posted(request)
    ctx = context(request)
    editing = form.get("editing") or None
    try:
        if editing is not None and form.get("name") != editing:
            raise BudgetError("a budget's name cannot change; make a new budget and delete this one")
        b = _budget_from(form, ctx.settings.alert_channels)
        with ctx.store() as store:
            existed = b.name in store.budgets()
            notes = budget_rules.save(store, b, ctx.budgets(store), channels=ctx.settings.alert_channels,
                                      allow_new=form.flag("allow_new"))
            record(store, who, "budget.save", b.name, {"created": not existed, **b.to_dict()})
    except SpendtagError as exc:
        return _budget_form(request, form.values(), editing=editing, error=str(exc), status=400)
    message = (f"Budget {b.name} {'saved' if existed else 'created'}: {b.describe_scope()}, {format_usd(b.limit)} "
               f"{b.describe_period()}")
    return done(request, "/budgets", message + "".join(f" · note: {n}" for n in notes),
                kind="warn" if notes else "ok")


@router.post("/manage/budgets/{name}/delete", response_class=HTMLResponse)
async def budget_delete(request: Request, name: str, who: Admin) -> Response:
    await posted(request)
    ctx = context(request)
    try:
        with ctx.store() as store:
            budget_rules.remove(store, name, ctx.budgets(store))
            record(store, who, "budget.delete", name)
    except SpendtagError as exc:
        return done(request, "/budgets", f"Budget {name} was not deleted: {exc}", kind="warn")
    return done(request, "/budgets", f"Budget {name} deleted")


# -- invoices --------------------------------------------------------------------------------------

def _invoice_request(store: Store, ctx: Context, values: dict[str, str]) -> Any:
    """The CLI's invoice run for the form's values: the config's terms, the ledger's billing settings."""
    from spendtag.bill import profile
    from spendtag.bill.rates import from_sections as rates_from_sections

    config = issuing.config_from(ctx.settings.sections, client_key=ctx.client_key, path=str(ctx.settings.config_path))
    who = profile.load(ctx.settings, store)
    tz = zone(who.business.timezone) if who.business.timezone else ctx.tz
    on = (parse_instant(values["issued_on"], tz).astimezone(tz).date() if values.get("issued_on")
          else datetime.now(tz).date())
    terms = from_flags(markup=values.get("markup") or None, pass_through=values.get("pass_through") == "on")
    rates = rates_from_sections(ctx.settings.sections, path=str(ctx.settings.config_path))
    req = issuing.request(config, values.get("period", ""), tz, by=values.get("by") or None,
                          allocate=values.get("allocate") or None, terms=terms, profile=who, on=on, rates=rates)
    return config, req


def _draft(store: Store, ctx: Context, values: dict[str, str]) -> tuple[Any, Any, Invoice, list[str]]:
    client, period = values.get("client", ""), values.get("period", "")
    if not client or not period:
        raise SpendtagError("give the client and the period to bill, e.g. acme and 2026-03")
    config, req = _invoice_request(store, ctx, values)
    notes = issuing.check_names(store, req, client)
    return config, req, issuing.draft(store, req, client), notes


def _clients(store: Store, ctx: Context) -> list[str]:
    from spendtag.ledger.query import Filters

    found = {a.key[0] for a in store.aggregate(Filters(), [f"tag:{ctx.client_key}"]) if a.key[0]}
    return sorted(found)


@router.get("/manage/invoices/new", response_class=HTMLResponse)
def invoice_new(request: Request, who: Admin) -> HTMLResponse:
    """The invoice form; with a client and a period, the draft as it would be issued now."""
    ctx = context(request)
    values = {k: v.strip() for k, v in request.query_params.items()}
    preview: Invoice | None = None
    error: str | None = None
    notes: list[str] = []
    with ctx.store() as store:
        clients = _clients(store, ctx)
        if values.get("client") or values.get("period"):
            try:
                _, _, preview, notes = _draft(store, ctx, values)
            except SpendtagError as exc:
                error = str(exc)
    return render(request, "invoice_form.html", status=400 if error else 200, page="invoices", values=values,
                  clients=clients, preview=preview, error=error, notes=notes)


@router.post("/manage/invoices/issue", response_class=HTMLResponse)
async def invoice_issue(request: Request, who: Admin) -> Response:
    form = await posted(request)
    ctx = context(request)
    values = form.values()
    try:
        with ctx.store() as store:
            config, req, draft, _ = _draft(store, ctx, values)
            on = req.on
            issued = issuing.issue(store, config, [draft], on, profile=req.profile, reissue=form.flag("reissue"))[0]
            record(store, who, "invoice.issue", issued.number or "",
                   {"client": issued.client, "period": issued.period, "total_due": format(issued.total_due, "f"),
                    "issued_on": on.isoformat()})
    except SpendtagError as exc:
        with ctx.store() as store:
            clients = _clients(store, ctx)
        return render(request, "invoice_form.html", status=400, page="invoices", values=values, clients=clients,
                      preview=None, error=str(exc), notes=[])
    from spendtag.bill import document
    from spendtag.bill.model import money

    doc = document.of(issued)
    return done(request, "/invoices", f"Issued {issued.number} · {issued.client} · {issued.period} · total due "
                                      f"{money(doc.total, doc.currency)} · due {doc.due_date}")


@router.post("/manage/invoices/{number}/status", response_class=HTMLResponse)
async def invoice_status(request: Request, number: str, who: Admin) -> Response:
    form = await posted(request)
    status = form.get("status")
    ctx = context(request)
    try:
        with ctx.store() as store:
            if store.issued_invoice(number) is None:
                raise SpendtagError(f"no issued invoice {number!r}")
            billing_actions.mark(store, number, status, by=who.name)
            record(store, who, "invoice.status", number, {"status": status})
    except SpendtagError as exc:
        return done(request, "/invoices", f"Invoice {number} not changed: {exc}", kind="warn")
    return done(request, "/invoices", f"Invoice {number} marked {status}")


# -- billing settings ------------------------------------------------------------------------------

def _billing_page(request: Request, client: str, *, business: dict[str, str] | None = None,
                  details: dict[str, str] | None = None, error: str | None = None, error_form: str = "",
                  status: int = 200) -> HTMLResponse:
    ctx = context(request)
    with ctx.store() as store:
        saved_business, saved_client = billing_actions.current(store, client or None)
        clients = _clients(store, ctx)
    applies_business, applies_client = billing_actions.fallbacks(ctx.settings, client or None)
    return render(request, "billing.html", status=status, page="manage", client=client, clients=clients,
                  business=business if business is not None else saved_business,
                  details=details if details is not None else saved_client, error=error, error_form=error_form,
                  business_form=billing_actions.BUSINESS_FORM, client_form=billing_actions.CLIENT_FORM,
                  applies_business=applies_business, applies_client=applies_client)


@router.get("/manage/billing", response_class=HTMLResponse)
def billing(request: Request, who: Admin, client: str = "") -> HTMLResponse:
    return _billing_page(request, client.strip())


@router.post("/manage/billing/business", response_class=HTMLResponse)
async def billing_business(request: Request, who: Admin) -> Response:
    form = await posted(request)
    fields = {k: form.get(k) for k in billing_actions.BUSINESS_FIELDS}
    ctx = context(request)
    try:
        with ctx.store() as store:
            billing_actions.save_business(store, fields, by=who.name)
            record(store, who, "billing.business", "business", fields)
    except SpendtagError as exc:
        return _billing_page(request, "", business=fields, error=str(exc), error_form="business", status=400)
    return done(request, "/manage/billing", "Business profile saved")


@router.post("/manage/billing/client", response_class=HTMLResponse)
async def billing_client(request: Request, who: Admin) -> Response:
    form = await posted(request)
    client = form.get("client")
    fields = {k: form.get(k) for k in billing_actions.CLIENT_FIELDS}
    ctx = context(request)
    try:
        with ctx.store() as store:
            billing_actions.save_client(store, client, fields, by=who.name)
            record(store, who, "billing.client", client, fields)
    except SpendtagError as exc:
        return _billing_page(request, client, details=fields, error=str(exc), error_form="client", status=400)
    return done(request, f"/manage/billing?client={client}", f"Billing details for {client} saved")


# -- share links -----------------------------------------------------------------------------------

def _links_page(request: Request, values: dict[str, str] | None = None, error: str | None = None,
                status: int = 200) -> HTMLResponse:
    with context(request).store() as store:
        tokens = store.access_tokens(include_revoked=True)
    return render(request, "links.html", status=status, page="manage", tokens=tokens, values=values or {},
                  error=error)


@router.get("/manage/links", response_class=HTMLResponse)
def links(request: Request, who: Admin) -> HTMLResponse:
    return _links_page(request)


@router.post("/manage/links", response_class=HTMLResponse)
async def link_create(request: Request, who: Admin) -> Response:
    form = await posted(request)
    ctx = context(request)
    name, client, scope = form.get("name"), form.get("client"), form.get("scope")
    try:
        if not name:
            raise SpendtagError("give the link a name, e.g. acme-link")
        if bool(client) == bool(scope):
            raise SpendtagError("give a client, or a scope KEY=VALUE (one of the two)")
        if client:
            pair = (ctx.client_key, client)
        else:
            key, sep, value = scope.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise SpendtagError("the scope is KEY=VALUE, e.g. project=apollo")
            pair = (key.strip(), value.strip())
        with ctx.store() as store:
            token, made, notes = access.create_link(store, name, pair, allow_new=form.flag("allow_new"))
            record(store, who, "link.create", made.name, {"token_id": made.token_id, "scope": f"{pair[0]}={pair[1]}"})
    except SpendtagError as exc:
        return _links_page(request, form.values(), str(exc), 400)
    url = f"{str(request.base_url).rstrip('/')}/share/{token}"
    return done(request, "/manage/links", f"Link {made.name} for {pair[0]}={pair[1]} made"
                + "".join(f" · note: {n}" for n in notes),
                secret=url, secret_label="The link (shown once: copy it now)")


@router.post("/manage/links/{token_id}/revoke", response_class=HTMLResponse)
async def link_revoke(request: Request, token_id: str, who: Admin) -> Response:
    await posted(request)
    try:
        with context(request).store() as store:
            found = access.revoke_token(store, token_id)
            record(store, who, "link.revoke", found.name, {"token_id": found.token_id})
    except SpendtagError as exc:
        return done(request, "/manage/links", f"Not revoked: {exc}", kind="warn")
    return done(request, "/manage/links", f"Revoked {found.name}")


# -- virtual keys ----------------------------------------------------------------------------------

@router.get("/manage/keys/new", response_class=HTMLResponse)
def key_new(request: Request, who: Admin) -> HTMLResponse:
    return render(request, "key_form.html", page="keys", values={}, error=None)


@router.post("/manage/keys", response_class=HTMLResponse)
async def key_create(request: Request, who: Admin) -> Response:
    from spendtag.server.proxy import keys

    form = await posted(request)
    try:
        budget = form.get("budget_monthly")
        with context(request).store() as store:
            made = keys.create(store, form.get("name"), parse_pairs(_lines(form.get("tags"))),
                               budget_monthly=parse_usd(budget) if budget else None)
            record(store, who, "key.create", made.record.name,
                   {"key_id": made.record.key_id, "tags": dict(made.record.tags),
                    "budget": made.budget.name if made.budget else None})
    except SpendtagError as exc:
        return render(request, "key_form.html", status=400, page="keys", values=form.values(), error=str(exc))
    extra = (f" with budget {made.budget.name} ({format_usd(made.budget.limit)} a month, blocking)"
             if made.budget else "")
    return done(request, "/keys", f"Key {made.record.name} ({made.record.key_id}) made{extra}", secret=made.key,
                secret_label="The key (shown once: copy it now; only its hash is kept)")


@router.post("/manage/keys/{key_id}/revoke", response_class=HTMLResponse)
async def key_revoke(request: Request, key_id: str, who: Admin) -> Response:
    from spendtag.server.proxy import keys

    await posted(request)
    try:
        with context(request).store() as store:
            found = keys.revoke(store, key_id)
            record(store, who, "key.revoke", found.name, {"key_id": found.key_id})
    except SpendtagError as exc:
        return done(request, "/keys", f"Not revoked: {exc}", kind="warn")
    return done(request, "/keys", f"Revoked key {found.name} ({found.key_id})")


# -- price overrides -------------------------------------------------------------------------------

def _prices_page(request: Request, values: dict[str, str] | None = None, error: str | None = None,
                 status: int = 200) -> HTMLResponse:
    from spendtag.recording import price_book

    ctx = context(request)
    with ctx.store() as store:
        overrides = price_book(store, ctx.settings).overrides
    return render(request, "prices.html", status=status, page="manage", overrides=overrides, values=values or {},
                  error=error, rate_fields=RATE_FIELDS)


@router.get("/manage/prices", response_class=HTMLResponse)
def prices(request: Request, who: Admin) -> HTMLResponse:
    return _prices_page(request)


@router.post("/manage/prices", response_class=HTMLResponse)
async def price_set(request: Request, who: Admin) -> Response:
    from spendtag.ledger.query import Filters
    from spendtag.report import matching

    form = await posted(request)
    try:
        o = override_from_text(form.get("model"), provider=form.get("provider") or None,
                               rates={k: form.get(k) for k, _ in RATE_FIELDS}, multiplier=form.get("multiplier"),
                               valid_from=_day(form.get("valid_from"), "from"),
                               valid_until=_day(form.get("valid_until"), "until"), scope=_lines(form.get("scope")),
                               note=form.get("note"))
        with context(request).store() as store:
            notes = matching.check_scope(store, Filters(tags=o.scope), allow_new=form.flag("allow_new"),
                                         fix="tick 'allow new' if it is new") if o.scope else []
            oid = store.add_price_override(o)
            record(store, who, "price.set", f"#{oid}",
                   {"model": o.model, "provider": o.provider,
                    "rates": {k: str(v) for k, v in (o.rates or {}).items()},
                    "multiplier": None if o.multiplier is None else str(o.multiplier),
                    "from": o.valid_from, "until": o.valid_until, "scope": [str(s) for s in o.scope], "note": o.note})
    except SpendtagError as exc:
        return _prices_page(request, form.values(), str(exc), 400)
    return done(request, "/manage/prices", f"Override #{oid} saved for {o.model}"
                + "".join(f" · note: {n}" for n in notes))


@router.post("/manage/prices/{override_id}/remove", response_class=HTMLResponse)
async def price_remove(request: Request, override_id: str, who: Admin) -> Response:
    await posted(request)
    with context(request).store() as store:
        if not override_id.isdigit() or not store.remove_price_override(int(override_id)):
            return done(request, "/manage/prices", f"No active override #{override_id}", kind="warn")
        record(store, who, "price.remove", f"#{override_id}")
    return done(request, "/manage/prices", f"Override #{override_id} removed")


# -- attribution rules -----------------------------------------------------------------------------

def _rules_page(request: Request, values: dict[str, str] | None = None, error: str | None = None,
                status: int = 200) -> HTMLResponse:
    ctx = context(request)
    config_rules = attribution.Rules.from_config(ctx.settings.sections.get("attribution"),
                                                 path=str(ctx.settings.config_path)).rules
    with ctx.store() as store:
        stored = store.attribution_rules()
    return render(request, "rules.html", status=status, page="manage", config_rules=config_rules, stored=stored,
                  values=values or {}, error=error)


@router.get("/manage/rules", response_class=HTMLResponse)
def rules(request: Request, who: Admin) -> HTMLResponse:
    return _rules_page(request)


@router.post("/manage/rules", response_class=HTMLResponse)
async def rule_add(request: Request, who: Admin) -> Response:
    form = await posted(request)
    try:
        with context(request).store() as store:
            made = attribution.add_rule(store, form.get("pattern"), parse_pairs(_lines(form.get("tags"))))
            record(store, who, "rule.add", made.pattern, {"rule_id": made.rule_id, "tags": dict(made.tags)})
    except SpendtagError as exc:
        return _rules_page(request, form.values(), str(exc), 400)
    tags = ", ".join(f"{k}={v}" for k, v in made.tags.items())
    return done(request, "/manage/rules", f"Rule added: {made.pattern} → {tags}. It applies to calls imported from "
                                          "now on; `spendtag retag` applies it to calls already recorded.")


@router.post("/manage/rules/{rule_id}/remove", response_class=HTMLResponse)
async def rule_remove(request: Request, rule_id: str, who: Admin) -> Response:
    await posted(request)
    try:
        with context(request).store() as store:
            found = attribution.remove_rule(store, rule_id)
            record(store, who, "rule.remove", found.pattern, {"rule_id": found.rule_id})
    except SpendtagError as exc:
        return done(request, "/manage/rules", f"Not removed: {exc}", kind="warn")
    return done(request, "/manage/rules", f"Rule {found.pattern} removed")


# -- the audit log ---------------------------------------------------------------------------------

@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, who: Staff) -> HTMLResponse:
    with context(request).store() as store:
        entries = store.audit_log(limit=500)
    return render(request, "audit.html", page="audit", entries=entries, now=datetime.now(UTC))
