"""A pull: both of a provider's reports over ``[since, until)`` UTC days, saved day by day.

Idempotent: saving replaces what the complete days held before (see ``ProviderSink``), so
re-running a range, or the same recent days every hour, never duplicates a row. Days a
failure left unread keep whatever an earlier pull stored and are reported as missing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from types import ModuleType

from spendtag.errors import SpendtagError
from spendtag.providers_api import anthropic, openai
from spendtag.providers_api.http import AdminClient, RetryPolicy
from spendtag.providers_api.model import PROVIDERS, ProviderSink, PullResult

_MODULES: dict[str, ModuleType] = {"anthropic": anthropic, "openai": openai}
RECENT_DAYS = 2          # what each round of ``--every`` pulls again: yesterday and today


def module(provider: str) -> ModuleType:
    found = _MODULES.get(provider)
    if found is None:
        raise SpendtagError(f"cannot pull from {provider!r}: use one of {', '.join(PROVIDERS)}")
    return found


def key_env(provider: str) -> str:
    name: str = module(provider).KEY_ENV
    return name


def default_base_url(provider: str) -> str:
    url: str = module(provider).DEFAULT_BASE_URL
    return url


def make_client(provider: str, base_url: str | None = None, *, key: str | None = None,
                sleep: Callable[[float], None] | None = None, policy: RetryPolicy | None = None) -> AdminClient:
    """A client with the admin key from the environment (never from the config file)."""
    env = key_env(provider)
    key = key or os.environ.get(env)
    if not key:
        raise SpendtagError(f"no admin key: set {env} to an admin API key of your {provider} organisation")
    api: AdminClient = module(provider).client(key, base_url or default_base_url(provider), sleep=sleep,
                                               policy=policy)
    return api


def pull(sink: ProviderSink, provider: str, api: AdminClient, since: date, until: date,
         *, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> PullResult:
    """Read the usage and the cost report and save each (complete days only)."""
    if until <= since:
        raise SpendtagError(f"nothing to pull: --until ({until}) must be after --since ({since})")
    mod = module(provider)
    result = PullResult(provider, since, until)
    for fetch in (mod.fetch_usage, mod.fetch_costs):
        fetched = fetch(api, since, until)
        sink.save_provider_pull(provider, since, until, fetched, now())
        result.reports.append(fetched)
    return result


def recent(today: date, days: int = RECENT_DAYS) -> tuple[date, date]:
    """The range a scheduled pull reads: the last ``days`` UTC days, today included."""
    return today - timedelta(days=days - 1), today + timedelta(days=1)


def every(interval: float, *, sleep: Callable[[float], None] | None = None,
          clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Iterator[tuple[date, date]]:
    """Ranges to pull, one per ``interval`` seconds, forever (the caller stops on Ctrl-C)."""
    while True:
        yield recent(clock().date())
        (sleep or time.sleep)(interval)


def parse_interval(text: str) -> float:
    """``90s``, ``30m``, ``1h``, ``1d`` -> seconds (at least one minute: the reports are hourly at best)."""
    text = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        seconds = float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    except ValueError:
        raise SpendtagError(f"cannot read the interval {text!r}: use e.g. 30m, 1h or 1d") from None
    if seconds < 60:
        raise SpendtagError(f"interval {text!r} is too short: pull at most once a minute")
    return seconds
