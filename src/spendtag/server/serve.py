"""``spendtag serve``: the dashboard, the OTLP intake and (optionally) the proxy on one port."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from spendtag.errors import SpendtagError
from spendtag.ledger import location
from spendtag.server.dashboard.access import check_binding, is_loopback
from spendtag.server.sites import Sites, serve_section

if TYPE_CHECKING:
    from spendtag.cli.app import App
    from spendtag.server.dashboard.app import Combined


def build(app: App, host: str, *, token: str | None, dashboard: bool = True, intake: bool = True,
          proxy: bool = False) -> Combined:
    from spendtag.server.dashboard.app import Combined, create_app

    if not (dashboard or intake or proxy):
        raise SpendtagError("nothing to serve: keep the dashboard, the intake or --proxy")
    if intake and token is None and not is_loopback(host):
        raise SpendtagError(f"refusing to listen on {host} without a token: anyone who can reach it could write "
                            "to the ledger; pass --token (or SPENDTAG_SERVER_TOKEN), or use --host 127.0.0.1")
    if dashboard:
        check_binding(host, token, app.store)
    sites = Sites(host, serve_section(app.settings.sections.get("serve"), str(app.settings.config_path)))
    dash = create_app(app.settings.db, app.settings, token=token, host=host, sites=sites) if dashboard else None
    intake_app: Any = None
    if intake:
        from spendtag.server.intake.app import create_app as create_intake

        intake_app = create_intake(app.settings.db, token=token, pricer=app.pricer, sites=sites)
    proxy_app: Any = None
    if proxy:
        from spendtag.server.proxy.serve import build as build_proxy
        from spendtag.server.proxy.serve import config_for

        config = config_for(app)
        proxy_app = build_proxy(app, config)
        # One port, one set of names: the proxy answers [serve]'s allowed hosts and its own.
        proxy_app.sites = sites.also(allowed=config.allowed_hosts)
    return Combined(dash, intake_app, proxy_app)


def run(app: App, host: str, port: int, *, token: str | None, dashboard: bool = True, intake: bool = True,
        proxy: bool = False) -> None:
    import uvicorn

    from spendtag.server.protocol import http_protocol

    asgi = build(app, host, token=token, dashboard=dashboard, intake=intake, proxy=proxy)
    config = uvicorn.Config(asgi, host=host, port=port, lifespan="on", access_log=False, log_level="warning",
                            server_header=False, http=http_protocol())
    parts = [name for name, on in ((f"dashboard http://{host}:{port}/", dashboard),
                                   ("API /api/v1", dashboard),
                                   ("OTLP/HTTP /v1/traces /v1/logs /v1/metrics, /v1/events", intake),
                                   ("proxy /openai /anthropic /gemini", proxy)) if on]
    print(f"spendtag serve listening on http://{host}:{port}: {'; '.join(parts)}", file=sys.stderr, flush=True)
    print(f"ledger: {location(app.settings.db)}", file=sys.stderr, flush=True)
    uvicorn.Server(config).run()
