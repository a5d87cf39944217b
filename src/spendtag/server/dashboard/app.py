"""The dashboard's ASGI app, and ``Combined``: dashboard, OTLP intake and proxy on one port."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Awaitable, Callable
from datetime import datetime
from importlib.resources import files
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import HTTPException
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from spendtag.errors import SpendtagError
from spendtag.report.matching import NoMatch
from spendtag.server.asgi import INPUT_ERRORS, Lifecycle, Receive, Scope, Send, lifespan
from spendtag.server.dashboard import actions, api, forms, pages
from spendtag.server.dashboard.access import Gate, is_loopback
from spendtag.server.dashboard.context import Context
from spendtag.server.dashboard.csrf import Csrf
from spendtag.server.dashboard.flash import Flashes
from spendtag.server.sites import Sites, serve_section
from spendtag.settings import Settings

# Pages run no inline script and load nothing from elsewhere; inline styles only set bar widths.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def create_app(store_url: str, settings: Settings, *, token: str | None = None, host: str = "127.0.0.1",
               pool_size: int = 4, sites: Sites | None = None, clock: Callable[[], datetime] | None = None) -> FastAPI:
    """The dashboard and ``/api/v1`` over the ledger at ``store_url``.

    Open without a token only when bound to loopback and no admin ``token`` is given. Answers
    only the Host names of ``sites`` (by default: loopback, ``host`` and ``[serve] allowed_hosts``).
    """
    app = FastAPI(title="spendtag", version="1", summary="What every LLM call cost, and whom to bill for it.",
                  openapi_url="/api/v1/openapi.json", docs_url=None, redoc_url=None)
    app.state.context = Context(store_url, settings, pool_size=pool_size, clock=clock)
    app.state.gate = Gate(token, open_without_token=is_loopback(host))
    if sites is None:
        sites = Sites(host, serve_section(settings.sections.get("serve"), str(settings.config_path)))
    app.state.sites = sites
    app.state.csrf = Csrf()
    app.state.flashes = Flashes()
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(actions.router)
    app.mount("/static", StaticFiles(directory=str(files("spendtag.server.dashboard") / "static")), name="static")

    @app.exception_handler(NoMatch)
    async def no_match(request: Request, exc: NoMatch) -> Response:
        # A name no call carries is a bad request (with the close matches); a period with no calls is not found.
        status = 400 if exc.kind == "unknown" else 404
        if request.url.path.startswith("/api/"):
            return JSONResponse(exc.as_dict(), status_code=status)
        return pages.render(request, "error.html", status=status, title="Nothing matches", message=str(exc))

    @app.exception_handler(SpendtagError)
    async def bad_input(request: Request, exc: SpendtagError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=400)
        return pages.render(request, "error.html", status=400, title="Bad filter", message=str(exc))

    @app.exception_handler(forms.Refused)
    async def csrf_refused(request: Request, exc: forms.Refused) -> Response:
        return forms.refused(request)

    @app.exception_handler(pages.PageError)
    async def page_error(request: Request, exc: pages.PageError) -> Response:
        return pages.error_page(request, exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/") or exc.status_code not in (401, 403, 404):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return pages.error_page(request, pages.PageError(exc.status_code, "Not found" if exc.status_code == 404
                                                         else "Sign in", str(exc.detail)))

    @app.exception_handler(Exception)
    async def last_resort(request: Request, exc: Exception) -> Response:
        # Whatever escaped the handlers above: logged, and answered in the API's shape, never as a
        # plain-text traceback page. What reading a request raises is the request's fault (400).
        status = 400 if isinstance(exc, INPUT_ERRORS) else 500
        if status == 400:      # a 500 goes on to the server, which logs it
            traceback.print_exception(exc, file=sys.stderr)
        message = f"{'cannot read this request' if status == 400 else 'the dashboard failed'}: {type(exc).__name__}"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": message}, status_code=status)
        return pages.render(request, "error.html", status=status,
                            title="Bad request" if status == 400 else "Server error", message=message)

    for kind in INPUT_ERRORS:      # below Exception's handler, which Starlette keeps for 500s only
        app.add_exception_handler(kind, last_resort)
    app.add_middleware(SiteCheck, sites=sites)
    app.middleware("http")(app.state.csrf.middleware)

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith("/api/") or request.url.path.startswith("/share/"):
            response.headers.setdefault("cache-control", "no-store")
        return response

    return app


class SiteCheck:
    """The Host, Origin and content-type checks (:mod:`spendtag.server.sites`) before any route runs.
    The sign-in form posts its token as a form: it carries a token, as a bearer header does; so do the
    forms under ``/manage/`` (a CSRF token)."""

    def __init__(self, app: Any, sites: Sites) -> None:
        self.app = app
        self.sites = sites

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # The dashboard's own forms carry a CSRF token (checked by each action), as good as a credential.
            credentialed = (scope["path"] == "/login" or scope["path"].startswith(ACTION_PREFIX)
                            or any(k == b"authorization" for k, _ in scope["headers"]))
            refused = self.sites.refusal(scope, credentialed=credentialed)
            if refused is not None:
                await JSONResponse({"detail": refused.message}, status_code=refused.status,
                                   headers={"cache-control": "no-store"})(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Part(Lifecycle, Protocol):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


INTAKE_PATHS = ("/v1/traces", "/v1/logs", "/v1/metrics", "/v1/events", "/healthz")
DASHBOARD_PREFIXES = ("/api/", "/static/", "/tags", "/events", "/sessions", "/budgets", "/alerts", "/invoices",
                      "/keys", "/share/", "/login", "/recommendations", "/manage", "/audit")
ACTION_PREFIX = "/manage/"


class Combined:
    """One port: the OTLP intake's paths, the dashboard's, and (optionally) the proxy for the rest."""

    def __init__(self, dashboard: FastAPI | None, intake: Part | None = None,
                 proxy: Part | None = None) -> None:
        self.dashboard = dashboard
        self.intake = intake
        self.proxy = proxy

    def route(self, path: str) -> Any:
        if self.intake is not None and path.rstrip("/") in INTAKE_PATHS:
            return self.intake
        ours = path == "/" or path.startswith(DASHBOARD_PREFIXES)
        if self.proxy is not None and (self.dashboard is None or not ours):
            return self.proxy
        return self.dashboard or self.intake or self.proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        else:
            await self.route(scope.get("path", "/"))(scope, receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        await lifespan(self, receive, send)

    async def startup(self) -> None:
        for part in (self.intake, self.proxy):
            if part is not None:
                await part.startup()

    async def shutdown(self) -> None:
        for part in (self.proxy, self.intake):
            if part is not None:
                await part.shutdown()
        if self.dashboard is not None:
            self.dashboard.state.context.close()
