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

from spendtag.config_table import Table, is_host, is_http_url
from spendtag.errors import ConfigError, SpendtagError
from spendtag.server.sites import allowed_hosts
from spendtag.tags import check_key

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


_KEYS = ("host", "port", *(f"{name}_{key}" for name in BUILTIN for key in ("base_url", "api_key_env")),
         "metric_tags", "default_max_output_tokens", "output_estimates", "key_cache_seconds", "access_log",
         "read_timeout", "shared_budgets", "reservation_ttl", "recover_every", "upstreams", "allowed_hosts")
_UPSTREAM_KEYS = ("base_url", "api_key_env", "provider")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _env_name(table: Table, key: str, default: str) -> str:
    value: str = table.string(key, default, example=default)
    if not _ENV_NAME.match(value):
        raise table.error(key, f"{value!r} is not the name of an environment variable",
                          f'write {key} = "{default}" and export {default}=... (the key itself never goes in the file)')
    return value


def _shared(table: Table) -> str:
    value = table.get("shared_budgets", "auto")
    if value is True or value is False:
        return "on" if value else "off"
    return str(table.string("shared_budgets", "auto", choices=("auto", "on", "off")))


def load(section: Any, *, path: str = "config", overrides: Mapping[str, str | None] | None = None,
         environ: Mapping[str, str] | None = None) -> ProxyConfig:
    """The ``[proxy]`` table, with command-line base URLs (``openai``, ``anthropic``, ``gemini``) on top."""
    env = os.environ if environ is None else environ
    table = Table({} if section is None else section, path=path, key=("proxy",), label="[proxy]")
    table.only(_KEYS)
    overrides = overrides or {}
    upstreams: dict[str, Upstream] = {}
    for name, (kind, url, key_env) in BUILTIN.items():
        flag = overrides.get(name)
        if flag and not is_http_url(flag):
            raise SpendtagError(f"--{name}-base-url {flag!r} is not an http(s) URL with a host "
                                f"(fix: e.g. --{name}-base-url {url})")
        base = flag or table.url(f"{name}_base_url", url, example=url)
        key_env = _env_name(table, f"{name}_api_key_env", key_env)
        upstreams[name] = Upstream(name, kind, base.rstrip("/"), _PROVIDER[name], key_env, env.get(key_env) or None)
    named = table.table("upstreams", example='e.g. [proxy.upstreams.groq] with base_url = "https://..."')
    for name in named.data:
        where = f"proxy.upstreams.{name}"
        if not _NAME_RE.match(name) or name in RESERVED or name in BUILTIN:
            raise ConfigError(f"upstream name {name!r} is not allowed", path=path, key=("proxy", "upstreams", name),
                              fix="use lower-case letters, digits, '-' or '_', not openai/anthropic/gemini/metrics")
        spec = named.table(name, label=f"[{where}]", example=f'[{where}] with base_url = "https://..."')
        spec.only(_UPSTREAM_KEYS)
        base = spec.url("base_url", example="https://api.groq.com/openai/v1")
        if base is None:
            raise spec.error("base_url", "missing", 'add base_url = "https://..."')
        key_env = _env_name(spec, "api_key_env", f"{name.upper().replace('-', '_')}_API_KEY")
        upstreams[name] = Upstream(name, "openai", base, spec.string("provider", name, example=name), key_env,
                                   env.get(key_env) or None)
    estimates = table.table("output_estimates", example='[proxy.output_estimates] with "gpt-5" = 4000')
    tags = table.strings("metric_tags", example="client") if "metric_tags" in table else ("client",)
    for tag in tags:
        try:
            check_key(tag)
        except SpendtagError as exc:
            raise table.error("metric_tags", str(exc), 'write metric_tags = ["client"]') from None
    host = table.string("host", "127.0.0.1", example="127.0.0.1")
    if not is_host(host):
        raise table.error("host", f"{host!r} is not a host name or IP address", 'write host = "127.0.0.1"')
    return ProxyConfig(
        upstreams=upstreams,
        host=host,
        port=table.integer("port", 4000, least=1, most=65535, example=4000),
        metric_tags=tags,
        default_max_output_tokens=table.integer("default_max_output_tokens", 1024, least=1, example=1024),
        output_estimates={str(model): estimates.integer(model, least=1, example=4000) for model in estimates.data},
        key_cache_seconds=table.seconds("key_cache_seconds", 5.0, zero=True),     # 0: look every key up
        access_log=table.boolean("access_log", True),
        read_timeout=table.seconds("read_timeout", 600.0),
        shared_budgets=_shared(table),
        reservation_ttl=table.seconds("reservation_ttl", 30.0),
        recover_every=table.seconds("recover_every", 30.0),
        allowed_hosts=allowed_hosts(table.data.get("allowed_hosts"), "proxy", path),
    )
