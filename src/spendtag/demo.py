"""A realistic sample month: an agency with four clients, their projects, agents and sessions.

Deterministic for a given seed and end time. Shapes follow real use: coding agents with
heavy prompt caching on Anthropic models, OpenAI and Gemini calls from client apps, busy
weekdays and quiet weekends, some internal work left untagged, and a few calls to a
fine-tuned model nobody has priced yet (so the unpriced warning has something to show).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from spendtag.usage import Usage, UsageEvent

SOURCE = "demo"


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


def events(end: datetime | None = None, *, days: int = 30, seed: int = 7) -> Iterator[UsageEvent]:
    """The sample month ending at ``end`` (default: now), in time order per session."""
    end = (end or datetime.now(UTC)).astimezone(UTC)
    start_day = (end - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    for day_index in range(days + 1):
        day = start_day + timedelta(days=day_index)
        # One generator per calendar day: the same day gives the same calls in every run, so
        # running the demo again (even on another day) never records a call twice.
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
                        event_id=f"demo:{seed}:{session}:{turn}",
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
