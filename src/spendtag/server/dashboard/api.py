"""``/api/v1``: everything the pages show, as JSON, with the CLI's ``--by`` and filters.

Filters are query parameters named like the CLI's flags (``tag`` repeatable, ``agent``,
``model``, ``provider``, ``project``, ``session``, ``source``, ``since``, ``until``,
``period``, ``range`` for a named period, ``tz``). Money is an exact decimal string.
Empty parameters mean "no condition" (an HTML form sends every field), and an explicit
``period``/``since``/``until`` wins over ``range`` (a form's period menu always has a value).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from spendtag.bill import repricing
from spendtag.ledger import open_store
from spendtag.ledger.query import QueryError
from spendtag.ledger.store import EVENT_ORDERS, Store
from spendtag.money import MoneyError, parse_usd
from spendtag.report import breakdown, exports, matching
from spendtag.report.selection import NAMED_PERIODS, Selection, select
from spendtag.server.dashboard import client_view, schemas, views
from spendtag.server.dashboard.access import Gate, Viewer
from spendtag.server.dashboard.client_view import Billing
from spendtag.server.dashboard.context import Context
from spendtag.tags import Selector

TOKEN_COOKIE = "spendtag_token"
RECOMMEND_RANGE = "last-30-days"     # as `spendtag recommend` without a time range


def context(request: Request) -> Context:
    ctx: Context = request.app.state.context
    return ctx


def request_token(request: Request) -> str | None:
    """From ``Authorization: Bearer``, or the sign-in cookie (never the URL, which ends up in logs)."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return request.cookies.get(TOKEN_COOKIE) or None


def viewer(request: Request) -> Viewer:
    """The caller, from its bearer token or cookie; 401 without a valid one (unless the dashboard is open)."""
    ctx = context(request)
    gate: Gate = request.app.state.gate
    with ctx.store() as store:
        found = gate.viewer(request_token(request), store)
    if found is None:
        raise HTTPException(401, "a valid token is required: Authorization: Bearer TOKEN",
                            headers={"WWW-Authenticate": "Bearer"})
    request.state.viewer = found      # for the pages: whether to show the buttons that change things
    return found


@dataclass(frozen=True)
class ClientScope:
    """A viewer scoped to one client (by the client key): its billing setup and whether it sees raw cost."""

    client: str
    billing: Billing | None
    show_cost: bool


def client_scope(ctx: Context, store: Store, who: Viewer) -> ClientScope | None:
    if who.scope is None or who.scope[0] != ctx.client_key:
        return None
    billing = ctx.billing(store)
    return ClientScope(who.scope[1], billing, billing is not None and billing.shows_cost(who.scope[1]))


BILLED_ONLY = ("this token sees amounts as billed, not the cost: GET /api/v1/client for its period's billed "
               "amount, usage, budgets and invoices")


def cost_viewer(request: Request, who: Annotated[Viewer, Depends(viewer)]) -> Viewer:
    """Any viewer but a client's token whose agency shows it billed amounts only (the default)."""
    ctx = context(request)
    if who.scope is not None and who.scope[0] == ctx.client_key:
        with ctx.store() as store:
            scope = client_scope(ctx, store, who)
        if scope is None or not scope.show_cost:
            raise HTTPException(403, BILLED_ONLY)
    return who


def staff(who: Annotated[Viewer, Depends(viewer)]) -> Viewer:
    """Admin and read-only viewers: everything. A client link sees only its own summary, budgets and invoices."""
    if who.scoped:
        raise HTTPException(403, "this token is limited to one client's summary, budgets and invoices")
    return who


@dataclass
class FilterArgs:
    tag: list[str]
    dims: dict[str, list[str]]
    project: list[str]
    since: str | None
    until: str | None
    period: str | None
    range: str | None
    tz: str | None

    def has_time(self) -> bool:
        return bool(self.since or self.until or self.period or self.range)

    def selection(self, ctx: Context, who: Viewer, *, default_range: str | None = None,
                  now: datetime | None = None) -> Selection:
        named = [self.range] if self.range else ([default_range] if default_range and not self.has_time() else [])
        return select(ctx.tz, tags=self.tag, dims=dict(self.dims), project=self.project, since=self.since,
                      until=self.until, period=self.period, named=named, tz_name=self.tz,
                      extra_tags=who.selectors(), now=now or ctx.now())


Many = Annotated[list[str], Query()]


