"""Where alerts go: console, signed webhook, Slack incoming webhook, email over SMTP.

A channel sends one alert once and raises :class:`DeliveryError` when it could not;
retries and threads belong to :class:`spendtag.guard.alerts.delivery.Dispatcher`.

Secrets (webhook signing keys, SMTP passwords) come from the environment, never from the
config file, and never appear in an error, a log line or a ``repr``; neither does a URL's
path or query, where services such as Slack put their tokens (see :func:`mask_url`).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import os
import re
import smtplib
import ssl as _ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import cache
from typing import Any, Protocol, TextIO, runtime_checkable
from urllib.parse import urlsplit

from spendtag.config_table import is_host, is_http_url
from spendtag.errors import ConfigError, SpendtagError, did_you_mean
from spendtag.guard.alerts.message import Alert, render_json, render_slack, render_subject, render_text
from spendtag.redaction import redact

SIGNATURE_HEADER = "X-Spendtag-Signature"
TIMESTAMP_HEADER = "X-Spendtag-Timestamp"
DEFAULT_TIMEOUT = 10.0
# HTTP answers that may succeed if asked again; any other 4xx will not, so it is not retried.
_RETRYABLE_4XX = frozenset({408, 425, 429})


class DeliveryError(SpendtagError):
    """A channel could not deliver an alert. ``retryable`` is False when asking again cannot help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@runtime_checkable
class Channel(Protocol):
    name: str

    def send(self, alert: Alert) -> None:
        """Deliver ``alert`` once; raise DeliveryError on failure."""


def mask_url(url: str) -> str:
    """``https://hooks.slack.com/…``: scheme, host and port only; credentials, path and query hidden."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    shown = f"{parts.scheme}://{host}" if parts.scheme else host or "<url>"
    if parts.path.strip("/"):
        shown += "/…"
    if parts.query or parts.fragment:
        shown += "?…"
    return shown


def sign(body: bytes, secret: str | bytes) -> str:
    """The signature header value: ``sha256=`` + hex HMAC-SHA256 of the raw body with the secret."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str, secret: str | bytes) -> bool:
    """For receivers: does ``header`` sign ``body`` with ``secret``? (constant-time comparison)"""
    return hmac.compare_digest(sign(body, secret), header.strip())


@cache
def _user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"spendtag/{version('spendtag')}"
    except PackageNotFoundError:
        return "spendtag"


