"""Proxy configuration: upstreams by name, provider keys by environment variable, and knobs.

Config file (all optional)::

    [proxy]
    host = "127.0.0.1"
    port = 4000
    openai_base_url = "https://api.openai.com/v1"
    anthropic_base_url = "https://api.anthropic.com"
    gemini_base_url = "https://generativelanguage.googleapis.com"
    metric_tags = ["client"]              # tag keys that become /metrics labels
    default_max_output_tokens = 1024      # output tokens a budget reservation counts when a request
                                          # sets no max_tokens (the call is charged what it wrote)
    key_cache_seconds = 5                 # how long a virtual key look-up is cached (a revocation,
                                          # like any change another process makes, is seen within 1 s)
    allowed_hosts = ["proxy.internal"]    # Host names answered besides localhost, 127.0.0.1, [::1] and
                                          # the address it listens on (".example.com": it and subdomains)

    [proxy.output_estimates]              # per model, instead of default_max_output_tokens
    "gpt-5" = 4000

    [proxy.upstreams.groq]                # an OpenAI-compatible upstream, served under /groq/v1/...
    base_url = "https://api.groq.com/openai/v1"
    api_key_env = "GROQ_API_KEY"
    provider = "groq"                     # for pricing (default: the name)

Real provider keys are read from the environment variables named here (``OPENAI_API_KEY``,
``ANTHROPIC_API_KEY``, ``GEMINI_API_KEY`` by default); they are never logged.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from spendtag.errors import ConfigError
from spendtag.server.sites import allowed_hosts

Kind = Literal["openai", "anthropic", "gemini"]
BUILTIN: dict[str, tuple[Kind, str, str]] = {
    "openai": ("openai", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    "anthropic": ("anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY"),
    "gemini": ("gemini", "https://generativelanguage.googleapis.com", "GEMINI_API_KEY"),
}
_PROVIDER = {"openai": "openai", "anthropic": "anthropic", "gemini": "google"}
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}\Z")
RESERVED = frozenset({"healthz", "metrics"})


@dataclass(frozen=True, slots=True)
class Upstream:
    name: str                 # the first path segment clients use: /NAME/...
    kind: Kind                # which API it speaks
    base_url: str             # no trailing slash; OpenAI-style ones include the version (/v1)
    provider: str             # provider id for pricing and events
    api_key_env: str
    api_key: str | None = field(default=None, repr=False)   # read from api_key_env; never printed


@dataclass(frozen=True)
class ProxyConfig:
    upstreams: Mapping[str, Upstream]
    host: str = "127.0.0.1"
    port: int = 4000
    metric_tags: tuple[str, ...] = ("client",)
    default_max_output_tokens: int = 1024
    output_estimates: Mapping[str, int] = field(default_factory=dict)
    key_cache_seconds: float = 5.0
    access_log: bool = True
    read_timeout: float = 600.0
    shared_budgets: str = "auto"     # "auto" (on for PostgreSQL), "on" or "off": reserve in the ledger
    reservation_ttl: float = 30.0    # seconds a shared reservation lives unless its proxy extends it
    recover_every: float = 30.0      # seconds between picking up journals a stopped replica left
    allowed_hosts: tuple[str, ...] = ()    # Host names answered besides loopback and the bound address


def _str(table: Mapping[str, Any], key: str, default: str, where: str, path: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key} must be a string", path=path, fix=f'write {key} = "..."')
    return value


def _shared(value: Any, path: str) -> str:
    if value is True or value is False:
        return "on" if value else "off"
    if value not in ("auto", "on", "off"):
        raise ConfigError(f"proxy.shared_budgets must be auto, on or off, not {value!r}", path=path,
                          fix='shared_budgets = "auto"   # on for a PostgreSQL ledger shared by replicas')
    return str(value)


def _positive(value: Any, key: str, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"proxy.{key} must be a whole number above 0, not {value!r}", path=path,
                          fix=f"{key} = 1024")
    return value


def load(section: Any, *, path: str = "config", overrides: Mapping[str, str | None] | None = None,
         environ: Mapping[str, str] | None = None) -> ProxyConfig:
    """The ``[proxy]`` table, with command-line base URLs (``openai``, ``anthropic``, ``gemini``) on top."""
    env = os.environ if environ is None else environ
    table: Mapping[str, Any] = section or {}
    if not isinstance(table, Mapping):
        raise ConfigError("[proxy] must be a table", path=path)
    overrides = overrides or {}
    upstreams: dict[str, Upstream] = {}
    for name, (kind, url, key_env) in BUILTIN.items():
        base = overrides.get(name) or _str(table, f"{name}_base_url", url, "proxy", path)
        key_env = _str(table, f"{name}_api_key_env", key_env, "proxy", path)
        upstreams[name] = Upstream(name, kind, base.rstrip("/"), _PROVIDER[name], key_env, env.get(key_env) or None)
    named = table.get("upstreams", {})
    if not isinstance(named, Mapping):
        raise ConfigError("[proxy.upstreams] must hold one table per upstream", path=path,
                          fix='e.g. [proxy.upstreams.groq] base_url = "https://api.groq.com/openai/v1"')
    for name, spec in named.items():
        where = f"proxy.upstreams.{name}"
        if not _NAME_RE.match(name) or name in RESERVED or name in BUILTIN:
            raise ConfigError(f"upstream name {name!r} is not allowed", path=path,
                              fix="use lower-case letters, digits, '-' or '_', not openai/anthropic/gemini/metrics")
        if not isinstance(spec, Mapping) or not spec.get("base_url"):
            raise ConfigError(f"[{where}] needs a base_url", path=path, fix=f'[{where}] base_url = "https://..."')
        key_env = _str(spec, "api_key_env", f"{name.upper().replace('-', '_')}_API_KEY", where, path)
        upstreams[name] = Upstream(name, "openai", _str(spec, "base_url", "", where, path).rstrip("/"),
                                   _str(spec, "provider", name, where, path), key_env, env.get(key_env) or None)
    estimates = table.get("output_estimates", {})
    if not isinstance(estimates, Mapping) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in estimates.values()):
        raise ConfigError("[proxy.output_estimates] maps model names to output token counts above 0", path=path,
                          fix='[proxy.output_estimates]\n"gpt-5" = 4000')
    tags = table.get("metric_tags", ["client"])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ConfigError("proxy.metric_tags must be a list of tag keys", path=path, fix='metric_tags = ["client"]')
    try:
        return ProxyConfig(
            upstreams=upstreams,
            host=str(table.get("host", "127.0.0.1")),
            port=int(table.get("port", 4000)),
            metric_tags=tuple(tags),
            default_max_output_tokens=_positive(table.get("default_max_output_tokens", 1024),
                                                "default_max_output_tokens", path),
            output_estimates={str(k): int(v) for k, v in estimates.items()},
            key_cache_seconds=float(table.get("key_cache_seconds", 5)),
            access_log=bool(table.get("access_log", True)),
            read_timeout=float(table.get("read_timeout", 600)),
            shared_budgets=_shared(table.get("shared_budgets", "auto"), path),
            reservation_ttl=float(table.get("reservation_ttl", 30)),
            recover_every=float(table.get("recover_every", 30)),
            allowed_hosts=allowed_hosts(table.get("allowed_hosts"), "proxy", path),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[proxy]: {exc}", path=path) from None