def filter_args(
    tag: Annotated[list[str], Query(description="Tag condition: client=acme, client!=acme, env, !env. Repeatable.")] = [],  # noqa: B006,E501
    agent: Many = [],  # noqa: B006
    model: Many = [],  # noqa: B006
    provider: Many = [],  # noqa: B006
    project: Annotated[list[str], Query(description="A project path and everything under it.")] = [],  # noqa: B006
    session: Many = [],  # noqa: B006
    source: Many = [],  # noqa: B006
    since: Annotated[str | None, Query(description="Start (inclusive): 2026-03-01 or an exact time.")] = None,
    until: Annotated[str | None, Query(description="End (exclusive).")] = None,
    period: Annotated[str | None, Query(description="2026-03, 2026-03-14, 2026-W11 or 2026.")] = None,
    range: Annotated[str | None, Query(max_length=40,
                                       description="A named period: " + ", ".join(NAMED_PERIODS))] = None,
    tz: Annotated[str | None, Query(description="IANA time zone for periods and labels.")] = None,
) -> FilterArgs:
    def kept(values: list[str]) -> list[str]:
        return [v for v in values if v.strip()]

    since, until, period, tz = (v if v and v.strip() else None for v in (since, until, period, tz))
    named = range.strip() if range and range.strip() and not (since or until or period) else None
    return FilterArgs(kept(tag), {"agent": kept(agent), "model": kept(model), "provider": kept(provider),
                                  "session": kept(session), "source": kept(source)},
                      kept(project), since, until, period, named, tz)


Filtering = Annotated[FilterArgs, Depends(filter_args)]
Page = Annotated[int, Query(ge=1, le=1_000_000)]
PerPage = Annotated[int, Query(ge=1, le=500)]
CostBound = Annotated[str | None, Query(description="USD, inclusive: 0.50", max_length=40)]


def usd_bound(text: str | None) -> int | None:
    if text is None or not text.strip():
        return None
    try:
        return parse_usd(text)
    except MoneyError as exc:
        raise QueryError(f"cost bound: {exc}") from None


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A filter or parameter is wrong; `detail` says what and how to fix it."},
    401: {"description": "A valid token is required (Authorization: Bearer TOKEN)."},
    403: {"description": "This token may not see this (a client link sees only its own data)."},
    404: {"description": "No such event, session or invoice."},
}
router = APIRouter(prefix="/api/v1", responses=ERRORS)


def answers(shape: Any) -> dict[str, Any]:
    """A route's 200 answer as the OpenAPI document shows it (:mod:`.schemas`). The views' dicts are
    returned as they are, not copied through the models: the tests check them against these shapes."""
    return {"response_model": None, "responses": {200: {"model": shape, "description": "Success"}}}


@router.get("/me", summary="Who the token belongs to and what it may see", **answers(schemas.Me))
def me(who: Annotated[Viewer, Depends(viewer)]) -> dict[str, Any]:
    return {"role": who.role, "name": who.name,
            "scope": None if who.scope is None else {"key": who.scope[0], "value": who.scope[1]}}


@router.get("/overview", summary="The overview page: this period vs last, forecast, chart, breakdowns",
            **answers(schemas.Overview))
def overview(request: Request, who: Annotated[Viewer, Depends(staff)], f: Filtering,
             stack: Annotated[str | None, Query(max_length=200, description="Tag key (or dimension) the chart stacks by.")] = None,  # noqa: E501
             ) -> dict[str, Any]:
    ctx = context(request)
    now = ctx.now()
    sel = f.selection(ctx, who, default_range="this-month", now=now)
    with ctx.store() as store:
        views.check_names(store, sel, by=[breakdown.group_key(stack)] if stack else [], client_key=ctx.client_key)
        data = views.overview(store, sel, ctx.budgets(store), stack=stack or ctx.client_key, now=now,
                              parallel=ctx.parallel, clients=ctx.clients())
        _require(views.nothing_found(store, sel, data["total"]["requests"]))
        return data


def _require(nothing: Exception | None) -> None:
    """Filters that match no call answer 404 with why (and the nearest call), never a 200 of $0."""
    if nothing is not None:
        raise nothing


