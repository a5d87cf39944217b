"""Which parts of a time range can be read from rollups, and which need the raw events.

The ledger keeps per-day and per-hour sums (UTC) next to the events. A report over a
range reads whole days from the day rollup, whole hours from the hour rollup, and only
the ragged edges from the events. A bucket is usable only when every time label the
report groups by is the same in each of its quarter hours: a local day in Asia/Kolkata does
not fit UTC hours, so those hours are read raw, at quarter-hour resolution, which every
zone offset in use fits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
QUARTER_US = 900_000_000

Level = Literal["day", "hour", "raw"]


@dataclass(frozen=True, slots=True)
class Piece:
    level: Level
    start: int   # microseconds since the epoch, inclusive
    end: int     # exclusive


def plan(start: int, end: int, labels: Sequence[Callable[[int], str]] = ()) -> list[Piece]:
    """Cover ``[start, end)`` with the coarsest usable pieces, adjacent same-level pieces merged."""

    def constant(a: int, b: int) -> bool:
        # Every quarter hour, not just the ends: hour-of-day and weekday labels come round
        # again, so equal ends do not make a day constant. Labels that only ever grow with
        # time (a day, a month: ``monotonic``) are constant when the ends agree.
        return all(f(a) == f(b - QUARTER_US) if getattr(f, "monotonic", False)
                   else all(f(a) == f(q) for q in range(a + QUARTER_US, b, QUARTER_US)) for f in labels)

    pieces: list[Piece] = []

    def add(level: Level, a: int, b: int) -> None:
        if pieces and pieces[-1].level == level and pieces[-1].end == a:
            pieces[-1] = Piece(level, pieces[-1].start, b)
        else:
            pieces.append(Piece(level, a, b))

    t = start
    while t < end:
        if t % DAY_US == 0 and t + DAY_US <= end and constant(t, t + DAY_US):
            add("day", t, t + DAY_US)
            t += DAY_US
        elif t % HOUR_US == 0 and t + HOUR_US <= end and constant(t, t + HOUR_US):
            add("hour", t, t + HOUR_US)
            t += HOUR_US
        else:
            nxt = min(end, (t // HOUR_US + 1) * HOUR_US)
            add("raw", t, nxt)
            t = nxt
    return pieces
