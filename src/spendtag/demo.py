"""A realistic sample month: an agency with four clients, their projects, agents and sessions.

The sample has fixed dates: the ``days`` days up to :data:`LAST_DAY` (31 March 2026, UTC),
so a seed gives the same calls (ids, times, tokens, costs) whatever day it is run, and the
README's examples (``--period 2026-03``) find them. Shapes follow real use: coding agents with
heavy prompt caching on Anthropic models, OpenAI and Gemini calls from client apps, busy
weekdays and quiet weekends, some internal work left untagged, and a few calls to a
fine-tuned model nobody has priced yet (so the unpriced warning has something to show).

``spendtag demo`` records it into its own ledger (:func:`ledger_path`), never the user's;
:func:`remove` takes it out of a ledger an older version loaded it into.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from spendtag.ledger.store import DEMO_ID_PREFIX, DEMO_SOURCE, Store
from spendtag.usage import Usage, UsageEvent

SOURCE = DEMO_SOURCE
LAST_DAY = date(2026, 3, 31)      # the sample's last day (UTC); it runs back ``days`` days from here
DAYS = 31                         # by default, the whole of March 2026
PERIOD = "2026-03"                # the period that holds the default sample, for --period


@dataclass(frozen=True)
class _Client:
    name: str | None          # None: internal work, deliberately untagged
    projects: tuple[str, ...]
    sessions_per_day: float
    mix: tuple[tuple[str, str, str, float], ...]   # (provider, model, agent, weight)


CLIENTS: tuple[_Client, ...] = (
    _Client("acme", ("~/clients/acme/api", "~/clients/acme/web"), 4.0, (
        ("anthropic", "claude-sonnet-4-5", "coder", 6),
        ("anthropic", "claude-opus-4-1", "planner", 1),
        ("anthropic", "claude-haiku-4-5", "reviewer", 2),
        ("openai", "gpt-4o-mini", "support-bot", 3),
    )),
    _Client("globex", ("~/clients/globex/etl",), 2.0, (
        ("openai", "gpt-4.1", "coder", 3),
        ("openai", "gpt-5-mini", "summariser", 3),
        ("google", "gemini-2.5-flash", "summariser", 2),
    )),
    _Client("initech", ("~/clients/initech/chatbot",), 1.5, (
        ("google", "gemini-2.5-pro", "support-bot", 2),
        ("anthropic", "claude-sonnet-4-5", "coder", 2),
        ("openai", "ft:gpt-4o-mini:initech:support-v2", "support-bot", 0.3),
    )),
    _Client("umbrella", ("~/clients/umbrella/reports",), 0.8, (
        ("anthropic", "claude-haiku-4-5", "summariser", 3),
        ("deepseek", "deepseek-chat", "coder", 1),
    )),
    _Client(None, ("~/internal/tools",), 1.0, (
        ("anthropic", "claude-sonnet-4-5", "coder", 2),
        ("openai", "gpt-4o-mini", "planner", 1),
    )),
)


def _usage(rng: random.Random, provider: str, turn: int) -> Usage:
    """One call's usage: coding-agent turns grow a cached prefix; app calls are short."""
    fresh = int(rng.lognormvariate(6.5, 0.8))
    output = int(rng.lognormvariate(5.8, 0.9)) + 1
    if provider == "anthropic":
        prefix = 8_000 + turn * rng.randint(1_500, 4_000)
        written = rng.randint(500, 3_000)
        one_hour = written if rng.random() < 0.2 else 0
        return Usage(input_tokens=fresh, cache_read_tokens=prefix, cache_write_5m_tokens=written - one_hour,
                     cache_write_1h_tokens=one_hour, output_tokens=output,
                     web_search_requests=1 if rng.random() < 0.03 else 0)
    cached = (turn > 0 and rng.random() < 0.6) * rng.randint(1, 8) * 1_024
    reasoning = int(output * rng.uniform(0.2, 0.6)) if rng.random() < 0.3 else 0
    return Usage(input_tokens=fresh + 200, cache_read_tokens=cached, output_tokens=output,
                 reasoning_tokens=reasoning)


def ledger_path() -> Path:
    """The demo's own ledger: ``demo.db`` beside the default ``ledger.db`` in the user data directory."""
    from spendtag.settings import default_db_path

    return default_db_path().with_name("demo.db")


def first_day(days: int = DAYS) -> date:
    return LAST_DAY - timedelta(days=days - 1)


def events(*, days: int = DAYS, seed: int = 7) -> Iterator[UsageEvent]:
    """The ``days`` days up to LAST_DAY, in time order per session; the same for the same seed, always."""
    end = datetime.combine(LAST_DAY + timedelta(days=1), time(), UTC)
    for day_index in range(days):
        day = datetime.combine(first_day(days) + timedelta(days=day_index), time(), UTC)
        # One generator per calendar day: the same day gives the same calls whatever ``days`` is,
        # so a longer sample loaded over a shorter one adds only the days it did not have.
        rng = random.Random(f"{seed}:{day:%Y-%m-%d}")
        weekend = day.weekday() >= 5
        for client in CLIENTS:
            rate = client.sessions_per_day * (0.2 if weekend else 1.0)
            sessions = int(rate) + (rng.random() < rate - int(rate))
            for s in range(sessions):
                provider, model, agent, _ = rng.choices(client.mix, weights=[m[3] for m in client.mix])[0]
                project = rng.choice(client.projects)
                t = day + timedelta(hours=rng.uniform(8, 19))
                session = f"demo-{day:%Y%m%d}-{client.name or 'internal'}-{s}"
                for turn in range(rng.randint(4, 40)):
                    t += timedelta(seconds=rng.uniform(5, 120))
                    if t >= end:
                        break
                    tags = {"client": client.name} if client.name else {}
                    if rng.random() < 0.5:
                        tags["env"] = "prod" if agent == "support-bot" else "dev"
                    yield UsageEvent(
                        event_id=f"{DEMO_ID_PREFIX}{seed}:{session}:{turn}",
                        ts=t,
                        provider=provider,
                        model=model,
                        usage=_usage(rng, provider, turn),
                        tags=tags,
                        project=project,
                        session=session,
                        agent=agent,
                        source=SOURCE,
                    )


def remove(store: Store, *, dry_run: bool = False) -> int:
    """Delete the demo's sample calls from ``store`` (nothing else); how many went (or would, ``dry_run``)."""
    return store.remove_demo_events(dry_run=dry_run)