@router.get("/report", summary="Grouped totals, as `spendtag report --by ... --format json`", **answers(schemas.Report))
def report(request: Request, who: Annotated[Viewer, Depends(cost_viewer)], f: Filtering,
           by: Annotated[str, Query(max_length=200, description="One or two keys: client or client,model.")] = "client",
           order: Literal["cost", "time"] = "cost",
           limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
           exact_models: Annotated[bool, Query(description="Keep every model id apart (dated ids too).")] = False,
           ) -> dict[str, Any]:
    ctx = context(request)
    sel = f.selection(ctx, who)
    words = breakdown.parse_by(by)
    with ctx.store() as store:
        views.check_names(store, sel, by=[breakdown.group_key(w) for w in words], scoped=who.scoped,
                          client_key=ctx.client_key)
        result = breakdown.build(store, words, sel.filters, sel.tz, order=order, limit=limit, exact_models=exact_models)
        _require(views.nothing_found(store, sel, result.total.requests, private=who.scoped))
        return breakdown.to_dict(result)


@router.get("/summary", summary="One client's own summary (what a client link shows)", **answers(schemas.Summary))
def summary(request: Request, who: Annotated[Viewer, Depends(cost_viewer)], f: Filtering,
            key: Annotated[str | None, Query(max_length=200)] = None,
            value: Annotated[str | None, Query(max_length=500)] = None) -> dict[str, Any]:
    ctx = context(request)
    if who.scope is not None:
        key, value = who.scope
    elif not key or value is None:
        key, value = key or ctx.client_key, value
        if value is None:
            raise HTTPException(400, "give value= (and key=, default the client key) for a summary")
    now = ctx.now()
    sel = f.selection(ctx, who, default_range="this-month", now=now)
    with ctx.store() as store:
        scoped = views.with_tag(sel, key, value)
        views.check_names(store, scoped, scoped=who.scoped)
        data = views.tag_value(store, sel, key, value, ctx.budgets(store), now=now, client_key=ctx.client_key,
                               parallel=ctx.parallel,
                               with_calls=not who.scoped)
        _require(views.nothing_found(store, scoped, data["total"]["requests"], private=who.scoped))
        return data


def client_data(ctx: Context, store: Store, scope: ClientScope, f: FilterArgs, *, now: datetime,
                private: bool) -> tuple[dict[str, Any], Selection]:
    """One client's view (see :mod:`.client_view`) for the period ``f`` names; its other filters are not used:
    a billed amount is the whole period's. Periods are counted in the zone invoices are."""
    tz = ctx.billing_zone(scope.billing)
    named = [f.range] if f.range else ([] if f.has_time() else ["this-month"])
    sel = select(tz, since=f.since, until=f.until, period=f.period, named=named, tz_name=f.tz, now=now,
                 extra_tags=(Selector(ctx.client_key, "eq", scope.client),))
    cost = None
    if scope.show_cost:
        cost = views.tag_value(store, sel, ctx.client_key, scope.client, ctx.budgets(store), now=now,
                               client_key=ctx.client_key, parallel=ctx.parallel, with_calls=not private)
    data = client_view.client_view(store, sel, scope.client, key=ctx.client_key, billing=scope.billing,
                                   budgets=ctx.budgets(store), now=now, show_cost=scope.show_cost, cost=cost)
    return data, sel


@router.get("/client", summary="One client's period as billed (what a client link shows): the invoice draft's "
                               "amounts in the client's currency, usage, budgets as percent, invoices",
            **answers(schemas.ClientView))
def client(request: Request, who: Annotated[Viewer, Depends(viewer)], f: Filtering,
           value: Annotated[str | None, Query(max_length=500, description="The client (staff only; a client "
                                                                          "token sees its own).")] = None,
           ) -> dict[str, Any]:
    ctx = context(request)
    now = ctx.now()
    with ctx.store() as store:
        if who.scope is not None:
            scope = client_scope(ctx, store, who)
            if scope is None:
                raise HTTPException(403, "this token's scope is not a client, so nothing of it is billed")
        else:
            if not value:
                raise HTTPException(400, "give value= (a client) for its billed view")
            billing = ctx.billing(store)
            scope = ClientScope(value, billing, billing is not None and billing.shows_cost(value))
        data, sel = client_data(ctx, store, scope, f, now=now, private=who.scoped)
        if not who.scoped:
            views.check_names(store, sel)
        if data["billed"] is None or data["billed"]["total"] in ("0.00", "0"):
            _require(views.nothing_found(store, sel, data["usage"]["requests"], private=who.scoped))
        return data


