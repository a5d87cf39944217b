"""Attribution rules: project paths to tags.

In the config file::

    [attribution]
    "~/clients/acme/**" = { client = "acme" }
    "~/clients/acme/internal-*" = { client = "acme", billable = "no" }

A pattern matches a project path: ``*`` and ``?`` stay within one path segment, ``**``
spans any number of them (``~/clients/acme/**`` covers ``~/clients/acme`` itself and
everything under it), ``~`` is the user's home. Every matching rule applies, in file
order, later ones winning on the same key; tags already on an event are kept unless a
rule sets the same key.

Rules can also be made from the dashboard: those are kept in the ledger and come after the
file's (:meth:`Rules.load`), as if written at its end.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spendtag.errors import ConfigError, SpendtagError
from spendtag.tags import check_tags

if TYPE_CHECKING:
    from spendtag.ledger.rule_tables import StoredRule
    from spendtag.ledger.store import Store


@dataclass(frozen=True)
class Rule:
    pattern: str
    tags: Mapping[str, str]
    regex: re.Pattern[str]

    def matches(self, project: str | None) -> bool:
        return project is not None and self.regex.match(os.path.expanduser(project)) is not None


def compile_pattern(pattern: str) -> re.Pattern[str]:
    path = os.path.expanduser(pattern.strip()).rstrip("/") or "/"
    out = []
    i = 0
    while i < len(path):
        if path.startswith("/**", i) and i + 3 == len(path):
            out.append("(?:/.*)?")          # the folder itself and everything below it
            i += 3
        elif path.startswith("**", i):
            out.append(".*")
            i += 2
        elif path[i] == "*":
            out.append("[^/]*")
            i += 1
        elif path[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(path[i]))
            i += 1
    return re.compile("".join(out) + r"/?\Z")


class RuleError(SpendtagError, ValueError):
    """A path pattern or tags that cannot make a rule."""


def make_rule(pattern: str, tags: Mapping[str, str]) -> Rule:
    """A rule from a pattern and its tags, checked as the config file's are."""
    if not pattern.strip():
        raise RuleError("a rule needs a path pattern, e.g. ~/clients/acme/**")
    if not tags:
        raise RuleError(f"rule {pattern!r} gives no tags: add one, e.g. client=acme")
    try:
        return Rule(pattern.strip(), check_tags(dict(tags)), compile_pattern(pattern))
    except re.error as exc:
        raise RuleError(f"attribution rule {pattern!r}: {exc}") from None


def add_rule(store: Store, pattern: str, tags: Mapping[str, str]) -> StoredRule:
    """Keep a new rule in the ledger (after every rule already there)."""
    from spendtag.ledger.rule_tables import StoredRule

    rule = make_rule(pattern, tags)
    stored = StoredRule(rule.pattern, dict(rule.tags))
    store.add_attribution_rule(stored)
    return stored


def remove_rule(store: Store, rule_id: str) -> StoredRule:
    found = store.remove_attribution_rule(rule_id)
    if found is None:
        raise RuleError(f"no attribution rule {rule_id!r} in the ledger (config-file rules are removed there)")
    return found


class Rules:
    def __init__(self, rules: list[Rule] | None = None) -> None:
        self.rules = rules or []

    def __bool__(self) -> bool:
        return bool(self.rules)

    def tags_for(self, project: str | None) -> dict[str, str]:
        """Tags every matching rule gives this project (later rules win)."""
        out: dict[str, str] = {}
        for rule in self.rules:
            if rule.matches(project):
                out.update(rule.tags)
        return out

    def apply(self, project: str | None, tags: Mapping[str, str]) -> dict[str, str]:
        """The event's tags with the rules' tags on top."""
        extra = self.tags_for(project)
        return {**tags, **extra} if extra else dict(tags)

    @classmethod
    def from_config(cls, table: Any, *, path: str = "config") -> Rules:
        if not table:
            return cls()
        if not isinstance(table, Mapping):
            raise ConfigError("[attribution] must be a table of \"pattern\" = { key = \"value\" }", path=path,
                              key="attribution", fix='e.g. "~/clients/acme/**" = { client = "acme" }')
        rules = []
        for pattern, tags in table.items():
            key = ("attribution", pattern)
            if not isinstance(tags, Mapping) or not all(isinstance(v, str) for v in tags.values()):
                raise ConfigError(f"attribution rule {pattern!r} must map to a table of string tags", path=path,
                                  key=key, fix=f'"{pattern}" = {{ client = "acme" }}')
            try:
                rules.append(Rule(pattern, check_tags(dict(tags)), compile_pattern(pattern)))
            except (SpendtagError, re.error) as exc:
                raise ConfigError(f"attribution rule {pattern!r}: {exc}", path=path, key=key,
                                  fix="use *, ? and ** in paths, and tag keys like client") from None
        return cls(rules)

    @classmethod
    def load(cls, store: Store | None, table: Any, *, path: str = "config") -> Rules:
        """The config file's rules, then the ledger's (made from the dashboard), in that order."""
        rules = cls.from_config(table, path=path).rules
        if store is not None:
            for stored in store.attribution_rules():
                try:
                    rules.append(make_rule(stored.pattern, stored.tags))
                except SpendtagError:     # checked when made; a later, stricter check must not stop imports
                    continue
        return cls(rules)
