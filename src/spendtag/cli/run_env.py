"""What ``spendtag run -- AGENT ...`` sets so that the agent's calls go through the proxy, tagged.

Every command gets the generic variables (``ANTHROPIC_BASE_URL`` with the tags in
``ANTHROPIC_CUSTOM_HEADERS``, which Claude Code sends; ``OPENAI_BASE_URL`` with the tags in the
URL). An agent recognised by its executable's name also gets the variables its own
documentation names, each pointing at a proxy route whose URL carries the tags
(``/t/<token>/<upstream>``), since most agents cannot add headers:

=========== ============= =====================================================================
executable  agent         variables
=========== ============= =====================================================================
claude      claude-code   ANTHROPIC_BASE_URL, ANTHROPIC_CUSTOM_HEADERS
codex       codex         OPENAI_BASE_URL
gemini      gemini-cli    GOOGLE_GEMINI_BASE_URL
qwen        qwen-code     OPENAI_BASE_URL
opencode    opencode      OPENCODE_CONFIG_CONTENT (provider.anthropic/openai.options.baseURL, merged)
goose       goose         ANTHROPIC_HOST, OPENAI_HOST, OPENAI_BASE_PATH
aider       aider         OPENAI_API_BASE, ANTHROPIC_BASE_URL
=========== ============= =====================================================================

Crush, Factory Droid and Kimi CLI take their endpoints only from their config files (a custom
provider's ``base_url``): they get the generic variables, and docs/agents.md says how to point them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath


@dataclass(frozen=True)
class Urls:
    """The proxy's routes for one run: plain (headers carry the tags) and with the tags in the path."""

    base: str                 # http://127.0.0.1:4000
    token: str                # the /t/ token (tags, session, agent, project)

    @property
    def anthropic(self) -> str:
        return f"{self.base}/t/{self.token}/anthropic"

    @property
    def openai(self) -> str:
        return f"{self.base}/t/{self.token}/openai/v1"

    @property
    def gemini(self) -> str:
        return f"{self.base}/t/{self.token}/gemini"


# executable name -> the agent it is (its name in spendtag)
AGENTS: dict[str, str] = {"claude": "claude-code", "codex": "codex", "gemini": "gemini-cli", "qwen": "qwen-code",
                          "opencode": "opencode", "goose": "goose", "aider": "aider", "crush": "crush",
                          "droid": "droid", "kimi": "kimi", "amp": "amp", "copilot": "copilot-cli"}


def agent_of(command: Sequence[str]) -> str | None:
    """The agent ``command`` runs, from its executable's name (``/usr/bin/codex``, ``codex.exe``)."""
    if not command:
        return None
    name = PurePath(command[0].replace("\\", "/")).name.lower().removesuffix(".exe").removesuffix(".cmd")
    return AGENTS.get(name)


def _opencode(urls: Urls, current: str | None) -> str:
    try:
        config = json.loads(current) if current else {}
    except ValueError:
        config = {}
    if not isinstance(config, dict):
        config = {}
    providers = config.setdefault("provider", {})
    if isinstance(providers, dict):
        for name, url in (("anthropic", urls.anthropic + "/v1"), ("openai", urls.openai)):
            entry = providers.setdefault(name, {})
            if isinstance(entry, dict):
                options = entry.setdefault("options", {})
                if isinstance(options, dict):
                    options["baseURL"] = url
    return json.dumps(config, separators=(",", ":"))


def variables(agent: str | None, urls: Urls, headers: Sequence[str], env: Mapping[str, str]) -> dict[str, str]:
    """The variables to set for ``agent`` (None: a command spendtag does not know), given the current ``env``."""
    out = {
        "ANTHROPIC_BASE_URL": f"{urls.base}/anthropic",
        "ANTHROPIC_CUSTOM_HEADERS": "\n".join(headers),
        "OPENAI_BASE_URL": urls.openai,
    }
    if agent == "gemini-cli":
        out["GOOGLE_GEMINI_BASE_URL"] = urls.gemini
    elif agent == "opencode":
        out["OPENCODE_CONFIG_CONTENT"] = _opencode(urls, env.get("OPENCODE_CONFIG_CONTENT"))
    elif agent == "goose":
        out.update(ANTHROPIC_HOST=urls.anthropic, OPENAI_HOST=f"{urls.base}/t/{urls.token}/openai",
                   OPENAI_BASE_PATH="v1/chat/completions")
    elif agent == "aider":
        out["OPENAI_API_BASE"] = urls.openai
    if agent not in (None, "claude-code"):
        # Only Claude Code sends ANTHROPIC_CUSTOM_HEADERS: the others' Anthropic calls carry the tags in the URL.
        out["ANTHROPIC_BASE_URL"] = urls.anthropic
    return out
