"""The dashboard's pages: server-rendered HTML from the same data the API returns.

Filters live in the URL (plain GET forms), so a view can be bookmarked and shared. No
build step and no JavaScript framework: charts are inline SVG from :mod:`.charts`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from spendtag.bill import repricing
from spendtag.bill.model import money, usd
from spendtag.ledger.store import EVENT_ORDERS
from spendtag.money import parse_usd, per_million, screen
from spendtag.periods import duration_text
from spendtag.report import breakdown
from spendtag.report.selection import NAMED_PERIODS
from spendtag.server.dashboard import apidocs, charts, csrf, links, views
from spendtag.server.dashboard.access import Gate, Viewer
from spendtag.server.dashboard.api import (
    TOKEN_COOKIE,
    Filtering,
    client_data,
    client_scope,
    context,
    request_token,
    usd_bound,
    viewer,
)
from spendtag.server.dashboard.context import Context
from spendtag.server.dashboard.flash import COOKIE as FLASH_COOKIE

DEFAULT_RANGE = "this-month"


def _usd(value: str | None) -> str:
    """An amount on screen by the one rule (``money.screen``): whole cents, ``<$0.01`` below a cent."""
    return "—" if value is None else screen(parse_usd(value))


def _exact_usd(value: str | None) -> str:
    """An exact amount as people write it, every significant digit kept: $1,234.50, $0.0045."""
    return "—" if value is None else usd(Decimal(value))


def _rates(rates: dict[str, str]) -> str:
    """A price's rates per million tokens (per thousand requests): ``$3.00 / M input · $15.00 / M output``."""
    return " · ".join(per_million(rate, bucket) for bucket, rate in rates.items())


