"""Tags: free-form ``key=value`` strings, and selectors that match them.

Rules (checked everywhere a tag enters): keys are 1-64 characters of letters, digits and
``_ . - : /``, starting with a letter or digit; values are 0-256 characters with no control
characters; at most 32 tags per event. Keys are case-sensitive. Violations raise
:class:`~spendtag.errors.TagError` with the offending key and the rule. Written as
``key=value`` text (flags, headers, selectors), a value does not start with ``=``:
``client==acme`` is a slip for ``client=acme``, refused rather than read as ``=acme``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from spendtag.errors import TagError

MAX_TAGS = 32
MAX_KEY_LENGTH = 64
MAX_VALUE_LENGTH = 256
_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]*\Z")
# C0, DEL, C1 and the Unicode line and paragraph separators: nothing that breaks a line or a log.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def check_key(key: str) -> str:
    if not isinstance(key, str):
        raise TagError(f"tag key must be a string, got {type(key).__name__}")
    if not key:
        raise TagError("tag key must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise TagError(f"tag key {key[:20]!r}... is {len(key)} characters; the limit is {MAX_KEY_LENGTH}")
    if not _KEY_RE.match(key):
        raise TagError(
            f"tag key {key!r} may only hold letters, digits and _ . - : / and must start with a letter or digit"
        )
    return key


def check_value(key: str, value: str) -> str:
    if not isinstance(value, str):
        raise TagError(f"tag {key!r}: value must be a string, got {type(value).__name__} (quote numbers)")
    if len(value) > MAX_VALUE_LENGTH:
        raise TagError(f"tag {key!r}: value is {len(value)} characters; the limit is {MAX_VALUE_LENGTH}")
    if _CONTROL_RE.search(value):
        raise TagError(f"tag {key!r}: value contains a control character")
    return value


def check_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Validate a whole tag set and return it as a plain dict."""
    if len(tags) > MAX_TAGS:
        raise TagError(f"{len(tags)} tags given; the limit is {MAX_TAGS} per event")
    return {check_key(k): check_value(k, v) for k, v in tags.items()}


def merge(*tag_sets: Mapping[str, str] | None) -> dict[str, str]:
    """Later sets win on the same key."""
    out: dict[str, str] = {}
    for tags in tag_sets:
        if tags:
            out.update(tags)
    return check_tags(out)


def parse_pairs(items: Iterable[str]) -> dict[str, str]:
    """``["client=acme", "env=prod,team=x"]`` -> dict; each item may hold several comma-separated pairs."""
    out: dict[str, str] = {}
    for item in items:
        for part in item.split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, value = part.partition("=")
            if not sep:
                raise TagError(f"tag {part!r} has no '=': write key=value, e.g. client=acme")
            out[key.strip()] = _value(part, value)
    return check_tags(out)


def _value(text: str, value: str) -> str:
    """The value of ``key=value`` text; ``key==value`` is a slip (an equality test), not a value ``=value``."""
    value = value.strip()
    if value.startswith("="):
        raise TagError(f"{text.strip()!r}: write one '=' between key and value, e.g. client=acme")
    return value


def parse_header(text: str) -> dict[str, str]:
    """A tags header: ``client=acme,env=prod`` or a JSON object ``{"client": "acme"}``."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise TagError(f"tags header is not valid JSON: {exc.msg} at character {exc.pos}") from None
        except RecursionError:   # the decoder's guard against nesting that would exhaust the stack
            raise TagError("tags header JSON must be a flat object of string values; this one nests "
                           "too deeply to read") from None
        if not isinstance(data, dict):
            raise TagError("tags header JSON must be an object of string values")
        return check_tags(data)
    return parse_pairs([stripped])


def canonical(tags: Mapping[str, str]) -> str:
    """A stable text form (sorted JSON) used as the identity of a tag set."""
    return json.dumps(dict(sorted(tags.items())), separators=(",", ":"), ensure_ascii=False)


Op = Literal["eq", "ne", "present", "absent"]


@dataclass(frozen=True, slots=True)
class Selector:
    """One tag condition: ``client=acme``, ``client!=acme``, ``env`` (present) or ``!env`` (absent)."""

    key: str
    op: Op
    value: str | None = None

    def matches(self, tags: Mapping[str, str]) -> bool:
        if self.op == "eq":
            return tags.get(self.key) == self.value
        if self.op == "ne":
            return tags.get(self.key) != self.value
        if self.op == "present":
            return self.key in tags
        return self.key not in tags

    def __str__(self) -> str:
        if self.op == "eq":
            return f"{self.key}={self.value}"
        if self.op == "ne":
            return f"{self.key}!={self.value}"
        return self.key if self.op == "present" else f"!{self.key}"

    @classmethod
    def parse(cls, text: str) -> Selector:
        text = text.strip()
        # Keys hold no '=' or '!', so the first '=' ends the key (and a '!' just before it makes it '!=').
        eq = text.find("=")
        if eq > 0 and text[eq - 1] == "!":
            key, value = text[:eq - 1].strip(), _value(text, text[eq + 1:])
            return cls(check_key(key), "ne", check_value(key, value))
        if eq >= 0:
            key, value = text[:eq].strip(), _value(text, text[eq + 1:])
            return cls(check_key(key), "eq", check_value(key, value))
        if text.startswith("!"):
            return cls(check_key(text[1:].strip()), "absent")
        return cls(check_key(text), "present")


def matches_all(selectors: Iterable[Selector], tags: Mapping[str, str]) -> bool:
    return all(s.matches(tags) for s in selectors)
