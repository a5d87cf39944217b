"""Cursor: the usage CSV exported from its dashboard (cursor.com/dashboard, Usage, Export CSV).

Cursor keeps no token usage on the machine (its ``state.vscdb`` holds chats, not counts), so
spendtag reads the export, given as a path (``spendtag import cursor usage-events.csv``) or
dropped in ``<config>/spendtag/cursor/`` (``~/.config``, ``~/Library/Application Support``,
``%APPDATA%``). The columns are found by name: ``Date``, ``Kind``, ``Model``, ``Input (w/
Cache Write)``, ``Input (w/o Cache Write)``, ``Cache Read``, ``Output Tokens``, ``Cost``
(older exports have no ``Kind`` and add ``Cost to you``). Cache writes are the difference of
the two input columns. The export names no project nor session: rows carry neither (tag
them with ``spendtag tag``). Cursor's model names (``claude-4.5-sonnet-thinking``) become the
vendor's ids (``claude-sonnet-4-5``); ``auto`` and Cursor's own models stay unpriced. The
``Cost`` column is kept as the logged cost. The event id is ``cursor:<hash of the row>:<n>``
(the n-th identical row), so overlapping exports count each row once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Mapping
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from spendtag.capture._fields import DECODE_FAILURES
from spendtag.capture.agents import registry
from spendtag.capture.agents.jsonl import AgentCall, LogFile, ReadResult, Tally, time_us
from spendtag.capture.agents.models import guess_provider
from spendtag.capture.agents.records import Calls, Found, call, count, usd
from spendtag.errors import UsageFormatError

SOURCE = "cursor"
_FAILURES: tuple[type[Exception], ...] = (csv.Error, *DECODE_FAILURES)
_FAMILY = re.compile(r"^claude-(\d+(?:[.-]\d+)?)-(sonnet|opus|haiku)(?:-thinking)?(?:-max)?$")


def model_id(name: str) -> str:
    """Cursor's display id -> the vendor's: ``claude-4.5-sonnet-thinking`` -> ``claude-sonnet-4-5``."""
    m = _FAMILY.match(name.strip().lower())
    if m:
        version = m.group(1).replace(".", "-")
        # Claude 3.x ids put the version first (claude-3-7-sonnet), Claude 4 and later after the family
        return f"claude-{version}-{m.group(2)}" if version.startswith("3") else f"claude-{m.group(2)}-{version}"
    return name.strip().removesuffix("-thinking") if name.startswith("claude") else name.strip()


def _cell(row: Mapping[str, str], *names: str) -> str:
    for name in names:
        if name in row and row[name] is not None:
            return row[name].strip()
    return ""


def _call(row: Mapping[str, str], key: str) -> tuple[AgentCall, Decimal | None] | None:
    with_write = count(_cell(row, "Input (w/ Cache Write)").replace(",", "") or None, "Input (w/ Cache Write)")
    plain = count(_cell(row, "Input (w/o Cache Write)").replace(",", "") or None, "Input (w/o Cache Write)")
    read = count(_cell(row, "Cache Read").replace(",", "") or None, "Cache Read")
    out = count(_cell(row, "Output Tokens", "Output").replace(",", "") or None, "Output Tokens")
    write = max(0, with_write - plain)
    if not (plain or write or read or out):
        return None
    model = _cell(row, "Model")
    if not model:
        raise UsageFormatError("no model")
    date = _cell(row, "Date")
    ts = time_us(date if "T" in date or not date else date.replace(" ", "T", 1))
    if ts is None:
        raise UsageFormatError(f"unreadable date {date[:40]!r}")
    name = model_id(model)
    found = call(f"{SOURCE}:{key}", ts, guess_provider(name) or SOURCE, name, input=plain, cache_read=read,
                 cache_write=write, output=out, agent=SOURCE, source=SOURCE)
    return found, usd(_cell(row, "Cost"))


def read_csv(log: LogFile, *, compact: bool = True) -> ReadResult:
    tally = Tally(log.path, 0)
    try:
        raw = log.path.read_bytes()
    except OSError as exc:
        tally.malformed += 1
        tally.note(0, f"unreadable ({exc})")
        return tally.result([], 0)
    text = raw.decode("utf-8-sig", errors="replace")
    lines = text.splitlines()
    if not lines or "Date" not in lines[0] or "Model" not in lines[0]:
        tally.malformed += 1
        tally.note(1, "not a Cursor usage export (no Date and Model columns)")
        return tally.result([], len(raw))
    seen: dict[str, int] = {}
    header = next(csv.reader([lines[0]]))
    found = Calls(tally)
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        digest = hashlib.sha256(line.strip().encode()).hexdigest()[:24]
        n = seen[digest] = seen.get(digest, 0) + 1
        found.add(number, partial(_row, header, line, f"{digest}:{n}"), failures=_FAILURES)
    return found.result(len(raw), compact)


def _row(header: list[str], line: str, key: str) -> Found:
    cells = next(csv.reader(io.StringIO(line)))
    if len(cells) != len(header):
        raise UsageFormatError(f"{len(cells)} cells where the header has {len(header)}")
    return _call(dict(zip(header, cells, strict=True)), key)


def _read(log: LogFile, offset: int, *, state: dict[str, Any], final: bool, compact: bool) -> ReadResult:
    return read_csv(log, compact=compact)


def places(env: Mapping[str, str], home: Path, plat: str) -> list[Path]:
    base = (home / "Library" / "Application Support" if plat == "darwin"
            else registry.config_home(env, home, plat))
    return [base / "spendtag" / "cursor"]


def files(place: Path) -> list[LogFile]:
    if place.is_file():
        return [LogFile(SOURCE, place, place.parent)]
    if not place.is_dir():
        return []
    return [LogFile(SOURCE, p, place) for p in sorted(place.glob("*.csv")) if p.is_file()]


def sniff(path: Path, head: bytes) -> bool:
    first = head.split(b"\n", 1)[0]
    return b"Date" in first and b"Model" in first and b"Cache Read" in first and b"Input (w/" in first


AGENT = registry.Agent(
    name="cursor", title="Cursor", places=places, files=files, read=_read, sniff=sniff, whole=True, logs_cost=True,
    patterns=("*.csv",), notes="usage CSV exported from the dashboard (<config>/spendtag/cursor/*.csv)",
)
