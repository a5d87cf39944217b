"""``spendtag serve``: the dashboard, its JSON API and the OTLP intake (and optionally the proxy), one port.

``spendtag tokens``: read-only dashboard tokens and links scoped to one client.
"""

from __future__ import annotations

import click

from spendtag.cli.app import App
from spendtag.cli.catalog import HelpGroup
from spendtag.cli.params import PORT


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything beyond loopback needs --token.")
@click.option("--port", type=PORT, default=8787, show_default=True, help="Port to listen on.")
@click.option("--token", envvar="SPENDTAG_SERVER_TOKEN", show_envvar=True,
              help="Admin token: every page, API call and intake request must carry it "
                   "(Authorization: Bearer TOKEN, or sign in on the page).")
@click.option("--dashboard/--no-dashboard", default=True, show_default=True,
              help="Serve the dashboard and /api/v1.")
@click.option("--intake/--no-intake", default=True, show_default=True,
              help="Serve the OTLP/HTTP intake and /v1/events.")
@click.option("--proxy", "with_proxy", is_flag=True,
              help="Also serve the metering proxy (/openai, /anthropic, /gemini...) on the same port.")
@click.pass_obj
def serve(app: App, host: str, port: int, token: str | None, dashboard: bool, intake: bool, with_proxy: bool) -> None:
    """Open the dashboard and receive usage over HTTP, on one port.

    \b
    Dashboard:  /  (overview)  /tags/client  /sessions  /events  /budgets  /invoices  /keys
    JSON API:   /api/v1/...    OpenAPI document at /api/v1/openapi.json
    Client:     /share/TOKEN   one client's own page (spendtag tokens add NAME --client acme)
    Intake:     POST /v1/traces /v1/logs /v1/metrics (OTLP/HTTP), POST /v1/events (spendtag.HttpSink)
    Bound to loopback it runs without a token; on any other address it needs --token
    (or, with --no-intake, a read-only token made with `spendtag tokens add`).
    Claude Code: CLAUDE_CODE_ENABLE_TELEMETRY=1 OTEL_LOGS_EXPORTER=otlp OTEL_METRICS_EXPORTER=otlp
    OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:8787
    """
    from spendtag.server import require_server_extra

    require_server_extra(dashboard=dashboard)
    from spendtag.server.serve import run

    run(app, host, port, token=token or None, dashboard=dashboard, intake=intake, proxy=with_proxy)


@click.group("tokens", cls=HelpGroup)
def tokens() -> None:
    """Dashboard access: read-only tokens, and links that show one client only its own spend."""


@tokens.command("add")
@click.argument("name")
@click.option("--read-only", is_flag=True, help="A token that sees the whole dashboard and API, read-only.")
@click.option("--client", metavar="VALUE", help="A link for one client (the client_key tag, e.g. acme).")
@click.option("--scope", metavar="KEY=VALUE", help="A link for one value of any tag key (project=apollo).")
@click.option("--url", "base_url", default="http://127.0.0.1:8787", show_default=True,
              help="The dashboard's address, to print the link.")
@click.option("--allow-new", is_flag=True,
              help="A link for a client (tag value) with no calls yet, close to one that has some.")
@click.pass_obj
def tokens_add(app: App, name: str, read_only: bool, client: str | None, scope: str | None, base_url: str,
               allow_new: bool) -> None:
    """Make a token; it is shown once (only its hash is kept)."""
    from spendtag.server.dashboard.access import create_token

    if sum(map(bool, (read_only, client, scope))) != 1:
        raise click.UsageError("give one of --read-only, --client VALUE or --scope KEY=VALUE")
    if read_only:
        token, record = create_token(app.store, name, "read")
        app.console.out(f"read-only token {record.name} ({record.token_id}): {token}")
        app.console.out("Shown once. Sign in at the dashboard with it, or send Authorization: Bearer TOKEN.")
        return
    if client:
        pair = (app.settings["client_key"], client)
    else:
        key, sep, value = (scope or "").partition("=")
        if not sep or not key.strip() or not value.strip() or value.strip().startswith("="):
            raise click.UsageError("--scope takes KEY=VALUE, e.g. --scope project=apollo")
        pair = (key.strip(), value.strip())
    from spendtag.server.dashboard.access import create_link

    token, record, notes = create_link(app.store, name, pair, allow_new=allow_new)
    for note in notes:
        click.echo(f"note: the link shows nothing until such a call is recorded: {note}", err=True)
    app.console.out(f"link for {pair[0]}={pair[1]} ({record.token_id}): {base_url.rstrip('/')}/share/{token}")
    app.console.out("Shown once. It shows only this client's own spend, budgets and invoices.")


@tokens.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include revoked tokens.")
@click.pass_obj
def tokens_list(app: App, show_all: bool) -> None:
    """Tokens, with their prefix and scope (never the token)."""
    from rich.table import Table

    table = Table("name", "id", "prefix", "sees", "created", "state")
    for t in app.store.access_tokens(include_revoked=show_all):
        sees = "everything (read-only)" if t.role == "read" else f"{t.scope_key}={t.scope_value}"
        table.add_row(t.name, t.token_id, t.prefix + "…", sees,
                      f"{t.created_at:%Y-%m-%d}" if t.created_at else "",
                      "active" if t.active else f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "")
    app.console.print(table)


@tokens.command("revoke")
@click.argument("name_or_id")
@click.pass_obj
def tokens_revoke(app: App, name_or_id: str) -> None:
    """Revoke a token by name or id: its pages and API calls are refused from now on."""
    from spendtag.server.dashboard.access import revoke_token

    found = revoke_token(app.store, name_or_id)
    app.console.out(f"revoked {found.name} ({found.token_id})")


COMMANDS = [serve, tokens]
