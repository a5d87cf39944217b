"""Which sites a local server answers: no web page may read or write the ledger through a browser.

A server on 127.0.0.1 is reachable from every page the user's browser opens. Two doors
are closed here, for the intake, the dashboard with its API, and the proxy alike:

* **DNS rebinding.** A page on ``evil.example`` makes its name resolve to 127.0.0.1 and
  then reads the server as its own origin. Its requests still say ``Host: evil.example``,
  so a server answers only the names it is bound to or configured for: ``localhost``,
  ``127.0.0.1`` and ``[::1]``, the address it was told to listen on, the address the
  connection actually reached (so ``--host 0.0.0.0`` answers its own IPs), and the names in
  ``allowed_hosts`` (``"dash.example.com"``, ``".example.com"`` for it and its subdomains,
  ``"*"`` for any). The port is not compared: a browser always sends the port it connected
  to, so it proves nothing, and an SSH tunnel or a container's port mapping changes it.
  A request without ``Host`` (HTTP/1.0, in-process tests) comes from no browser.
* **Cross-site writes.** A page may send a POST anywhere without asking (a form, or
  ``fetch`` with ``text/plain`` or ``no-cors``), but a browser then always says where it came
  from. A write (any method but GET, HEAD, OPTIONS) whose ``Origin`` is not this server's
  own ``scheme://Host``, or whose ``Sec-Fetch-Site`` names another site, is refused; and a
  write must carry a content type no page can send without a CORS preflight (JSON,
  protobuf: anything but the three form types or none) or a credential header (a token, an
  API key): a preflight these servers never grant.

:meth:`Sites.host_ok` is cached per ``Host`` value: the proxy checks every call with a dict
look-up.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any

from spendtag.errors import ConfigError
from spendtag.server.asgi import Scope

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What a page may POST anywhere without a CORS preflight (and no content type at all).
SIMPLE_TYPES = frozenset({"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})
_NAME_RE = re.compile(r"(\*|\.?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*)\Z")
_CACHE_LIMIT = 1024


class Refused(Exception):
    """A request this server will not answer: ``status`` (403, 415), a one-line reason, and a short
    ``code`` naming the check (``foreign_host``, ``foreign_origin``, ``simple_content_type``)."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def hostname(host: str) -> str | None:
    """The name in a ``Host`` value (lower case, IPv6 without brackets), or None when it is not one."""
    text = host.strip().lower()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        name, rest = text[1:end], text[end + 1:]
    else:
        name, colon, port = text.partition(":")
        rest = colon + port
    if rest and not (rest[0] == ":" and rest[1:].isdigit()):
        return None
    return name or None


