"""The dashboard's ASGI app, and ``Combined``: dashboard, OTLP intake and proxy on one port."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import HTTPException
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from spendtag.errors import SpendtagError
from spendtag.report.matching import NoMatch
from spendtag.server.asgi import Lifecycle, Receive, Scope, Send, lifespan
from spendtag.server.dashboard import api, pages
from spendtag.server.dashboard.access import Gate, is_loopback
from spendtag.server.dashboard.context import Context
from spendtag.settings import Settings

# Pages run no inline script and load nothing from elsewhere; inline styles only set bar widths.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def create_app(store_url: str, settings: Settings, *, token: str | None = None, host: str = "127.0.0.1",
               pool_size: int = 4) -> FastAPI:
    """The dashboard and ``/api/v1`` over the ledger at ``store_url``.

    Open without a token only when bound to loopback and no admin ``token`` is given.
    """
    app = FastAPI(title="spendtag", version="1", summary="What every LLM call cost, and whom to bill for it.",
                  openapi_url="/api/v1/openapi.json", docs_url=None, redoc_url=None)
    app.state.context = Context(store_url, settings, pool_size=pool_size)
    app.state.gate = Gate(token, open_without_token=is_loopback(host))
    app.include_router(api.router)
    app.include_router(pages.router)
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

    @app.exception_handler(pages.PageError)
    async def page_error(request: Request, exc: pages.PageError) -> Response:
        return pages.error_page(request, exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/") or exc.status_code not in (401, 403, 404):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return pages.error_page(request, pages.PageError(exc.status_code, "Not found" if exc.status_code == 404
                                                         else "Sign in", str(exc.detail)))

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith("/api/") or request.url.path.startswith("/share/"):
            response.headers.setdefault("cache-control", "no-store")
        return response

    return app


class Part(Lifecycle, Protocol):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


INTAKE_PATHS = ("/v1/traces", "/v1/logs", "/v1/metrics", "/v1/events", "/healthz")
DASHBOARD_PREFIXES = ("/api/", "/static/", "/tags", "/events", "/sessions", "/budgets", "/alerts", "/invoices",
                      "/keys", "/share/", "/login", "/recommendations")


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