def _num(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _local(value: str | None, tz: Any = None) -> str:
    if not value:
        return ""
    ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return ts.astimezone(tz).strftime("%Y-%m-%d %H:%M") if tz else ts.strftime("%Y-%m-%d %H:%M UTC")


def _cost(row: dict[str, Any] | None) -> Markup:
    """A row's cost; unpriced calls are said, with their count, never shown as $0."""
    if row is None:
        return Markup("—")
    unpriced, requests = row.get("unpriced_requests", 0), row.get("requests", 0)
    if requests and unpriced >= requests:
        return Markup(f'<span class="warn" title="calls with no price: their cost is unknown, not $0">— ({unpriced:,} '
                      'unpriced)</span>')
    shown = Markup.escape(_usd(row["cost_usd"]))
    if unpriced:
        return shown + Markup(f' <span class="warn" title="calls with no price, not in this total">+ {unpriced:,} '
                              'unpriced</span>')
    return shown


def _share(row: dict[str, Any]) -> str:
    """A row's share of the spend; none for a row whose every call is unpriced (its cost is unknown)."""
    unpriced, requests = row.get("unpriced_requests", 0), row.get("requests", 0)
    return "—" if requests and unpriced >= requests else f"{row['share_percent']}%"


env = Environment(loader=PackageLoader("spendtag.server.dashboard", "templates"),
                  autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
env.filters.update(billed=lambda amount, currency: money(Decimal(amount), currency))
env.filters.update(usd=_usd, exact_usd=_exact_usd, num=_num, local=_local, rates=_rates,
                   duration=lambda s: "—" if s is None else duration_text(s),
                   pct=lambda v: "—" if v is None else f"{v}%",
                   tokens=lambda t: f"{sum(t.values()):,}", json=lambda v: json.dumps(v, indent=2))
env.globals.update(named_periods=NAMED_PERIODS, event_orders=EVENT_ORDERS, cost=_cost, share=_share,
                   stacked_bars=lambda c, a=(), link=None: Markup(charts.stacked_bars(c, a, link)),
                   count_bars=lambda c, measure="tokens": Markup(charts.count_bars(c, measure)),
                   count_legend=lambda c, measure="tokens": Markup(charts.count_legend(c, measure)),
                   legend=lambda c, link=None: Markup(charts.legend(c, link)),
                   change_text=lambda c: _change_text(c), bucket_span=links.bucket,
                   pairs=lambda key, values: [(key, v) for v in values],
                   progress=lambda b: Markup(charts.progress(b["percent"], b["thresholds"], b["limit_usd"])),
                   csrf_field=csrf.field, can_act=lambda request: can_act(request))


def _change_text(c: dict[str, Any] | None) -> Markup:
    """A comparison in words and colour: a percentage only on a base worth one (see views.change)."""
    if c is None:
        return Markup("")
    delta = Decimal(c["delta_usd"])
    arrow, css = ("▲", "up") if delta > 0 else ("▼", "down") if delta < 0 else ("", "same")
    amount = screen(abs(parse_usd(c["delta_usd"])))
    if c["kind"] == "none":
        return Markup('<span class="change same">—</span>')
    if c["kind"] == "new":
        return Markup(f'<span class="change up">new</span> <span class="small">(+{amount})</span>')
    if c["kind"] == "percent":
        text = f'{arrow} {"+" if delta > 0 else "−" if delta < 0 else ""}{c["percent"].lstrip("-")}%'
    else:
        text = f'{arrow} {"+" if delta > 0 else "−" if delta < 0 else "±"}{amount}'
    return Markup('<span class="change {}" title="{} {}">{}</span>').format(
        css, "more than" if delta > 0 else "less than" if delta < 0 else "same as", "the period before", text)


def _chart_link(query: list[tuple[str, str]], stack: str, chart: dict[str, Any],
                adds: Sequence[tuple[str, str]] = ()) -> charts.Link:
    def link(name: str, label: str | None) -> str | None:
        cond = links.series(stack, name, chart)
        span = links.bucket(chart["group"], label) if label is not None else None
        if cond is None or (label is not None and span is None):
            return None
        return links.calls(query, [*adds, *cond], span)
    return link


def render(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    ctx: Context = request.app.state.context
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    flash = request.app.state.flashes.take(request)      # the message a change left for this page
    html = env.get_template(template).render(
        request=request, tz=ctx.tz, client_key=ctx.client_key, query=query,
        qs=lambda **kw: with_query(query, **kw), flash=flash,
        calls=lambda adds=(), span=None: links.calls(query, adds, span),
        chart_link=lambda stack, chart, adds=(): _chart_link(query, stack, chart, adds), **values)
    response = HTMLResponse(html, status_code=status)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def can_act(request: Request) -> bool:
    """Whether this viewer may change things (the admin token, or an open loopback dashboard)."""
    who = getattr(request.state, "viewer", None)
    return who is not None and who.role == "admin"


def with_query(query: list[tuple[str, str]], **changes: Any) -> str:
    """The current query string with some parameters replaced (None removes one)."""
    kept = [(k, v) for k, v in query if k not in changes]
    for k, v in changes.items():
        if v is None:
            continue
        kept.extend((k, x) for x in v) if isinstance(v, list | tuple) else kept.append((k, str(v)))
    return "?" + urlencode(kept) if kept else ""


def page_viewer(request: Request) -> Viewer:
    try:
        who = viewer(request)
    except HTTPException as exc:
        raise PageError(exc.status_code, "Sign in", "This dashboard needs a token.") from None
    if who.scoped:
        raise PageError(403, "Not for this link", "This link shows one client's own page only.")
    return who


class PageError(Exception):
    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


Staff = Annotated[Viewer, Depends(page_viewer)]
router = APIRouter(include_in_schema=False)


def _range_args(f: Any) -> Any:
    """Pages default to this month; the effective range goes into every link they make."""
    if not f.has_time():
        f.range = DEFAULT_RANGE
    return f


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, who: Staff, f: Filtering,
             stack: Annotated[str | None, Query(max_length=200)] = None) -> HTMLResponse:
    ctx = context(request)
    now = ctx.now()
    f = _range_args(f)
    sel = f.selection(ctx, who, now=now)
    with ctx.store() as store:
        views.check_names(store, sel, by=[breakdown.group_key(stack)] if stack else [], client_key=ctx.client_key)
        data = views.overview(store, sel, ctx.budgets(store), stack=stack or ctx.client_key, now=now,
                              parallel=ctx.parallel, clients=ctx.clients())
        keys = store.tag_keys(sel.filters)
        notice = views.nothing_found(store, sel, data["total"]["requests"])
    return render(request, "overview.html", data=data, tag_keys=keys, f=f, page="overview", notice=notice,
                  api=f"/api/v1/overview{with_query(_query(request, f), stack=stack)}")


def _query(request: Request, f: Any) -> list[tuple[str, str]]:
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("token", "range")]
    if f.range:
        query.append(("range", f.range))
    return query


@router.get("/tags/{key}", response_class=HTMLResponse)
def tag_list(request: Request, key: str, who: Staff, f: Filtering) -> HTMLResponse:
    ctx = context(request)
    f = _range_args(f)
    sel = f.selection(ctx, who)
    with ctx.store() as store:
        views.check_names(store, sel, by=[breakdown.group_key(key)], client_key=ctx.client_key)
        rows = views.tag_values(store, sel, key)
    return render(request, "tags.html", key=key, rows=rows, period=views.range_dict(sel.range, sel.tz), f=f,
                  page="tags", api=f"/api/v1/tags/{key}{with_query(_query(request, f))}")


@router.get("/tags/{key}/{value}", response_class=HTMLResponse)
def tag_page(request: Request, key: str, value: str, who: Staff, f: Filtering) -> HTMLResponse:
    ctx = context(request)
    now = ctx.now()
    f = _range_args(f)
    sel = f.selection(ctx, who, now=now)
    with ctx.store() as store:
        scoped = views.with_tag(sel, key, value)
        views.check_names(store, scoped)
        data = views.tag_value(store, sel, key, value, ctx.budgets(store), now=now, client_key=ctx.client_key,
                               parallel=ctx.parallel)
        notice = views.nothing_found(store, scoped, data["total"]["requests"])
    query = _query(request, f)
    return render(request, "tag.html", data=data, f=f, page="tags", notice=notice,
                  api=f"/api/v1/summary{with_query(query, key=key, value=value)}",
                  export=with_query([*query, ("tag", f"{key}={value}")]))


@router.get("/events", response_class=HTMLResponse)
def events(request: Request, who: Staff, f: Filtering, order: str = "-ts",
           page: Annotated[int, Query(ge=1)] = 1, per_page: Annotated[int, Query(ge=1, le=500)] = 50,
           min_cost: str | None = None, max_cost: str | None = None) -> HTMLResponse:
    ctx = context(request)
    f = _range_args(f)
    sel = f.selection(ctx, who)
    with ctx.store() as store:
        views.check_names(store, sel)
        data = views.events_table(store, sel, order=order, page=page, per_page=per_page,
                                  min_cost=usd_bound(min_cost), max_cost=usd_bound(max_cost), parallel=ctx.parallel)
        notice = None if min_cost or max_cost else views.nothing_found(store, sel, data["total"])
    query = _query(request, f)
    return render(request, "events.html", data=data, f=f, page="events", notice=notice, min_cost=min_cost or "",
                  max_cost=max_cost or "", api=f"/api/v1/events{with_query(query)}",
                  export=with_query([(k, v) for k, v in query if k not in ("page", "per_page", "order")]))


@router.get("/events/{event_id}", response_class=HTMLResponse)
def event(request: Request, event_id: str, who: Staff) -> HTMLResponse:
    with context(request).store() as store:
        found = repricing.history(store, event_id)
    if found is None:
        raise PageError(404, "Not found", f"No event {event_id!r}.")
    return render(request, "event.html", e=views.event_detail(found), page="events")


@router.get("/sessions", response_class=HTMLResponse)
def sessions(request: Request, who: Staff, f: Filtering, sort: str = "recent",
             page: Annotated[int, Query(ge=1)] = 1, per_page: Annotated[int, Query(ge=1, le=500)] = 50,
             min_cost: str | None = None, max_cost: str | None = None) -> HTMLResponse:
    ctx = context(request)
    f = _range_args(f)
    sel = f.selection(ctx, who)
    with ctx.store() as store:
        views.check_names(store, sel)
        data = views.sessions_table(store, sel, sort="cost" if sort == "cost" else "recent", page=page,
                                    per_page=per_page, min_cost=usd_bound(min_cost), max_cost=usd_bound(max_cost),
                                    titles=ctx.settings["session_titles"] == "on")
        notice = None if min_cost or max_cost else views.nothing_found(store, sel, data["total"])
    return render(request, "sessions.html", data=data, f=f, page="sessions", notice=notice,
                  min_cost=min_cost or "",
                  max_cost=max_cost or "", api=f"/api/v1/sessions{with_query(_query(request, f))}")


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
def session(request: Request, session_id: str, who: Staff) -> HTMLResponse:
    ctx = context(request)
    with ctx.store() as store:
        found = views.session_detail(store, session_id, titles=ctx.settings["session_titles"] == "on")
    if found is None:
        raise PageError(404, "Not found", f"No session {session_id!r}.")
    return render(request, "session.html", s=found, page="sessions")


@router.get("/budgets", response_class=HTMLResponse)
def budgets(request: Request, who: Staff) -> HTMLResponse:
    ctx = context(request)
    with ctx.store() as store:
        rows = views.budgets_list(store, ctx.budgets(store), ctx.now(), ctx.tz)
        history = views.alerts_list(store, limit=100)
    return render(request, "budgets.html", budgets=rows, alerts=history, page="budgets")


@router.get("/recommendations", response_class=HTMLResponse)
def recommendations(request: Request, who: Staff, f: Filtering) -> HTMLResponse:
    ctx = context(request)
    f = _range_args(f)
    sel = f.selection(ctx, who)
    with ctx.store() as store:
        data = views.recommendations(store, ctx.pricer(store), sel)
    return render(request, "recommendations.html", data=data, period=views.range_dict(sel.range, sel.tz), f=f,
                  page="recommendations", api=f"/api/v1/recommendations{with_query(_query(request, f))}")


@router.get("/alerts", response_class=HTMLResponse)
def alerts(request: Request, who: Staff) -> HTMLResponse:
    with context(request).store() as store:
        history = views.alerts_list(store, limit=1000)
    return render(request, "alerts.html", alerts=history, page="budgets")


@router.get("/invoices", response_class=HTMLResponse)
def invoices(request: Request, who: Staff) -> HTMLResponse:
    with context(request).store() as store:
        rows = [views.invoice_dict(i) for i in store.issued_invoices()]
    return render(request, "invoices.html", invoices=rows, page="invoices")


@router.get("/invoices/{number}", response_class=HTMLResponse)
def invoice(request: Request, number: str, who: Staff) -> HTMLResponse:
    return _invoice_html(request, number, None)


def _invoice_html(request: Request, number: str, client: str | None) -> HTMLResponse:
    from spendtag.bill.model import from_json
    from spendtag.bill.render import as_html

    with context(request).store() as store:
        found = store.issued_invoice(number)
    if found is None or (client is not None and found.client != client):
        raise PageError(404, "Not found", f"No invoice {number!r}.")
    return HTMLResponse(as_html(from_json(found.document)))


@router.get("/keys", response_class=HTMLResponse)
def keys(request: Request, who: Staff) -> HTMLResponse:
    with context(request).store() as store:
        rows = views.keys_list(store)
    return render(request, "keys.html", keys=rows, page="keys")


# -- a client's shared link -------------------------------------------------------------------

def _share_viewer(request: Request, token: str) -> Viewer:
    ctx = context(request)
    gate: Gate = request.app.state.gate
    with ctx.store() as store:
        who = gate.viewer(token, store)
    if who is None or who.scope is None:
        raise PageError(404, "Link not valid", "This link is not valid (it may have been revoked).")
    return who


@router.get("/share/{token}", response_class=HTMLResponse)
def share(request: Request, token: str, f: Filtering) -> HTMLResponse:
    who = _share_viewer(request, token)
    assert who.scope is not None
    ctx = context(request)
    now = ctx.now()
    f = _range_args(f)
    with ctx.store() as store:
        scope = client_scope(ctx, store, who)
        if scope is not None:       # a client: amounts as billed (and the cost only if the agency shows it)
            view, scoped = client_data(ctx, store, scope, f, now=now, private=True)
            notice = views.nothing_found(store, scoped, view["usage"]["requests"], private=True)
            return render(request, "share.html", view=view, data=view["cost"], f=f, token=token, who=who,
                          notice=notice)
    sel = f.selection(ctx, who, now=now)
    with ctx.store() as store:
        data = views.tag_value(store, sel, *who.scope, ctx.budgets(store), now=now, client_key=ctx.client_key,
                               parallel=ctx.parallel,
                               with_calls=False)
        # A period with no calls is said (and when the last one was), in words that name no other client.
        notice = views.nothing_found(store, views.with_tag(sel, *who.scope), data["total"]["requests"],
                                     private=True)
    return render(request, "share.html", data=data, f=f, token=token, who=who, notice=notice)


@router.get("/share/{token}/invoices/{number}", response_class=HTMLResponse)
def share_invoice(request: Request, token: str, number: str) -> HTMLResponse:
    who = _share_viewer(request, token)
    assert who.scope is not None
    if who.scope[0] != context(request).client_key:
        raise PageError(404, "Not found", f"No invoice {number!r}.")
    return _invoice_html(request, number, who.scope[1])


# -- the API's own documentation ---------------------------------------------------------------

@router.get("/api/v1/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """The OpenAPI document, readable, with no script and nothing from elsewhere (as openapi.json, open)."""
    doc = request.app.openapi()
    return render(request, "apidocs.html", doc=doc, ops=apidocs.operations(doc), openapi_url=request.app.openapi_url)


# -- signing in --------------------------------------------------------------------------------

@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", next=_local_path(next), failed=False)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """The sign-in form posts the token (never in a URL); a valid one is kept in an HttpOnly cookie."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0].strip()
    target = _local_path((form.get("next") or ["/"])[0])
    ctx = context(request)
    gate: Gate = request.app.state.gate
    with ctx.store() as store:
        who = gate.viewer(token, store) if token else None
    if who is None:
        return render(request, "login.html", status=401, next=target, failed=True)
    if who.scope is not None:
        return RedirectResponse(f"/share/{token}", status_code=303)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


def _local_path(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def error_page(request: Request, exc: PageError) -> HTMLResponse:
    if exc.status == 401 or (exc.status == 403 and request_token(request) is None):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return render(request, "login.html", status=401, next=target, failed=False)
    return render(request, "error.html", status=exc.status, title=exc.title, message=exc.message)