class Sites:
    """The ``Host`` names a server answers, and the checks on a write."""

    def __init__(self, bound: str = "127.0.0.1", allowed: Iterable[str] = (), *,
                 setting: str = "[serve] allowed_hosts") -> None:
        self.bound = bound
        self.allowed = tuple(allowed)
        self.setting = setting
        self.any = "*" in self.allowed
        names = {*LOOPBACK_NAMES, *(n for n in self.allowed if not n.startswith("."))}
        own = bound.strip().lower()      # an address or name to listen on: no port, IPv6 maybe in brackets
        names.add(own[1:-1] if own.startswith("[") and own.endswith("]") else own)
        self.names = frozenset(names)
        self.suffixes = tuple(n for n in self.allowed if n.startswith("."))
        # Host value -> True (answer), False (refuse), or the name, answered only when it is the address
        # the connection reached (scope["server"]).
        self.known: dict[bytes, bool | str] = {}

    def also(self, bound: str | None = None, allowed: Iterable[str] = ()) -> Sites:
        """These sites, listening on ``bound`` and answering ``allowed`` names too."""
        return Sites(bound or self.bound, (*self.allowed, *allowed), setting=self.setting)

    def _decide(self, raw: bytes) -> bool | str:
        name = hostname(raw.decode("latin-1"))
        if name is None:
            return False
        if self.any or name in self.names or any(name.endswith(s) or name == s[1:] for s in self.suffixes):
            return True
        return name

    def host_ok(self, scope: Scope) -> bool:
        """Whether this server answers the ``Host`` the request names."""
        raw = None
        for name, value in scope["headers"]:
            if name == b"host":
                raw = value
                break
        if raw is None:
            return True
        return self.host_value_ok(raw, scope.get("server"))

    def host_value_ok(self, raw: bytes, server: Any) -> bool:
        found = self.known.get(raw)
        if found is None:
            found = self._decide(raw)
            if len(self.known) >= _CACHE_LIMIT:
                self.known.clear()
            self.known[raw] = found
        if found is True or found is False:
            return found
        return bool(server) and str(server[0]).lower() == found

    def host_refusal(self, scope: Scope) -> Refused:
        raw = next((v for k, v in scope["headers"] if k == b"host"), b"")
        shown = raw.decode("latin-1")[:100]
        return Refused(403, f"this server does not answer to Host {shown!r} (a page on another site may be "
                            f"trying to reach it); to use it under that name, add the name to {self.setting}",
                       "foreign_host")

    def write_refusal(self, scope: Scope, *, origin: bytes | None, content_type: bytes | None,
                      credentialed: bool, fetch_site: bytes | None = None) -> Refused | None:
        """Why a write (a method other than GET, HEAD, OPTIONS) is refused, or None to accept it.

        ``fetch_site`` is the browser's ``Sec-Fetch-Site``, which no page can set: a page served with
        ``Referrer-Policy: no-referrer`` (the dashboard's) posts its own forms with ``Origin: null``,
        and ``same-origin`` there says the form is this server's own."""
        foreign = fetch_site in (b"cross-site", b"same-site")
        if origin is not None and not foreign:
            if origin.strip() == b"null":
                foreign = fetch_site != b"same-origin"
            else:
                foreign = not same_origin(origin, next((v for k, v in scope["headers"] if k == b"host"), None))
        if foreign:
            shown = (origin or b"?").decode("latin-1")[:100]
            return Refused(403, f"refused a write from another site (Origin {shown}): only this server's "
                                "own pages, and programs that are not browsers, may change the ledger",
                           "foreign_origin")
        if credentialed:
            return None
        media = (content_type or b"").split(b";", 1)[0].strip().lower().decode("latin-1")
        if media in SIMPLE_TYPES:
            return Refused(415, f"refused a write sent as {media or 'no content type'}, which any web page can "
                                "send: send Content-Type: application/json (or a token)", "simple_content_type")
        return None

    def refusal(self, scope: Scope, *, credentialed: bool = False) -> Refused | None:
        """The Host check, and for a write the Origin and content-type checks."""
        if not self.host_ok(scope):
            return self.host_refusal(scope)
        if scope["method"] in SAFE_METHODS:
            return None
        origin = content_type = fetch_site = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"content-type":
                content_type = value
            elif name == b"sec-fetch-site":
                fetch_site = value
        return self.write_refusal(scope, origin=origin, content_type=content_type, credentialed=credentialed,
                                  fetch_site=fetch_site)


def same_origin(origin: bytes, host: bytes | None) -> bool:
    """Whether ``Origin`` (``scheme://host[:port]``) names the server the request reached (its ``Host``)."""
    scheme, sep, rest = origin.strip().lower().partition(b"://")
    if not sep or scheme not in (b"http", b"https") or host is None:
        return False      # "null" (a sandboxed frame, a file), or no Host to compare with
    return rest == host.strip().lower()


def allowed_hosts(value: Any, section: str, path: str) -> tuple[str, ...]:
    """``allowed_hosts`` from the ``[serve]`` or ``[proxy]`` table: host names, without scheme or port."""
    if value is None:
        return ()
    example = f'[{section}] allowed_hosts = ["spendtag.example.com"]'
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{section}.allowed_hosts must be a list of host names, not {value!r}", path=path,
                          fix=example)
    names = []
    for item in value:
        name = item.strip().lower()
        if name.startswith("[") and name.endswith("]"):
            name = name[1:-1]
        if _is_ip(name) or _NAME_RE.match(name):
            names.append(name)
            continue
        raise ConfigError(f"{section}.allowed_hosts: {item!r} is not a host name", path=path,
                          fix=f"write the name alone, without scheme, port or path, e.g. {example}")
    return tuple(names)


def serve_section(section: Any, path: str) -> tuple[str, ...]:
    """The ``[serve]`` table: its only key is ``allowed_hosts``."""
    if section is None:
        return ()
    if not isinstance(section, Mapping):
        raise ConfigError("[serve] must be a table", path=path, fix='[serve]\nallowed_hosts = ["dash.example.com"]')
    for key in section:
        if key != "allowed_hosts":
            raise ConfigError(f"unknown key {key!r} in [serve]", path=path,
                              fix="the only key is allowed_hosts (the address and token are command-line options)")
    return allowed_hosts(section.get("allowed_hosts"), "serve", path)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
