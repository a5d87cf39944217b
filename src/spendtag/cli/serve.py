"""``spendtag serve``: the intake server (OTLP/HTTP and ``/v1/events``) over the ledger."""

from __future__ import annotations

import click

from spendtag.cli.app import App


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything beyond loopback needs --token.")
@click.option("--port", type=int, default=8787, show_default=True, help="Port to listen on.")
@click.option("--token", envvar="SPENDTAG_SERVER_TOKEN", show_envvar=True,
              help="Bearer token every request must carry (Authorization: Bearer TOKEN).")
@click.pass_obj
def serve(app: App, host: str, port: int, token: str | None) -> None:
    """Receive usage over HTTP and record it in the ledger.

    \b
    POST /v1/traces   OTLP/HTTP spans (GenAI semantic conventions), protobuf or JSON
    POST /v1/logs     OTLP/HTTP logs: Claude Code api_request, Gemini CLI api_response events
    POST /v1/metrics  OTLP/HTTP metrics: Claude Code token usage (only for sessions without events)
    POST /v1/events   batches from spendtag.HttpSink
    GET  /healthz
    Point Claude Code at it with CLAUDE_CODE_ENABLE_TELEMETRY=1 OTEL_LOGS_EXPORTER=otlp
    OTEL_METRICS_EXPORTER=otlp OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:8787
    """
    from spendtag.server import require_server_extra

    require_server_extra()
    from spendtag.server.intake.app import create_app, run

    run(create_app(app.settings.db, token=token or None, pricer=app.pricer), host, port)


COMMANDS = [serve]
