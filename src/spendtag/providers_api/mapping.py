"""``[pull.mapping]``: provider-side groupings (API key, workspace, project, model) to tags.

In the config file::

    [pull.mapping]
    "anthropic:api_key:apikey_01Rj2N8SVvo6BePZj99NhmiT" = { client = "acme" }
    "anthropic:workspace:wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ" = { client = "acme", env = "prod" }
    "openai:project:proj_abc" = { client = "globex" }
    "openai:api_key:key_*" = { team = "search" }

A key is ``<provider>:<kind>:<id>``; kinds are ``api_key``, ``workspace`` or ``project``
(the same grouping: Anthropic calls it a workspace, OpenAI a project; an empty id is the
default one) and ``model``. ``*`` and ``?`` are wildcards in the id, and the provider may be
``*``. Every matching rule applies in file order, later ones winning on the same tag key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from spendtag.config_table import Table
from spendtag.errors import ConfigError, SpendtagError
from spendtag.providers_api.model import PROVIDERS
from spendtag.tags import check_tags

KINDS: tuple[str, ...] = ("api_key", "workspace", "project", "model")
# The keys of [pull]: the mapping, and each provider's API base URL (tests and proxies).
SECTION_KEYS: tuple[str, ...] = ("mapping", *(f"{p}_base_url" for p in PROVIDERS))
_FIX = '"anthropic:api_key:apikey_01..." = { client = "acme" }'


@dataclass(frozen=True, slots=True)
class MappingRule:
    provider: str          # a provider id or "*"
    kind: str              # api_key, workspace (= project) or model
    pattern: str
    tags: Mapping[str, str]

    def matches(self, provider: str, api_key_id: str, workspace: str, model: str) -> bool:
        if self.provider not in ("*", provider):
            return False
        value = {"api_key": api_key_id, "workspace": workspace, "model": model}[self.kind]
        return fnmatchcase(value, self.pattern)


class Rules:
    """The rules, in file order."""

    def __init__(self, rules: list[MappingRule] | None = None) -> None:
        self.rules = rules or []

    def __bool__(self) -> bool:
        return bool(self.rules)

    def tags_for(self, provider: str, api_key_id: str = "", workspace: str = "", model: str = "") -> dict[str, str]:
        out: dict[str, str] = {}
        for rule in self.rules:
            if rule.matches(provider, api_key_id, workspace, model):
                out.update(rule.tags)
        return out

    @classmethod
    def from_config(cls, section: Any, *, path: str = "config") -> Rules:
        """From the ``[pull]`` section (its ``mapping`` table; its base URLs are checked here too)."""
        if not section:
            return cls()
        pull = Table(section, path=path, key=("pull",), label="[pull]", example="write [pull.mapping] rules")
        pull.only(SECTION_KEYS)
        for provider in PROVIDERS:
            pull.url(f"{provider}_base_url", example=f"https://api.{provider}.com")
        table = pull.table("mapping", example=_FIX)
        return cls([_rule(key, tags, path) for key, tags in table.data.items()])


def _rule(key: str, tags: Any, path: str) -> MappingRule:
    where = ("pull", "mapping", key)
    provider, _, rest = key.partition(":")
    kind, sep, pattern = rest.partition(":")
    if not sep or provider not in (*PROVIDERS, "*") or kind not in KINDS:
        raise ConfigError(f"pull mapping {key!r}: expected <provider>:<kind>:<id> with provider one of "
                          f"{', '.join(PROVIDERS)} or *, kind one of {', '.join(KINDS)}", path=path, key=where,
                          fix=_FIX)
    if not isinstance(tags, Mapping) or not all(isinstance(v, str) for v in tags.values()):
        raise ConfigError(f"pull mapping {key!r} must map to a table of string tags", path=path, key=where,
                          fix=f'"{key}" = {{ client = "acme" }}')
    try:
        checked = check_tags(dict(tags))
    except SpendtagError as exc:
        raise ConfigError(f"pull mapping {key!r}: {exc}", path=path, key=where,
                          fix="use tag keys like client") from None
    return MappingRule(provider, "workspace" if kind == "project" else kind, pattern, checked)
