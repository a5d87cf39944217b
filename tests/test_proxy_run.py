"""``spendtag run``: starts a proxy, tags the child's calls, refuses an exhausted budget, prints the cost."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import test_proxy_helpers as helpers
from conftest import make_event
from test_proxy_helpers import Upstream, free_port

from spendtag.guard.budgets import Budget
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.tags import Selector

upstream = helpers.upstream

CHILD = """
import json, os, urllib.request
headers = dict(line.split(": ", 1) for line in os.environ["ANTHROPIC_CUSTOM_HEADERS"].split("\\n"))
body = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
for base, path in ((os.environ["ANTHROPIC_BASE_URL"], "/v1/messages"),):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers={**headers,
                                 "content-type": "application/json", "x-api-key": "sk-ant-client"})
    urllib.request.urlopen(req).read()
body = {"model": "gpt-5-mini", "messages": [{"role": "user", "content": "hi"}]}
req = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions", data=json.dumps(body).encode(),
                             headers={"content-type": "application/json"})
urllib.request.urlopen(req).read()
print("child done")
"""


def _spendtag(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "SPENDTAG_CONFIG": str(tmp_path / "config.toml"), "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "spendtag.server.proxy", "--db", str(tmp_path / "l.db"), *args],
                          env=env, capture_output=True, text=True, timeout=120)


def test_run_tags_every_call_and_prints_the_session_cost(tmp_path: Path, upstream: Upstream) -> None:
    (tmp_path / "config.toml").write_text(
        f'[proxy]\nanthropic_base_url = "{upstream.url}"\nopenai_base_url = "{upstream.url}/v1"\n')
    port = str(free_port())
    done = _spendtag(tmp_path, "run", "--tags", "client=acme", "--agent", "claude", "--session", "s-42",
                     "--port", port, "--", sys.executable, "-c", CHILD)
    assert done.returncode == 0, done.stderr
    assert "child done" in done.stdout
    assert "spendtag: session s-42: 2 call(s), $0." in done.stderr
    store = open_store(str(tmp_path / "l.db"))
    events = sorted((p.event for p in store.events(Filters())), key=lambda e: e.provider)
    assert [(e.provider, e.tags, e.session, e.agent) for e in events] == [
        ("anthropic", {"client": "acme"}, "s-42", "claude"), ("openai", {"client": "acme"}, "s-42", "claude")]
    assert {s.headers.get("x-api-key") for s in upstream.seen} == {"sk-ant-client", None}
    store.close()


def test_run_refuses_an_exhausted_budget(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "l.db"))
    b = Budget("acme", 10**6, scope=(Selector.parse("client=acme"),), stop_percent=Decimal(100), enforce="block")
    store.save_budget(b.name, b.to_dict())

    store.record([make_event("e1", datetime.now(UTC), tags={"client": "acme"}, cost=2 * 10**6)])
    store.close()
    done = _spendtag(tmp_path, "run", "--tags", "client=acme", "--budget", "acme", "--port", str(free_port()),
                     "--", sys.executable, "-c", "print('should not run')")
    assert done.returncode == 3
    assert "should not run" not in done.stdout
    assert "not starting: budget acme (client=acme, " in done.stderr and "has reached its stop threshold" in \
        done.stderr