@router.get("/tags", summary="Tag keys used by the selected events", **answers(list[str]))
def tag_keys(request: Request, who: Annotated[Viewer, Depends(staff)], f: Filtering) -> list[str]:
    ctx = context(request)
    sel = f.selection(ctx, who)
    with ctx.store() as store:
        views.check_names(store, sel)
        return store.tag_keys(sel.filters)


@router.get("/tags/{key}", summary="Every value of one tag key, with its totals", **answers(list[schemas.Row]))
def tag_values(request: Request, key: str, who: Annotated[Viewer, Depends(staff)],
               f: Filtering) -> list[dict[str, Any]]:
    ctx = context(request)
    sel = f.selection(ctx, who)
    with ctx.store() as store:
        views.check_names(store, sel, by=[breakdown.group_key(key)], client_key=ctx.client_key)
        return views.tag_values(store, sel, key)


@router.get("/events", summary="Events, sorted and paginated on the server", **answers(schemas.EventsPage))
def events(request: Request, who: Annotated[Viewer, Depends(staff)], f: Filtering,
           order: Literal[EVENT_ORDERS] = "-ts", page: Page = 1, per_page: PerPage = 50,  # type: ignore[valid-type]
           min_cost: CostBound = None, max_cost: CostBound = None) -> dict[str, Any]:
    ctx = context(request)
    sel = f.selection(ctx, who)
    with ctx.store() as store:
        views.check_names(store, sel)
        return views.events_table(store, sel, order=order, page=page, per_page=per_page,
                                  min_cost=usd_bound(min_cost), max_cost=usd_bound(max_cost), parallel=ctx.parallel)


@router.get("/events/{event_id}", summary="One event with its price, and its earlier costs (reprice revisions)",
            **answers(schemas.EventDetail))
def event(request: Request, event_id: str, who: Annotated[Viewer, Depends(staff)]) -> dict[str, Any]:
    with context(request).store() as store:
        found = repricing.history(store, event_id)
    if found is None:
        raise HTTPException(404, f"no event {event_id!r}")
    return views.event_detail(found)


@router.get("/sessions", summary="Sessions, sorted and paginated on the server", **answers(schemas.SessionsPage))
def sessions(request: Request, who: Annotated[Viewer, Depends(staff)], f: Filtering,
             sort: Literal["recent", "cost"] = "recent", page: Page = 1, per_page: PerPage = 50,
             min_cost: CostBound = None, max_cost: CostBound = None) -> dict[str, Any]:
    ctx = context(request)
    sel = f.selection(ctx, who)
    with ctx.store() as store:
        views.check_names(store, sel)
        return views.sessions_table(store, sel, sort=sort, page=page, per_page=per_page,
                                    min_cost=usd_bound(min_cost), max_cost=usd_bound(max_cost),
                                    titles=ctx.settings["session_titles"] == "on")


@router.get("/sessions/{session_id}", summary="One session: totals, models and its calls",
            **answers(schemas.SessionDetail))
def session(request: Request, session_id: str, who: Annotated[Viewer, Depends(staff)]) -> dict[str, Any]:
    ctx = context(request)
    with ctx.store() as store:
        found = views.session_detail(store, session_id, titles=ctx.settings["session_titles"] == "on")
    if found is None:
        raise HTTPException(404, f"no session {session_id!r}")
    return found


@router.get("/budgets", summary="Every budget's spend, projection and state (a client: its own)",
            **answers(list[schemas.BudgetState]))
def budgets(request: Request, who: Annotated[Viewer, Depends(cost_viewer)]) -> list[dict[str, Any]]:
    ctx = context(request)
    with ctx.store() as store:
        chosen = ctx.budgets(store)
        if who.scope is not None:
            chosen = views.scoped_budgets(chosen, *who.scope)
        return views.budgets_list(store, chosen, ctx.now(), ctx.tz)


@router.get("/recommendations",
            summary="Cheaper models and prompt caching, with the saving (as `spendtag recommend --format json`)",
            **answers(schemas.Recommendations))
def recommendations(request: Request, who: Annotated[Viewer, Depends(staff)], f: Filtering) -> dict[str, Any]:
    ctx = context(request)
    sel = f.selection(ctx, who, default_range=RECOMMEND_RANGE)
    with ctx.store() as store:
        return views.recommendations(store, ctx.pricer(store), sel)


@router.get("/alerts", summary="Alert history, newest first", **answers(list[schemas.Alert]))
def alerts(request: Request, who: Annotated[Viewer, Depends(staff)],
           limit: Annotated[int, Query(ge=1, le=10_000)] = 200) -> list[dict[str, Any]]:
    with context(request).store() as store:
        return views.alerts_list(store, limit=limit)


