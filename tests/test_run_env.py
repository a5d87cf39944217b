"""``spendtag run -- AGENT``: the variables each known agent is given, and a run of one that reads them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import test_proxy_helpers as helpers
from test_proxy_helpers import Upstream, free_port

from spendtag.cli.run_env import AGENTS, Urls, agent_of, variables
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters

upstream = helpers.upstream

URLS = Urls("http://127.0.0.1:4000", "TOK")
HEADERS = ["X-Spendtag-Tags: client=acme", "X-Spendtag-Session: s"]


def test_the_agent_is_known_by_its_executable() -> None:
    assert agent_of(["/usr/local/bin/codex", "exec"]) == "codex"
    assert agent_of(["C:\\tools\\Gemini.EXE"]) == "gemini-cli"
    assert agent_of(["claude"]) == "claude-code"
    assert agent_of(["python", "codex"]) is None and agent_of([]) is None
    assert set(AGENTS.values()) >= {"claude-code", "codex", "gemini-cli", "qwen-code", "opencode", "goose", "aider"}


def test_each_agent_gets_the_variables_it_documents() -> None:
    generic = {"ANTHROPIC_BASE_URL": "http://127.0.0.1:4000/anthropic", "OPENAI_BASE_URL":
               "http://127.0.0.1:4000/t/TOK/openai/v1", "ANTHROPIC_CUSTOM_HEADERS": "\n".join(HEADERS)}
    assert variables(None, URLS, HEADERS, {}) == generic
    assert variables("claude-code", URLS, HEADERS, {}) == generic
    tagged_anthropic = {**generic, "ANTHROPIC_BASE_URL": "http://127.0.0.1:4000/t/TOK/anthropic"}
    assert variables("codex", URLS, HEADERS, {}) == tagged_anthropic
    assert variables("qwen-code", URLS, HEADERS, {}) == tagged_anthropic
    assert variables("gemini-cli", URLS, HEADERS, {}) == {
        **tagged_anthropic, "GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:4000/t/TOK/gemini"}
    assert variables("goose", URLS, HEADERS, {}) == {
        **tagged_anthropic, "ANTHROPIC_HOST": "http://127.0.0.1:4000/t/TOK/anthropic",
        "OPENAI_HOST": "http://127.0.0.1:4000/t/TOK/openai", "OPENAI_BASE_PATH": "v1/chat/completions"}
    assert variables("aider", URLS, HEADERS, {}) == {**tagged_anthropic,
                                                     "OPENAI_API_BASE": "http://127.0.0.1:4000/t/TOK/openai/v1"}
    assert variables("crush", URLS, HEADERS, {}) == tagged_anthropic


def test_opencode_gets_its_providers_base_urls_merged_into_the_users_inline_config() -> None:
    mine = json.dumps({"model": "anthropic/claude-sonnet-4-5", "provider": {"anthropic": {"options": {"timeout": 9}}}})
    config = json.loads(variables("opencode", URLS, HEADERS, {"OPENCODE_CONFIG_CONTENT": mine})
                        ["OPENCODE_CONFIG_CONTENT"])
    assert config == {"model": "anthropic/claude-sonnet-4-5", "provider": {
        "anthropic": {"options": {"timeout": 9, "baseURL": "http://127.0.0.1:4000/t/TOK/anthropic/v1"}},
        "openai": {"options": {"baseURL": "http://127.0.0.1:4000/t/TOK/openai/v1"}}}}
    assert json.loads(variables("opencode", URLS, HEADERS, {"OPENCODE_CONFIG_CONTENT": "not json"})
                      ["OPENCODE_CONFIG_CONTENT"])["provider"]["openai"]["options"]["baseURL"].endswith("/openai/v1")


GEMINI_CHILD = """#!{python}
import json, os, urllib.request
body = {{"contents": [{{"role": "user", "parts": [{{"text": "hi"}}]}}]}}
url = os.environ["GOOGLE_GEMINI_BASE_URL"] + "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
urllib.request.urlopen(urllib.request.Request(url, data=json.dumps(body).encode(),
                       headers={{"content-type": "application/json", "x-goog-api-key": "k"}})).read()
print("gemini done")
"""


def test_run_gemini_routes_it_through_the_proxy_with_its_tags(tmp_path: Path, upstream: Upstream) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "gemini"
    fake.write_text(GEMINI_CHILD.format(python=sys.executable))
    fake.chmod(0o755)
    (tmp_path / "config.toml").write_text(f'[proxy]\ngemini_base_url = "{upstream.url}"\n')
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "SPENDTAG_CONFIG": str(tmp_path / "config.toml"), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "spendtag.server.proxy", "--db", str(tmp_path / "l.db"), "run",
                           "--tags", "client=acme", "--session", "s-g", "--port", str(free_port()), "--", "gemini"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "gemini done" in done.stdout and "spendtag: session s-g: 1 call(s)" in done.stderr
    store = open_store(str(tmp_path / "l.db"))
    (event,) = [p.event for p in store.events(Filters())]
    store.close()
    assert (event.provider, event.tags, event.session, event.agent) == ("google", {"client": "acme"}, "s-g",
                                                                         "gemini-cli")
    assert [s.path for s in upstream.seen] == ["/v1beta/models/gemini-2.5-flash:streamGenerateContent"]
