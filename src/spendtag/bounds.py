"""What a number or a text may be when it enters the ledger, whichever reader brought it.

Every reader (agent logs, ``ingest``, ``record``, OTLP, ``/v1/events``, pulls) turns its
input into these bounded values where it decodes it, so a bad line is refused there with
a reason instead of failing later in SQLite (an ``OverflowError`` at insert, a sum that
leaves the 64-bit range, a ``UnicodeEncodeError`` on a lone surrogate).

The bounds, and why the ledger's sums then stay inside a signed 64-bit integer:

* **A count** (tokens of one bucket, web searches) of one call is at most ``MAX_COUNT`` =
  10^12. The largest context windows hold about 10^7 tokens: no real call comes near.
* **A call's cost** is at most ``MAX_CALL_COST`` = 10^17 pico-USD ($100,000), about a
  hundred times the most a single call can cost at today's list prices (a million output
  tokens of the dearest model is $600). Pricing that comes out above it (absurd counts
  under a costly rate, a mistyped override) leaves the call unpriced with that reason.
  The same bound holds for an amount given directly (``record-cost``, a provider's
  reported cost).
* **A time** is within ``[2000-01-01, 2100-01-01)`` UTC.

The widest sum the ledger stores is a rollup row: one combination of dimensions (client
tags, model, project, agent...) in one UTC day. With 2^63 - 1 ~ 9.22 * 10^18, a row's cost
column holds 92 calls at the cost bound, and in real terms $9.2 million spent by one such
combination in one day; a token column holds 9.2 million calls at the count bound (10^19
tokens in a day: some 10^14 tokens a second). Both are orders of magnitude beyond any
ledger this tool is for. A report that adds rows across days in SQL gets an exact total
even past 2^63 (see ``SQLiteStore._run``'s fallback); PostgreSQL's SUM of BIGINT is
NUMERIC and never overflows.
"""

from __future__ import annotations

from datetime import UTC, datetime

from spendtag.errors import UsageFormatError

MAX_COUNT = 10**12
MAX_CALL_COST = 10**17          # pico-USD ($100,000)
# A provider's report row is a whole day of an organisation's use (one model, key, workspace):
# a thousand times a call's bounds, as count and as amount ($1,000,000 per cost line a day).
MAX_DAY_COUNT = 10**15
MAX_DAY_AMOUNT = 10**18         # pico-USD, either sign (a credit line can be negative)
MIN_TIME = datetime(2000, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(2100, 1, 1, tzinfo=UTC)
MIN_TIME_US = 946_684_800_000_000        # MIN_TIME in µs since the epoch
MAX_TIME_US = 4_102_444_800_000_000      # MAX_TIME in µs since the epoch
_REPLACEMENT = "\ufffd"


def check_cost(pico: int, what: str) -> int:
    """A call's amount (pico-USD) when it is within ``[0, MAX_CALL_COST]``."""
    if pico < 0:
        raise UsageFormatError(f"{what} must not be negative")
    if pico > MAX_CALL_COST:
        raise UsageFormatError(f"{what} is above the bound of $100,000 for one call or amount")
    return pico


def check_time(ts: datetime, what: str = "time") -> datetime:
    """``ts`` (aware) when it lies within 2000-2100 UTC."""
    if not MIN_TIME <= ts < MAX_TIME:
        raise UsageFormatError(f"{what} {ts.isoformat()} is outside 2000-2100")
    return ts


def clean_text(text: str) -> str:
    """``text`` as valid Unicode for UTF-8: each lone surrogate becomes U+FFFD.

    Surrogates reach a ``str`` from JSON escapes (``"\\ud800"``) and from bytes decoded
    with ``surrogateescape``; SQLite and PostgreSQL refuse to store them. Valid text
    (nearly all of it ASCII) is returned as it is.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join(_REPLACEMENT if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text


def clean_optional(text: str | None) -> str | None:
    return text if text is None or text.isascii() else clean_text(text)