def _own_client(ctx: Context, who: Viewer) -> str | None:
    """A client viewer's invoice client, or None for staff; 403 for a link scoped to another key."""
    if who.scope is None:
        return None
    if who.scope[0] != ctx.client_key:
        raise HTTPException(403, "this token's scope is not a client, so it has no invoices")
    return who.scope[1]


@router.get("/invoices", summary="Issued invoices (a client: its own)", **answers(list[schemas.InvoiceEntry]))
def invoices(request: Request, who: Annotated[Viewer, Depends(viewer)],
             client: Annotated[str | None, Query(max_length=500)] = None) -> list[dict[str, Any]]:
    ctx = context(request)
    own = _own_client(ctx, who)
    with ctx.store() as store:
        return [views.invoice_dict(i) for i in store.issued_invoices(own if own is not None else client)]


@router.get("/invoices/{number}", summary="One issued invoice, as issued", **answers(schemas.InvoiceDetail))
def invoice(request: Request, number: str, who: Annotated[Viewer, Depends(viewer)]) -> dict[str, Any]:
    import json

    ctx = context(request)
    own = _own_client(ctx, who)
    with ctx.store() as store:
        found = store.issued_invoice(number)
    if found is None or (own is not None and found.client != own):
        raise HTTPException(404, f"no invoice {number!r}")
    document = json.loads(found.document)
    if own is not None:
        with ctx.store() as store:
            scope = client_scope(ctx, store, who)
        if scope is None or not scope.show_cost:
            document = client_document(found.document)
    return {**views.invoice_dict(found), "document": document}


def client_document(stored: str) -> dict[str, Any]:
    """What the client was sent, without the agency's appendix (costs, markup, prices, events)."""
    from dataclasses import replace as replaced

    from spendtag.bill import document
    from spendtag.bill.model import from_json, to_dict

    inv = from_json(stored)
    whole = to_dict(replaced(inv, document=document.of(inv)))
    sent = whole["client_document"]
    if sent.get("exchange"):
        sent["exchange"] = {k: v for k, v in sent["exchange"].items() if k != "source"}
    return {"number": whole["number"], "issued_on": whole["issued_on"], "client": whole["client"],
            "period": whole["period"], "client_document": sent}


@router.get("/keys", summary="Proxy virtual keys (never their secrets)", **answers(list[schemas.Key]))
def keys(request: Request, who: Annotated[Viewer, Depends(staff)]) -> list[dict[str, Any]]:
    with context(request).store() as store:
        return views.keys_list(store)


@router.get("/export", summary="The selected events as a file: exactly what the filters show",
            response_class=StreamingResponse, responses={200: {"content": {
                "text/csv": {"schema": {"type": "string", "description": "One row per event; columns as in JSON."}},
                "application/json": {"schema": {"type": "array", "items": schemas.export_row()}},
                "application/x-ndjson": {"schema": {"type": "string", "description": "One JSON object per line, "
                                                                                      "as the items of JSON."}}}}})
def export(request: Request, who: Annotated[Viewer, Depends(staff)], f: Filtering,
           format: Literal["csv", "json", "jsonl"] = "csv",
           min_cost: CostBound = None, max_cost: CostBound = None) -> StreamingResponse:
    ctx = context(request)
    sel = f.selection(ctx, who)
    lo, hi = usd_bound(min_cost), usd_bound(max_cost)
    if matching.filtered(sel.filters) or sel.range.since or sel.range.until:
        with ctx.store() as store:   # before the file starts: a file of no rows would bill $0.00
            matching.require_calls(store, sel.filters, sel.range, sel.tz)
    media = {"csv": "text/csv; charset=utf-8", "json": "application/json",
             "jsonl": "application/x-ndjson"}[format]

    def body() -> Iterator[str]:
        # A connection of its own: the response may outlive the request that started it.
        store = open_store(ctx.store_url)
        try:
            yield from exports.chunks(store, sel.filters, format, min_cost=lo, max_cost=hi)
        finally:
            store.close()

    rng = sel.range
    name = "spendtag-events" + "".join(f"-{d.astimezone(sel.tz):%Y%m%d}" for d in (rng.since, rng.until) if d)
    return StreamingResponse(body(), media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="{name}.{format}"'})
