"""An index of the calls a sum of tokens cannot price: what lets a report reprice from the rollups.

Repricing a model's calls on another model (``report/recommendations.py``) multiplies token
sums by rates, which equals pricing each call when every call is priced alike: at the
standard service tier, speed and region, with a prompt inside the first long-context tier.
The rest, the *unusual* calls, are few; a partial index keeps them, so a report finds them
without reading the other events and prices them one by one. The condition is a superset of
what the pricer treats differently (a spelling such as ``Standard`` is counted as unusual):
never narrower, or a sum would be priced as if its calls were plain.
"""

from __future__ import annotations

from spendtag.ledger.migration import Migration

# No long-context tier starts below this many input tokens (a model whose does is repriced call by call).
LONG_PROMPT = 200_000
# Values the pricer treats as no modifier at all (pricing/rates.py), spelled as stored.
PLAIN_SERVICE_TIERS: tuple[str, ...] = ("", "standard", "default", "auto", "on_demand", "on-demand")
PLAIN_SPEEDS: tuple[str, ...] = ("", "standard", "normal")
PLAIN_GEOS: tuple[str, ...] = ("", "global", "not_available")


def _values(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


# An events row that is unpriced, long, or priced with a modifier (NULL modifiers are plain:
# ``x NOT IN (...)`` is not true for NULL). Released: never edit (the index is built from it).
UNUSUAL_SQL = (
    "(unpriced_requests <> 0"
    " OR input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens + input_audio_tokens"
    f" > {LONG_PROMPT}"
    f" OR service_tier NOT IN ({_values(PLAIN_SERVICE_TIERS)})"
    f" OR speed NOT IN ({_values(PLAIN_SPEEDS)})"
    f" OR inference_geo NOT IN ({_values(PLAIN_GEOS)}))"
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration("0015_unusual_events", (
        f"CREATE INDEX events_unusual ON events (ts) WHERE {UNUSUAL_SQL}",
    )),
)
