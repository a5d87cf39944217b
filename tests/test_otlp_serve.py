"""`spendtag serve`: options, the loopback rule, and a real server answering OTLP over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import click
from click.testing import CliRunner
from conftest import fixture_path
from test_proxy_helpers import free_port

from spendtag.cli.app import App
from spendtag.cli.serve import serve


def _group() -> click.Group:
    @click.group()
    @click.option("--db")
    @click.pass_context
    def group(ctx: click.Context, db: str | None) -> None:
        ctx.obj = App(db=db)

    group.add_command(serve)
    return group


def test_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    result = CliRunner().invoke(_group(), ["--db", str(tmp_path / "l.db"), "serve", "--host", "0.0.0.0"])
    assert result.exit_code != 0 and "without a token" in str(result.exception)


def test_help_names_the_endpoints_and_the_token_variable() -> None:
    out = CliRunner().invoke(_group(), ["serve", "--help"]).output
    for text in ("/v1/traces", "/v1/logs", "/v1/metrics", "/v1/events", "SPENDTAG_SERVER_TOKEN", "8787"):
        assert text in out


def test_a_real_server_records_an_otlp_post(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "served.db"
    code = ("import sys; from spendtag.cli.serve import serve; from spendtag.cli.app import App; "
            "serve.main(['--port', sys.argv[1], '--token', 'tk'], obj=App(db=sys.argv[2]), standalone_mode=True)")
    child = subprocess.Popen([sys.executable, "-c", code, str(port), str(db)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    assert json.loads(r.read())["status"] == "ok"
                break
            except OSError:
                assert time.monotonic() < deadline and child.poll() is None, child.stdout and child.stdout.read()
                time.sleep(0.1)
        body = fixture_path("agents", "claude_code_otel_logs_api_request.json").read_bytes()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/logs", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": "Bearer tk"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
    finally:
        child.terminate()
        child.wait(30)
    from spendtag.ledger import open_store
    from spendtag.ledger.query import Filters

    store = open_store(str(db))
    try:
        assert len(list(store.events(Filters()))) == 2
    finally:
        store.close()