def _check_http_url(url: str) -> None:
    if not is_http_url(url):
        raise ValueError(f"not an http(s) URL: {mask_url(url)}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirected POST becomes a GET without the body, or carries a signed body to
    # another host: neither is a delivery. The 3xx is reported as a failure instead.
    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> None:
        return None


def _post(what: str, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> None:
    """POST ``body``; anything but a 2xx answer is a DeliveryError that names the URL only masked."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "User-Agent": _user_agent(), **headers})
    opener = urllib.request.build_opener(_NoRedirect)
    where = mask_url(url)
    try:
        with opener.open(request, timeout=timeout) as response:
            status = int(response.status)
            response.read(65536)
    except urllib.error.HTTPError as exc:
        try:
            detail = exc.read(300).decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            detail = ""
        detail = redact(" ".join(detail.split()))[:200]     # stored with the delivery: no credential in it
        retryable = exc.code >= 500 or exc.code in _RETRYABLE_4XX or exc.code < 400
        answer = f"HTTP {exc.code} {exc.reason}" + (f": {detail}" if detail else "")
        raise DeliveryError(f"{what}: {where} answered {answer}", retryable=retryable) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise DeliveryError(f"{what}: no answer from {where} within {timeout:g} s") from None
        raise DeliveryError(f"{what}: cannot reach {where}: {exc.reason}") from None
    except TimeoutError:
        raise DeliveryError(f"{what}: no answer from {where} within {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryError(f"{what}: {where} failed: {type(exc).__name__}: {exc}") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"{what}: {where} answered HTTP {status}, expected 2xx")


class ConsoleChannel:
    """Writes the alert's paragraph to a stream (standard error unless told otherwise)."""

    def __init__(self, name: str = "console", stream: TextIO | None = None) -> None:
        self.name = name
        self._stream = stream

    def send(self, alert: Alert) -> None:
        stream = self._stream if self._stream is not None else sys.stderr  # looked up late: tests swap stderr
        try:
            stream.write(render_text(alert) + "\n")
            stream.flush()
        except (OSError, ValueError) as exc:
            raise DeliveryError(f"console channel {self.name!r}: cannot write: {exc}") from None

    def __repr__(self) -> str:
        return f"ConsoleChannel(name={self.name!r})"


class WebhookChannel:
    """POSTs :func:`render_json` as JSON, signed with HMAC-SHA256 over the raw body.

    Headers: ``X-Spendtag-Signature: sha256=<hex>``, ``X-Spendtag-Timestamp: <unix seconds>``
    and ``X-Spendtag-Alert-Id``. A receiver drops duplicates by alert id (retries re-send it).
    """

    def __init__(self, name: str, url: str, *, secret: str | bytes | None = None, allow_unsigned: bool = False,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        _check_http_url(url)
        if not secret and not allow_unsigned:
            raise ValueError(f"webhook {name!r} needs a secret to sign its body (or allow_unsigned=True)")
        self.name = name
        self.url = url
        self.timeout = timeout
        self._secret = secret or None

    @property
    def signed(self) -> bool:
        return self._secret is not None

    def body(self, alert: Alert) -> bytes:
        return json.dumps(render_json(alert), ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def send(self, alert: Alert) -> None:
        body = self.body(alert)
        headers = {TIMESTAMP_HEADER: str(int(time.time())), "X-Spendtag-Alert-Id": _header_safe(alert.id)}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, self._secret)
        _post(f"webhook {self.name!r}", self.url, body, headers, self.timeout)

    def __repr__(self) -> str:
        return f"WebhookChannel(name={self.name!r}, url={mask_url(self.url)!r}, signed={self.signed})"


class SlackChannel:
    """POSTs :func:`render_slack` to a Slack incoming-webhook URL (the URL itself is the secret)."""

    def __init__(self, name: str, url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        _check_http_url(url)
        self.name = name
        self.url = url
        self.timeout = timeout

    def send(self, alert: Alert) -> None:
        body = json.dumps(render_slack(alert), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        _post(f"slack {self.name!r}", self.url, body, {}, self.timeout)

    def __repr__(self) -> str:
        return f"SlackChannel(name={self.name!r}, url={mask_url(self.url)!r})"


def _header_safe(text: str) -> str:
    return " ".join(text.split())


class EmailChannel:
    """Sends the alert as a plain-text email through an SMTP server (``smtplib``).

    ``starttls`` upgrades a plain connection (port 587 by default); ``ssl`` connects over TLS
    from the start (port 465 by default); neither is port 25. ``ssl_context`` defaults to the
    system's trusted certificates with host-name checking.
    """

    def __init__(self, name: str, *, host: str, sender: str, to: Sequence[str], port: int | None = None,
                 username: str | None = None, password: str | None = None, starttls: bool = False,
                 ssl: bool = False, timeout: float = DEFAULT_TIMEOUT,
                 ssl_context: _ssl.SSLContext | None = None) -> None:
        if starttls and ssl:
            raise ValueError(f"email {name!r}: choose starttls or ssl, not both")
        if isinstance(to, str) or not to:
            raise ValueError(f"email {name!r}: 'to' must be a non-empty list of addresses")
        self.name = name
        self.host = host
        self.port = port if port is not None else (465 if ssl else 587 if starttls else 25)
        self.sender = sender
        self.to = tuple(to)
        self.username = username
        self._password = password
        self.starttls = starttls
        self.ssl = ssl
        self.timeout = timeout
        self._context = ssl_context

    def message(self, alert: Alert) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = render_subject(alert)
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg["Date"] = formatdate(usegmt=True)
        # An explicit domain: make_msgid() would otherwise ask DNS for this host's name.
        msg["Message-ID"] = make_msgid("spendtag", domain=self.sender.rpartition("@")[2] or "spendtag.invalid")
        msg["X-Spendtag-Alert-Id"] = _header_safe(alert.id)
        details = f"Alert id: {alert.id}\nKind: {alert.kind}\nFired at: {alert.fired_at.isoformat()}"
        msg.set_content(f"{render_text(alert)}\n\n{details}\n")
        return msg

    def send(self, alert: Alert) -> None:
        what = f"email {self.name!r} via {self.host}:{self.port}"
        message = self.message(alert)
        context = self._context or _ssl.create_default_context()
        try:
            smtp = (smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context) if self.ssl
                    else smtplib.SMTP(self.host, self.port, timeout=self.timeout))
            with smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if self.username is not None:
                    smtp.login(self.username, self._password or "")
                refused = smtp.send_message(message, from_addr=self.sender, to_addrs=list(self.to))
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"{what}: login as {self.username!r} refused: {exc.smtp_code} {_text(exc.smtp_error)}",
                                retryable=False) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"{what}: the server does not support {exc}", retryable=False) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"{what}: every recipient refused: {_refusals(exc.recipients)}",
                                retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"{what}: server answered {exc.smtp_code} {_text(exc.smtp_error)}",
                                retryable=exc.smtp_code < 500) from None
        except _ssl.SSLError as exc:
            raise DeliveryError(f"{what}: TLS failed: {exc.reason or exc}") from None
        except TimeoutError:
            raise DeliveryError(f"{what}: no answer within {self.timeout:g} s") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{what}: {type(exc).__name__}: {exc}") from None
        if refused:
            # Some recipients have the mail already: a retry would send it to them again.
            raise DeliveryError(f"{what}: delivered, but refused for {_refusals(refused)}", retryable=False)

    def __repr__(self) -> str:
        mode = "ssl" if self.ssl else "starttls" if self.starttls else "plain"
        return f"EmailChannel(name={self.name!r}, host={self.host!r}, port={self.port}, {mode}, to={list(self.to)!r})"


def _text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return redact(" ".join(text.split()))[:200]


def _refusals(recipients: Mapping[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{addr} ({code} {_text(reason)})" for addr, (code, reason) in recipients.items())


# --- configuration ---------------------------------------------------------------------------

_KEYS: dict[str, frozenset[str]] = {
    "console": frozenset({"type", "stream"}),
    "webhook": frozenset({"type", "url", "url_env", "secret_env", "allow_unsigned", "timeout"}),
    "slack": frozenset({"type", "url", "url_env", "timeout"}),
    "email": frozenset({"type", "host", "port", "from", "to", "username", "password_env", "starttls", "ssl",
                        "timeout"}),
}
# Keys that would put a secret in the file, and the key that reads it from the environment instead.
_SECRET_KEYS = {"secret": "secret_env", "password": "password_env"}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\Z")


class _Reader:
    """Reads one ``[alerts.channels.NAME]`` table; every error names the channel, the key and the fix."""

    def __init__(self, name: str, table: Mapping[str, Any], path: str) -> None:
        self.name, self.table, self.path = name, table, path
        self.section = f"[alerts.channels.{name}]"

    def error(self, key: str | None, problem: str, fix: str) -> ConfigError:
        where = f"{self.section} {key}" if key else self.section
        return ConfigError(f"alert channel {self.name!r}: {where}: {problem}", path=self.path,
                           key=("alerts", "channels", self.name, *((key,) if key else ())), fix=fix)

    def string(self, key: str, *, required: bool = False, example: str = "...") -> str | None:
        value = self.table.get(key)
        if value is None:
            if required:
                raise self.error(key, "missing", f'add {key} = "{example}"')
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, "must be a non-empty string", f'write {key} = "{example}"')
        return value.strip()

    def boolean(self, key: str) -> bool:
        value = self.table.get(key, False)
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false", f"write {key} = true (no quotes)")
        return value

    def timeout(self) -> float:
        value = self.table.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 300:
            raise self.error("timeout", "must be a number of seconds above 0 and at most 300", "write timeout = 10")
        return float(value)

    def env(self, key: str, *, example: str) -> str:
        """The value of the environment variable that ``key`` names (the name is checked, never echoed if bad)."""
        var = self.table[key]
        if not isinstance(var, str) or not _ENV_NAME.match(var):
            # It may be the secret itself pasted in the wrong place: do not repeat it.
            raise self.error(key, "must name an environment variable (letters, digits and _), "
                                  "not hold the value itself", f'write {key} = "{example}" and export {example}=...')
        value = os.environ.get(var, "")
        if not value:
            raise self.error(key, f"environment variable {var} is not set",
                             f"export {var}=... in the environment spendtag runs in")
        return value

    def url(self, kind: str, example_env: str) -> str:
        has_url, has_env = "url" in self.table, "url_env" in self.table
        if has_url and has_env:
            raise self.error("url", "both url and url_env are set", "keep one of them")
        if has_env:
            url = self.env("url_env", example=example_env)
        else:
            url = self.string("url", required=True, example="https://example.com/hooks/spendtag") or ""
        try:
            _check_http_url(url)
        except ValueError:
            raise self.error("url_env" if has_env else "url", f"not an http(s) URL: {mask_url(url)}",
                             "use a URL starting with https://") from None
        return url


def _env_example(name: str, key: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", f"SPENDTAG_{name}_{key}".upper())


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def channel_from_config(name: str, table: Mapping[str, Any], *, path: str = "config") -> Channel:
    """A channel from its config table, e.g. ``[alerts.channels.ops]``::

        type = "webhook"                      # console | webhook | slack | email
        url = "https://ops.example.com/hooks/spendtag"
        secret_env = "SPENDTAG_WEBHOOK_SECRET"

    Secrets are read from the environment variables the ``*_env`` keys name, at this call.
    """
    reader = _Reader(name, table, path)
    if not isinstance(table, Mapping):
        raise reader.error(None, "must be a table", 'write [alerts.channels.NAME] with type = "webhook" under it')
    for key, env_key in _SECRET_KEYS.items():
        if key in table:
            raise reader.error(key, "secrets are read from the environment, never from the config file",
                               f'delete {key} and write {env_key} = "{_env_example(name, key)}", '
                               "then export that variable")
    kind = reader.string("type", required=True, example="webhook")
    if kind not in _KEYS:
        raise reader.error("type", f"unknown channel type {kind!r}", did_you_mean(kind, _KEYS))
    unknown = sorted(set(table) - _KEYS[kind])
    if unknown:
        raise reader.error(unknown[0], f"not a setting of a {kind} channel",
                           did_you_mean(unknown[0], sorted(_KEYS[kind])))

    if kind == "console":
        stream = reader.string("stream") or "stderr"
        if stream not in ("stderr", "stdout"):
            raise reader.error("stream", f"unknown stream {stream!r}", 'write stream = "stderr" or "stdout"')
        return ConsoleChannel(name, sys.stdout if stream == "stdout" else None)

    if kind == "webhook":
        url = reader.url(kind, "SPENDTAG_WEBHOOK_URL")
        allow_unsigned = reader.boolean("allow_unsigned")
        secret: str | None = None
        if "secret_env" in table:
            secret = reader.env("secret_env", example="SPENDTAG_WEBHOOK_SECRET")
        elif not allow_unsigned:
            raise reader.error("secret_env", "missing: a webhook signs its body with a secret",
                               'write secret_env = "SPENDTAG_WEBHOOK_SECRET" and export it, '
                               "or allow_unsigned = true to send unsigned bodies")
        return WebhookChannel(name, url, secret=secret, allow_unsigned=allow_unsigned, timeout=reader.timeout())

    if kind == "slack":
        return SlackChannel(name, reader.url(kind, "SPENDTAG_SLACK_WEBHOOK_URL"), timeout=reader.timeout())

    host = reader.string("host", required=True, example="smtp.example.com") or ""
    if not is_host(host):
        raise reader.error("host", f"not a host name or IP address: {host[:80]!r}", 'write host = "smtp.example.com"')
    sender = reader.string("from", required=True, example="spendtag@example.com") or ""
    if not _ADDRESS.match(sender):
        raise reader.error("from", f"not an email address: {sender!r}", 'write from = "spendtag@example.com"')
    to_value = table.get("to")
    to = [to_value] if isinstance(to_value, str) else to_value
    if not isinstance(to, list) or not to or not all(isinstance(a, str) and _ADDRESS.match(a.strip()) for a in to):
        raise reader.error("to", "must be an email address or a non-empty list of them",
                           'write to = ["ops@example.com"]')
    port = table.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        raise reader.error("port", "must be a whole number from 1 to 65535", "write port = 587")
    starttls, use_ssl = reader.boolean("starttls"), reader.boolean("ssl")
    if starttls and use_ssl:
        raise reader.error("ssl", "starttls and ssl are both true",
                           "use starttls = true for port 587, or ssl = true for port 465")
    username = reader.string("username", example="spendtag@example.com")
    password: str | None = None
    if username is not None:
        if "password_env" not in table:
            raise reader.error("password_env", "missing: username is set but no password",
                               'write password_env = "SPENDTAG_SMTP_PASSWORD" and export it')
        password = reader.env("password_env", example="SPENDTAG_SMTP_PASSWORD")
        if not (starttls or use_ssl) and not _is_loopback(host):
            raise reader.error("username", f"the password would cross the network to {host} unencrypted",
                               "set starttls = true (port 587) or ssl = true (port 465)")
    elif "password_env" in table:
        raise reader.error("username", "missing: password_env is set but no username",
                           'write username = "spendtag@example.com"')
    return EmailChannel(name, host=host, port=port, sender=sender, to=[a.strip() for a in to], username=username,
                        password=password, starttls=starttls, ssl=use_ssl, timeout=reader.timeout())
