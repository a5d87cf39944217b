"""``spendtag proxy``, ``spendtag keys`` (create, list, revoke) and ``spendtag run``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import click

from spendtag.cli.app import App
from spendtag.cli.catalog import HelpGroup
from spendtag.cli.params import AMOUNT, PORT


@click.command("proxy")
@click.option("--host", help="Address to listen on [config proxy.host; default 127.0.0.1].")
@click.option("--port", type=PORT, help="Port to listen on [config proxy.port; default 4000].")
@click.option("--openai-base-url", metavar="URL", help="Upstream for /openai/v1/... [default https://api.openai.com/v1].")
@click.option("--anthropic-base-url", metavar="URL",
              help="Upstream for /anthropic/... [default https://api.anthropic.com].")
@click.option("--gemini-base-url", metavar="URL",
              help="Upstream for /gemini/... [default https://generativelanguage.googleapis.com].")
@click.option("--access-log/--no-access-log", default=None,
              help="One JSON line per call on stderr (no keys in it) [config proxy.access_log; default on].")
@click.pass_obj
def proxy(app: App, host: str | None, port: int | None, openai_base_url: str | None, anthropic_base_url: str | None,
          gemini_base_url: str | None, access_log: bool | None) -> None:
    """Serve the metering proxy: point a client's base URL at it and every call is tagged, priced and recorded.

    \b
    Routes:  /openai/v1/...     OpenAI-compatible (chat, responses, embeddings; the rest passed through)
             /NAME/v1/...       a named OpenAI-compatible upstream from [proxy.upstreams.NAME]
             /anthropic/v1/...  Anthropic Messages (ANTHROPIC_BASE_URL=http://HOST:PORT/anthropic)
             /gemini/...        Gemini generateContent / streamGenerateContent
             /metrics, /healthz
    Tags: X-Spendtag-Tags (client=acme,env=prod or JSON), X-Metering-Tags (JSON), X-Spendtag-Project,
    X-Spendtag-Session, X-Spendtag-Agent. Provider keys come from OPENAI_API_KEY, ANTHROPIC_API_KEY,
    GEMINI_API_KEY (or the *_api_key_env names in the config) and are used only for calls made with a
    spendtag virtual key; any other key is passed through to the provider.
    """
    from spendtag.server import require_server_extra

    require_server_extra()
    from spendtag.server.proxy.serve import build, config_for, serve

    config = config_for(app, {"openai": openai_base_url, "anthropic": anthropic_base_url,
                              "gemini": gemini_base_url})
    serve(build(app, config, access_log=access_log), host or config.host, port or config.port)


@click.group("keys", cls=HelpGroup)
def keys() -> None:
    """Virtual keys for the proxy: a client gets a spendtag key, the provider key stays on the server."""


@keys.command("create")
@click.argument("name")
@click.option("--tags", "tag_items", multiple=True, metavar="K=V[,K=V]",
              help="Tags added to every call made with the key, e.g. client=acme. Repeatable.")
@click.option("--budget-monthly", type=AMOUNT, metavar="USD",
              help="A blocking monthly budget for this key (HTTP 429 when spent).")
@click.pass_obj
def keys_create(app: App, name: str, tag_items: tuple[str, ...], budget_monthly: int | None) -> None:
    """Create a key named NAME and print it (once: only its hash is stored).

    \b
      spendtag keys create acme --tags client=acme --budget-monthly 300
    """
    from spendtag.money import screen
    from spendtag.server.proxy.keys import create
    from spendtag.tags import parse_pairs

    made = create(app.store, name, parse_pairs(tag_items),
                  budget_monthly=budget_monthly)
    click.echo(made.key)
    tags = ",".join(f"{k}={v}" for k, v in made.record.tags.items()) or "-"
    click.echo(f"key id {made.record.key_id} ({name}), tags {tags}", err=True)
    if made.budget is not None:
        click.echo(f"budget {made.budget.name}: {screen(made.budget.limit)} per month, blocking", err=True)
    click.echo("This is the only time the key is shown; store it now.", err=True)


@keys.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include revoked keys.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_obj
def keys_list(app: App, show_all: bool, fmt: str) -> None:
    """List virtual keys (id, name, prefix, tags, budget, created, revoked); never the keys themselves."""
    found = app.store.keys(include_revoked=show_all)
    rows: list[dict[str, Any]] = [
        {"id": k.key_id, "name": k.name, "prefix": k.prefix + "…", "tags": dict(k.tags), "budget": k.budget,
         "created": k.created_at.isoformat(timespec="seconds") if k.created_at else None,
         "revoked": k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else None} for k in found]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no keys (create one with `spendtag keys create NAME --tags client=...`)")
        return
    click.echo(f"{'id':<20} {'name':<16} {'prefix':<18} {'tags':<28} {'budget':<16} {'created':<20} revoked")
    for r in rows:
        tags = ",".join(f"{k}={v}" for k, v in r["tags"].items()) or "-"
        click.echo(f"{r['id']:<20} {r['name']:<16} {r['prefix']:<18} {tags:<28} {r['budget'] or '-':<16} "
                   f"{r['created'] or '-':<20} {r['revoked'] or '-'}")


@keys.command("revoke")
@click.argument("id_or_name")
@click.pass_obj
def keys_revoke(app: App, id_or_name: str) -> None:
    """Revoke a key by id or name: its calls get HTTP 401 (within proxy.key_cache_seconds)."""
    from spendtag.server.proxy.keys import revoke

    found = revoke(app.store, id_or_name)
    click.echo(f"revoked {found.key_id} ({found.name})")


@click.command("run", context_settings={"ignore_unknown_options": True})
@click.option("--tags", "tag_items", multiple=True, metavar="K=V[,K=V]", help="Tags for every call. Repeatable.")
@click.option("--budget", "budget_name", metavar="NAME", help="Refuse to start when this budget is exhausted.")
@click.option("--session", help="Session id for the calls [default: a new one].")
@click.option("--agent", help="Agent name for the calls [default: the agent COMMAND runs, if known].")
@click.option("--project", help="Project for the calls [default: the current directory].")
@click.option("--host", default="127.0.0.1", show_default=True, help="Where the proxy listens (or is started).")
@click.option("--port", type=PORT, default=4000, show_default=True, help="Proxy port.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
def run(app: App, tag_items: tuple[str, ...], budget_name: str | None, session: str | None, agent: str | None,
        project: str | None, host: str, port: int, command: tuple[str, ...]) -> None:
    """Run COMMAND (e.g. `-- claude`) with every LLM call it makes going through the proxy, tagged.

    Starts a proxy on --port unless one runs there (and stops it after), sets ANTHROPIC_BASE_URL,
    ANTHROPIC_CUSTOM_HEADERS (Claude Code) and OPENAI_BASE_URL (tags carried in the URL), and for a
    known agent (codex, gemini, qwen, opencode, goose, aider...) the variables it documents; refuses
    to start when a blocking budget covering the tags (or --budget) is exhausted, and prints the
    session's cost when COMMAND exits. Exits with COMMAND's status.

    \b
      spendtag run --tags client=acme --budget acme -- claude
    """
    from spendtag.cli.run_env import Urls, agent_of, variables
    from spendtag.guard import budgets as budgetmod
    from spendtag.ledger.query import Filters
    from spendtag.money import screen
    from spendtag.server.proxy.app import encode_token
    from spendtag.tags import parse_pairs
    from spendtag.usage import new_event_id

    tags = parse_pairs(tag_items)
    known = agent_of(command)
    agent = agent or known
    session = session or "run-" + new_event_id()
    project = project or os.getcwd()
    chosen = app.budgets
    if budget_name is not None:
        chosen = [b for b in app.budgets if b.name == budget_name]
        if not chosen:
            raise click.UsageError(f"no budget named {budget_name!r} (see `spendtag budget list`)")
    decisions = budgetmod.check(app.store, chosen, tags=tags, agent=agent, project=project, tz=app.tz,
                                all_budgets=budget_name is not None)
    refused = [d for d in decisions if not d.allowed]
    if refused:
        for d in refused:
            click.echo(f"spendtag: not starting: {d.message}", err=True)
        sys.exit(3)
    base = f"http://{host}:{port}"
    child = None if _is_proxy(base) else _start_proxy(app, host, port)
    header_tags = ",".join(f"{k}={v}" for k, v in tags.items())
    headers = [f"X-Spendtag-Session: {session}", f"X-Spendtag-Project: {project}"]
    if header_tags:
        headers.insert(0, f"X-Spendtag-Tags: {header_tags}")
    if agent:
        headers.append(f"X-Spendtag-Agent: {agent}")
    env = dict(os.environ)
    env.update(variables(known, Urls(base, encode_token(header_tags, session, agent or "", project)), headers, env))
    env["SPENDTAG_SESSION"] = session
    try:
        code = subprocess.call(list(command), env=env)
    except FileNotFoundError:
        click.echo(f"spendtag: command not found: {command[0]}", err=True)
        code = 127
    finally:
        if child is not None:
            _stop(child)
        else:
            time.sleep(0.3)   # the running proxy writes in batches every ~50 ms
    totals = [a.totals for a in app.store.aggregate(Filters(dims={"session": (session,)}))]
    cost = sum(t.cost for t in totals)
    calls = sum(t.requests for t in totals)
    click.echo(f"spendtag: session {session}: {calls} call(s), {screen(cost)}", err=True)
    sys.exit(code)


def _is_proxy(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=1) as resp:
            return bool(json.loads(resp.read()).get("status") == "ok")
    except (OSError, ValueError, urllib.error.URLError):
        return False


def _start_proxy(app: App, host: str, port: int) -> subprocess.Popen[bytes]:
    from spendtag.errors import SpendtagError

    log_path = f"{app.settings.db}.proxy.log"
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child for its life
    child = subprocess.Popen([sys.executable, "-m", "spendtag.server.proxy", "--db", app.settings.db, "proxy",
                              "--host", host, "--port", str(port)], stdout=log, stderr=log,
                             stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SpendtagError(f"the proxy did not start (exit {child.returncode}); see {log_path}")
        if _is_proxy(f"http://{host}:{port}"):
            return child
        time.sleep(0.1)
    _stop(child)
    raise SpendtagError(f"the proxy did not answer on {host}:{port} within 30 s; see {log_path}")


def _stop(child: subprocess.Popen[bytes]) -> None:
    child.terminate()
    try:
        child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


COMMANDS = [proxy, keys, run]


def standalone() -> None:
    """``python -m spendtag.server.proxy``: these commands with the main CLI's --db option."""

    from spendtag.cli.main import UserError
    from spendtag.errors import SpendtagError

    class _Group(click.Group):
        def invoke(self, ctx: click.Context) -> object:
            try:
                return super().invoke(ctx)
            except SpendtagError as exc:
                raise UserError(str(exc)) from None

    @click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("--db", envvar="SPENDTAG_DB", help="Ledger path or sqlite:/// URL.")
    @click.pass_context
    def group(ctx: click.Context, db: str | None) -> None:
        ctx.obj = App(db=db)
        ctx.call_on_close(ctx.obj.close)

    for command in COMMANDS:
        group.add_command(command)
    group(prog_name="spendtag")
