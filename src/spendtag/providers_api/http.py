"""A small read-only JSON client for the admin APIs: retries, rate limits and paging.

The standard library's ``urllib`` does the HTTP (a pull needs no extra package); a
:class:`Transport` can be swapped in. The admin key travels in a header and is never part of
an error message, a log line or a ``repr``.

Retried: HTTP 429 (waiting what ``Retry-After`` says, capped), 408, 5xx and connection
errors, with exponential backoff. Anything else (401, 403, 400) fails at once: asking again
cannot help.
"""

from __future__ import annotations

import email.utils
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

from spendtag.errors import SpendtagError
from spendtag.redaction import error_summary

_RETRYABLE = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


class ProviderAPIError(SpendtagError):
    """An admin API request that failed for good (after retries, or one that retrying cannot fix)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str]     # lower-case names
    body: bytes


class Transport(Protocol):
    def get(self, url: str, headers: Mapping[str, str], timeout: float) -> Response:
        """One GET; raises OSError when no answer came back."""


class UrllibTransport:
    def get(self, url: str, headers: Mapping[str, str], timeout: float) -> Response:
        request = urllib.request.Request(url, headers=dict(headers), method="GET")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - http(s) checked
                return Response(answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read())
        except urllib.error.HTTPError as exc:
            body = exc.read() if exc.fp is not None else b""
            return Response(exc.code, {k.lower(): v for k, v in (exc.headers or {}).items()}, body)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5              # tries per request, the first included
    backoff: float = 1.0           # seconds before the first retry; doubles each time
    max_wait: float = 60.0         # no single wait is longer (Retry-After included)
    timeout: float = 60.0          # per request


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _reason(response: Response) -> str:
    """The provider's error, short: its type, code and message, with anything like a credential
    redacted (a 401 may quote the key it refused), since it is stored with the pull."""
    try:
        data = json.loads(response.body)
    except (ValueError, RecursionError):
        return ""
    return error_summary(response.body) if isinstance(data, dict) and data.get("error") else ""


def default_sleep(seconds: float) -> None:
    time.sleep(seconds)


class AdminClient:
    """GETs JSON from one API base URL with fixed auth headers."""

    def __init__(self, base_url: str, headers: Mapping[str, str], *, transport: Transport | None = None,
                 policy: RetryPolicy | None = None, sleep: Callable[[float], None] | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ProviderAPIError(f"base URL must be http(s)://host[:port], got {parts.scheme or base_url!r}")
        base = base_url.rstrip("/")
        self.base_url = base[:-3] if base.endswith("/v1") else base
        self._headers = {"accept": "application/json", "user-agent": "spendtag", **headers}
        self.transport: Transport = transport or UrllibTransport()
        self.policy = policy or RetryPolicy()
        self.sleep = sleep or default_sleep
        self.retries = 0            # how many retries this client needed (rate limits and errors)

    def __repr__(self) -> str:
        return f"AdminClient({self.base_url!r})"

    def get_json(self, path: str, params: Sequence[tuple[str, str]]) -> dict[str, Any]:
        url = f"{self.base_url}{path}?{urlencode(list(params))}"
        policy = self.policy
        wait = policy.backoff
        problem = ""
        for attempt in range(1, policy.attempts + 1):
            try:
                response = self.transport.get(url, self._headers, policy.timeout)
            except OSError as exc:
                problem, status, delay = f"no answer ({type(exc).__name__})", None, None
            else:
                if response.status == 200:
                    return self._decode(path, response)
                status = response.status
                reason = _reason(response)
                problem = f"HTTP {status}" + (f": {reason}" if reason else "")
                if status not in _RETRYABLE:
                    raise ProviderAPIError(f"{path}: {problem}", status=status)
                delay = retry_after(response.headers.get("retry-after")) if status in (429, 503, 529) else None
            if attempt == policy.attempts:
                raise ProviderAPIError(f"{path}: {problem} after {attempt} attempts", status=status)
            self.retries += 1
            self.sleep(min(policy.max_wait, wait if delay is None else delay))
            wait *= 2
        raise AssertionError("unreachable")

    @staticmethod
    def _decode(path: str, response: Response) -> dict[str, Any]:
        try:
            data = json.loads(response.body)
        except (ValueError, RecursionError):   # (UnicodeDecodeError is a ValueError; RecursionError: nested too deep)
            raise ProviderAPIError(f"{path}: the answer is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise ProviderAPIError(f"{path}: unexpected answer (no data list)")
        return data


@dataclass(frozen=True, slots=True)
class Page:
    number: int
    data: dict[str, Any]


class PagingError(ProviderAPIError):
    """A page that could not be read; the pages before it were."""

    def __init__(self, number: int, cause: ProviderAPIError) -> None:
        super().__init__(f"page {number}: {cause}", status=cause.status)
        self.number = number


def pages(client: AdminClient, path: str, params: Sequence[tuple[str, str]], *,
          max_pages: int = 10_000) -> Iterator[Page]:
    """Every page: ``next_page`` is an opaque token passed back as ``page`` while ``has_more``."""
    token: str | None = None
    for number in range(1, max_pages + 1):
        query = [*params, ("page", token)] if token else list(params)
        try:
            data = client.get_json(path, query)
        except ProviderAPIError as exc:
            raise PagingError(number, exc) from None
        yield Page(number, data)
        token = data.get("next_page") if data.get("has_more") else None
        if not token:
            return
        if not isinstance(token, str):
            raise PagingError(number + 1, ProviderAPIError(f"{path}: next_page is not a string"))
    raise PagingError(max_pages + 1, ProviderAPIError(f"{path}: more than {max_pages} pages"))
