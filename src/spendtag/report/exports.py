"""Event exports for invoices and spreadsheets: one row per call, money as exact decimals.

CSV cells that a spreadsheet would run as a formula (starting with ``= + - @``, a tab or a
carriage return) are prefixed with a single quote, and a cell holding a comma, a quote or a
line break (a lone CR included, where spreadsheets start a new row) is quoted. Only text that
came from outside is neutralised; numbers spendtag writes itself (counts, money) are left as
numbers, negative ones included.

An export reads the ledger's rows as stored (``Store.event_rows``) and builds each line from
text made once per dims row, price and hour, so a million events take seconds; ``write`` can
share a large export among worker processes, each formatting slices of the time range, written
in order. ``row`` is the reference, one ``PricedEvent`` at a time (``chunks(..., events=...)``):
every path gives the same bytes (tests/test_export_speed.py).
"""

from __future__ import annotations

import codecs
import json
import multiprocessing
import os
import re
import shutil
import signal
import stat
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from itertools import chain, islice
from json.encoder import encode_basestring  # what json.dumps(ensure_ascii=False) uses for a str
from operator import itemgetter
from typing import IO, Any, TypeVar
from zoneinfo import ZoneInfo

from spendtag.ledger.query import Filters
from spendtag.ledger.store import (
    ESTIMATED_FLAG,
    EXTRA_COSTS,
    EXTRA_TOKENS,
    ROW_COSTS,
    ROW_TOKENS,
    UNPRICED_FLAG,
    Store,
)
from spendtag.money import exact_str
from spendtag.periods import from_us
from spendtag.usage import COST_COMPONENTS, TOKEN_BUCKETS, PricedEvent

K = TypeVar("K")
V = TypeVar("V")
FORMATS = ("csv", "json", "jsonl")
BASE_COLUMNS = ("event_id", "time_utc", "provider", "model", "project", "session", "agent", "key", "user",
                "source", "status")
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
_QUOTED = re.compile('[,"\r\n]').search
_MONEY_COLUMNS = frozenset((*(f"cost_{c}" for c in COST_COMPONENTS), "cost_usd"))
# The store's row columns are the token buckets and cost components in their export order.
assert (*ROW_TOKENS, *EXTRA_TOKENS) == TOKEN_BUCKETS and (*ROW_COSTS, *EXTRA_COSTS) == COST_COMPONENTS


def neutralise(cell: str) -> str:
    """A text cell a spreadsheet will show as text, never evaluate."""
    return "'" + cell if cell.startswith(_DANGEROUS) else cell


def csv_field(cell: str) -> str:
    """A cell as a CSV field: quoted when it holds a comma, a quote, CR or LF (as csv.writer does, CR too)."""
    return '"' + cell.replace('"', '""') + '"' if _QUOTED(cell) else cell


def csv_text(cell: str) -> str:
    """Text from outside as a CSV field a spreadsheet shows as text."""
    return csv_field(neutralise(cell))


def csv_line(cells: Iterable[object]) -> str:
    """One CSV record and its line end, as ``csv.writer(lineterminator="\\n")`` writes it, except that a
    cell holding a lone CR is quoted too. Cells are not neutralised here: the caller knows which
    ones came from outside."""
    fields = ["" if c is None else csv_field(c if isinstance(c, str) else str(c)) for c in cells]
    return '""\n' if fields == [""] else ",".join(fields) + "\n"


class CsvWriter:
    """``csv.writer``'s ``writerow`` with :func:`csv_line`'s quoting."""

    def __init__(self, out: IO[str]) -> None:
        self._write = out.write

    def writerow(self, cells: Iterable[object]) -> None:
        self._write(csv_line(cells))


def columns(tag_keys: Iterable[str]) -> list[str]:
    return [
        *BASE_COLUMNS,
        *(f"tag:{k}" for k in sorted(tag_keys)),
        *TOKEN_BUCKETS,
        *(f"cost_{c}" for c in COST_COMPONENTS),
        "cost_usd",
        "priced",
        "estimated",
        "service_tier",
        "price_model",
        "price_date",
        "price_source",
        "price_note",
        "price_rates",
    ]


def row(priced: PricedEvent, tag_keys: Iterable[str]) -> dict[str, Any]:
    """One event as a flat record: ints for counts, exact decimal strings for money."""
    e, c = priced.event, priced.cost
    out: dict[str, Any] = {
        "event_id": e.event_id,
        "time_utc": e.ts.isoformat().replace("+00:00", "Z"),
        "provider": e.provider,
        "model": e.model,
        "project": e.project or "",
        "session": e.session or "",
        "agent": e.agent or "",
        "key": e.key or "",
        "user": e.user or "",
        "source": e.source,
        "status": e.status,
    }
    for k in sorted(tag_keys):
        out[f"tag:{k}"] = e.tags.get(k, "")
    for b in TOKEN_BUCKETS:
        out[b] = getattr(e.usage, b)
    for comp in COST_COMPONENTS:
        out[f"cost_{comp}"] = exact_str(c.components.get(comp, 0))
    out["cost_usd"] = exact_str(c.total) if c.priced else ""
    out["priced"] = c.priced
    out["estimated"] = e.usage.estimated
    out["service_tier"] = e.usage.service_tier or ""
    p = c.price
    out["price_model"] = p.model if p else ""
    out["price_date"] = p.price_date if p else ""
    out["price_source"] = p.source if p else ""
    out["price_note"] = p.note if p else ""
    out["price_rates"] = json.dumps(dict(sorted(p.rates.items()))) if p else ""
    return out


def _csv_value(column: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return csv_field(value) if column in _MONEY_COLUMNS else csv_text(str(value))


def _reference_lines(events: Iterable[PricedEvent], fmt: str, tag_keys: Sequence[str],
                     size: int = 1000) -> Iterator[list[str]]:
    """Lines (without their ends) of ``events``, ``size`` at a time, through ``row``."""
    cols = columns(tag_keys)
    lines: list[str] = []
    for priced in events:
        record = row(priced, tag_keys)
        if fmt == "csv":
            lines.append(",".join([_csv_value(c, record[c]) for c in cols]))
        else:
            lines.append(json.dumps(record, ensure_ascii=False))
        if len(lines) == size:
            yield lines
            lines = []
    yield lines


# -- the fast path: lines from the store's rows ----------------------------------------------

_PICO = 10**12
_CENT = 10**10                      # a cent in pico-USD
_MINUTES_SECONDS = [f"{m:02d}:{s:02d}" for m in range(60) for s in range(60)]
_MILLIS, _MICROS_Z = [f".{n:03d}" for n in range(1000)], [f"{n:03d}Z" for n in range(1000)]   # .123 456Z
_CACHE_LIMIT = 1 << 16              # entries per cache before it starts again (memory stays flat)
_AMOUNTS_LIMIT = 1 << 17            # (about 15 MB of amounts)
_FORMULA_AFTER_NUL = re.compile("\x00[-=+@\t\r]").search   # a literal first: the fastest kind of search
_JSON_ESCAPED = re.compile('[\x00-\x1f"\\\\]').search     # what encode_basestring escapes
_JSON_PLAIN = bytes(c for c in range(32, 128) if chr(c) not in '"\\')
_EVENT_ID, _SESSION = 0, 3          # the text columns of a store row that come from outside
_event_ids, _sessions = itemgetter(_EVENT_ID), itemgetter(_SESSION)


def _money(value: int) -> str:
    """``exact_str``, sooner in the usual case: a positive amount with more than cents."""
    if value > 0 and value % _CENT:
        return ("%d.%012d" % divmod(value, _PICO)).rstrip("0")  # noqa: UP031 - the fastest spelling
    return exact_str(value)


def _json_pairs(record: dict[str, Any]) -> str:
    """The ``"key": value`` pairs json.dumps writes for ``record``, without the braces."""
    return json.dumps(record, ensure_ascii=False)[1:-1]


class _Lines:
    """Export lines (without their ends) of one format from ``Store.event_rows`` batches.

    A line is a template filled with the row's own values and with text made once and kept:
    per dims row (dimensions and tags), per (price, flags, service tier), per hour of the
    timestamp and per amount of a cost component. Event ids and sessions are escaped only in
    the batches where some need it (one scan of the whole batch's text says which).
    """

    def __init__(self, store: Store, fmt: str, tag_keys: Sequence[str]) -> None:
        self._store = store
        self._csv = fmt == "csv"
        self._tag_keys = sorted(tag_keys)
        self._dims: dict[int, tuple[str, str]] = {}
        self._tails: dict[int | tuple[int, str], str] = {}
        self._hours: dict[int, str] = {}
        self._amounts: dict[int, str] = {}
        self._no_extra = self._extra(",".join(["0"] * (len(EXTRA_TOKENS) + len(EXTRA_COSTS))))

    def lines(self, rows: list[tuple[Any, ...]]) -> list[str]:
        if self._risky(rows):
            rows = [self._escaped(r) for r in rows]
        dims, tails, hours, amounts = self._dims, self._tails, self._hours, self._amounts
        minutes_seconds, millis, micros_z, no_extra = _MINUTES_SECONDS, _MILLIS, _MICROS_Z, self._no_extra
        out: list[str] = []
        append = out.append
        # One loop per format, each building its line in one f-string: a call per line with its
        # 17 pieces as arguments cost 8 % of the formatting. The two must give the columns of
        # ``columns`` in order (tests/test_export_speed.py compares them with ``row``).
        if self._csv:
            for (event_id, ts, dim_id, session, price_flags, tier, extra, tokens, c1, c2, c3, c4, c5, cost) in rows:
                seconds, micros = divmod(ts, 1_000_000)
                hour, in_hour = divmod(seconds, 3600)
                head, body = dims.get(dim_id) or self._dim(dim_id)
                extra_tokens, extra_costs = no_extra if extra is None else self._extra(extra)
                # Totals are nearly all different: formatted here (as _money does), never kept.
                if price_flags & UNPRICED_FLAG:
                    total = ""
                elif cost > 0 and cost % _CENT:
                    total = ("%d.%012d" % divmod(cost, _PICO)).rstrip("0")  # noqa: UP031 - the fastest spelling
                else:
                    total = exact_str(cost)
                tail = tails.get(price_flags if tier is None else (price_flags, tier)) or self._tail(price_flags, tier)
                append(f"{event_id},{hours.get(hour) or self._hour(hour)}{minutes_seconds[in_hour]}"
                       f"{millis[micros // 1000] + micros_z[micros % 1000] if micros else 'Z'},{head},{session},"
                       f"{body},{tokens}{extra_tokens},{amounts.get(c1) or self._amount(c1)},"
                       f"{amounts.get(c2) or self._amount(c2)},{amounts.get(c3) or self._amount(c3)},"
                       f"{amounts.get(c4) or self._amount(c4)},{amounts.get(c5) or self._amount(c5)}{extra_costs},"
                       f"{total},{tail}")
            return out
        for (event_id, ts, dim_id, session, price_flags, tier, extra, tokens, c1, c2, c3, c4, c5, cost) in rows:
            seconds, micros = divmod(ts, 1_000_000)
            hour, in_hour = divmod(seconds, 3600)
            head, body = dims.get(dim_id) or self._dim(dim_id)
            extra_tokens, extra_costs = no_extra if extra is None else self._extra(extra)
            if price_flags & UNPRICED_FLAG:
                total = ""
            elif cost > 0 and cost % _CENT:
                total = ("%d.%012d" % divmod(cost, _PICO)).rstrip("0")  # noqa: UP031 - the fastest spelling
            else:
                total = exact_str(cost)
            t = tokens.split(",")
            tail = tails.get(price_flags if tier is None else (price_flags, tier)) or self._tail(price_flags, tier)
            append(f'{{"event_id": "{event_id}", "time_utc": "{hours.get(hour) or self._hour(hour)}'
                   f'{minutes_seconds[in_hour]}{millis[micros // 1000] + micros_z[micros % 1000] if micros else "Z"}", '
                   f'{head}, "session": "{session}", {body}, "input_tokens": {t[0]}, "cache_read_tokens": {t[1]}, '
                   f'"cache_write_5m_tokens": {t[2]}, "cache_write_1h_tokens": {t[3]}, "output_tokens": {t[4]}, '
                   f'"reasoning_tokens": {t[5]}{extra_tokens}, '
                   f'"cost_input_tokens": "{amounts.get(c1) or self._amount(c1)}", '
                   f'"cost_cache_read_tokens": "{amounts.get(c2) or self._amount(c2)}", '
                   f'"cost_cache_write_5m_tokens": "{amounts.get(c3) or self._amount(c3)}", '
                   f'"cost_cache_write_1h_tokens": "{amounts.get(c4) or self._amount(c4)}", '
                   f'"cost_output_tokens": "{amounts.get(c5) or self._amount(c5)}"{extra_costs}, '
                   f'"cost_usd": "{total}", {tail}}}')
        return out

    def _risky(self, rows: list[tuple[Any, ...]]) -> bool:
        """Whether some event id or session of the batch needs escaping (a scan of all of them at once)."""
        if self._csv:
            texts = "\x00" + "\x00".join(map(_event_ids, rows)) + "\x00" + "\x00".join(map(_sessions, rows))
            return _FORMULA_AFTER_NUL(texts) is not None or any(c in texts for c in ',"\r\n')
        texts = "".join(map(_event_ids, rows)) + "".join(map(_sessions, rows))
        if texts.isascii():   # then deleting the plain characters leaves those to escape
            return bool(texts.encode("ascii").translate(None, _JSON_PLAIN))
        return _JSON_ESCAPED(texts) is not None

    def _escaped(self, r: tuple[Any, ...]) -> tuple[Any, ...]:
        escape = csv_text if self._csv else _json_inner
        return (escape(r[_EVENT_ID]), r[1], r[2], escape(r[_SESSION]), *r[4:])

    def _dim(self, dim_id: int) -> tuple[str, str]:
        """The text before the session (provider, model, project) and after it (agent to the tags)."""
        dims, tags = self._store.event_dims(dim_id)
        head = {k: dims[k] for k in ("provider", "model", "project")}
        body = {k: dims[k] for k in ("agent", "key", "user", "source", "status")}
        body.update((f"tag:{k}", tags.get(k, "")) for k in self._tag_keys)
        if self._csv:
            found = ",".join(map(csv_text, head.values())), ",".join(map(csv_text, body.values()))
        else:
            found = _json_pairs(head), _json_pairs(body)
        return self._keep(self._dims, dim_id, found)

    def _tail(self, price_flags: int, tier: str | None) -> str:
        """The columns after cost_usd: priced, estimated, service tier and the price used."""
        flags = price_flags & (UNPRICED_FLAG | ESTIMATED_FLAG)
        p = self._store.price_ref(price_flags >> 2 or None)
        record = {
            "priced": not flags & UNPRICED_FLAG, "estimated": bool(flags & ESTIMATED_FLAG), "service_tier": tier or "",
            "price_model": p.model if p else "", "price_date": p.price_date if p else "",
            "price_source": p.source if p else "", "price_note": p.note if p else "",
            "price_rates": json.dumps(dict(sorted(p.rates.items()))) if p else "",
        }
        found = ",".join(_csv_value(k, v) for k, v in record.items()) if self._csv else _json_pairs(record)
        return self._keep(self._tails, price_flags if tier is None else (price_flags, tier), found)

    def _hour(self, hour: int) -> str:
        return self._keep(self._hours, hour, from_us(hour * 3_600_000_000).isoformat()[:14])   # 2026-03-14T10:

    def _amount(self, value: int) -> str:
        """A cost component's amount (the same few thousand recur: a model's price times a token count)."""
        text = _money(value)
        if len(self._amounts) >= _AMOUNTS_LIMIT:
            self._amounts.clear()
        self._amounts[value] = text
        return text

    def _extra(self, text: str) -> tuple[str, str]:
        """The rarely used sums (``extra``: integers joined by commas) as the text after the token
        columns and after the cost columns."""
        values = [int(v) for v in text.split(",")]
        tokens = dict(zip(EXTRA_TOKENS, values, strict=False))
        costs = {f"cost_{c}": _money(v) for c, v in zip(EXTRA_COSTS, values[len(EXTRA_TOKENS):], strict=True)}
        if self._csv:
            return "".join(f",{v}" for v in tokens.values()), "".join(f",{v}" for v in costs.values())
        return ", " + _json_pairs(tokens), ", " + _json_pairs(costs)

    @staticmethod
    def _keep(cache: dict[K, V], key: K, value: V) -> V:
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[key] = value
        return value


# The token and cost columns the lines spell out, in their order.
assert ROW_TOKENS == ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
                      "output_tokens", "reasoning_tokens")
assert ROW_COSTS == ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
                     "output_tokens")


def _json_inner(text: str) -> str:
    return str(encode_basestring(text))[1:-1]


# -- putting an export together ----------------------------------------------------------------


def _block(lines: list[str], fmt: str) -> str:
    """Lines as one piece of text: JSON's joined by commas (framed by ``_framed``), others each ended."""
    # (chained with an empty last line rather than + "\n": a block is megabytes, and + copies it again)
    return ",\n".join(lines) if fmt == "json" else "\n".join(chain(lines, ("",)))


class Spooled(str):
    """The path of a file a worker wrote its block to (UTF-8), for the writer to copy in and remove."""


Block = str | bytes   # a worker's block comes as UTF-8 (or Spooled), for the writer to pass on as it is


def _framed(blocks: Iterable[tuple[Block, int]], fmt: str, tag_keys: Sequence[str]) -> Iterator[tuple[Block, int]]:
    """Blocks of lines with the header (CSV) or the brackets and commas between them (JSON)."""
    if fmt == "csv":
        yield csv_line(columns(tag_keys)), 0
    first = True
    for text, n in blocks:
        if not n:
            continue
        if fmt == "json":
            yield "[\n" if first else ",\n", 0
        yield text, n
        first = False
    if fmt == "json":
        yield ("[" if first else "") + "\n]\n", 0


def _pieces(store: Store, filters: Filters, fmt: str, events: Iterable[PricedEvent] | None,
            min_cost: int | None, max_cost: int | None, workers: int = 1,
            spool: str | None = None) -> Iterator[tuple[Block, int]]:
    """The export as pieces of text, each with the number of events in it (bytes: from a worker)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    tag_keys = store.tag_keys(filters)
    if events is not None:
        batches: Iterable[list[str]] = _reference_lines(events, fmt, tag_keys)
    else:
        slices = _slices(store, filters) if workers > 1 and min_cost is None and max_cost is None else None
        if slices is not None and len(slices) > 1:
            yield from _framed(_parallel(store.url, slices, fmt, tag_keys, workers, spool), fmt, tag_keys)
            return
        maker = _Lines(store, fmt, tag_keys)
        batches = map(maker.lines, store.event_rows(filters, min_cost=min_cost, max_cost=max_cost, batch=PIECE_ROWS))
    yield from _framed(((_block(lines, fmt), len(lines)) for lines in batches), fmt, tag_keys)


# -- several processes: contiguous time slices, formatted apart, written in order -------------

PARALLEL_MIN = 250_000   # fewer events: starting worker processes costs more than it saves (bench_export)
PIECE_ROWS = 500         # lines formatted and written at a time (a JSON line is ~1.4 kB: pieces under 1 MB)
SLICE_EVENTS = 5_000     # per slice: a few slices ahead of the writer hold their text (JSON: 7 MB each)


def workers_for(n: int) -> int:
    """How many processes to export ``n`` events with (the cores, up to 4; 1 for a small export)."""
    return 1 if n < PARALLEL_MIN else max(1, min(4, os.cpu_count() or 1))


def _slices(store: Store, filters: Filters) -> list[Filters] | None:
    """``filters`` cut at UTC hours into slices of about SLICE_EVENTS events (the rollups count them)."""
    hours = []
    for a in store.aggregate(filters, ["hour"], tz=ZoneInfo("UTC")):
        try:
            hours.append((datetime.strptime(str(a.key[0]), "%Y-%m-%d %H:00").replace(tzinfo=UTC),
                          a.totals.requests))
        except ValueError:
            return None   # a year before 1000 has no such label: one process, then
    out, since, held = [], filters.since, 0
    for hour, n in sorted(hours):
        if held >= SLICE_EVENTS:
            out.append(replace(filters, since=since, until=hour))
            since, held = hour, 0
        held += n
    out.append(replace(filters, since=since, until=filters.until))
    return out


def _parallel(url: str, slices: list[Filters], fmt: str, tag_keys: Sequence[str],
              workers: int, spool: str | None = None) -> Iterator[tuple[Block, int]]:
    """Each slice's block from a pool of processes, in order; a few slices ahead at most (memory).

    With ``spool`` (a folder), a worker writes its block to a file there and hands over only its
    path: the writer then copies it into the output in the kernel, and no block crosses a pipe.
    """
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_start)
    try:
        todo, keys = iter(slices), tuple(tag_keys)
        running = deque(pool.submit(_slice_block, url, s, fmt, keys, spool) for s in islice(todo, workers + 1))
        while running:
            block = running.popleft().result()
            following = next(todo, None)
            if following is not None:
                running.append(pool.submit(_slice_block, url, following, fmt, keys, spool))
            yield block
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_worker_stores: dict[str, Store] = {}
_worker_lines: dict[tuple[str, str, tuple[str, ...]], _Lines] = {}


def _worker_start() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the writer's to handle


def _slice_block(url: str, filters: Filters, fmt: str, tag_keys: tuple[str, ...],
                 spool: str | None = None) -> tuple[Block, int]:
    """In a worker: one slice's lines as a block in UTF-8 (the store and the kept text serve every slice),
    or the path of the file in ``spool`` it was written to."""
    from spendtag.ledger import open_store

    store = _worker_stores.get(url)
    if store is None:
        store = _worker_stores[url] = open_store(url)
    maker = _worker_lines.get((url, fmt, tag_keys))
    if maker is None:
        maker = _worker_lines[(url, fmt, tag_keys)] = _Lines(store, fmt, tag_keys)
    if spool is None:
        lines: list[str] = []
        for rows in store.event_rows(filters):
            lines += maker.lines(rows)
        return _block(lines, fmt).encode("utf-8"), len(lines)
    # Spooled: written a few hundred lines at a time, so no piece is large enough for the allocator
    # to map it fresh from the kernel (at a page fault per 4 KiB, a fifth of a JSON line's cost).
    fd, path = tempfile.mkstemp(dir=spool, suffix=".part")
    n = 0
    with os.fdopen(fd, "wb") as part:
        for rows in store.event_rows(filters, batch=PIECE_ROWS):
            lines = maker.lines(rows)
            if lines:
                part.write(((",\n" if n else "") + _block(lines, fmt) if fmt == "json" else _block(lines, fmt))
                           .encode("utf-8"))
                n += len(lines)
    if not n:
        os.unlink(path)
        return b"", 0
    return Spooled(path), n


def chunks(store: Store, filters: Filters, fmt: str, *, events: Iterable[PricedEvent] | None = None,
           min_cost: int | None = None, max_cost: int | None = None) -> Iterator[str]:
    """The export as pieces of text, for a file or an HTTP response.

    ``events`` (the reference path) replaces the ledger's events; ``min_cost``/``max_cost``
    (pico-USD, inclusive) keep the events whose cost is within them.
    """
    for text, _ in _pieces(store, filters, fmt, events, min_cost, max_cost):
        yield text if isinstance(text, str) else text.decode("utf-8")   # no workers here: never Spooled


def count(store: Store, filters: Filters) -> int:
    """How many events an export of ``filters`` will hold, from the rollups (for a progress bar)."""
    return sum(a.totals.requests for a in store.aggregate(filters))


def _utf8_buffer(out: IO[str]) -> IO[bytes] | None:
    """The bytes under ``out`` when text written to it becomes exactly its UTF-8 (a file opened with
    encoding="utf-8", no line-end translation): a worker's block is written there as it came."""
    buffer, encoding = getattr(out, "buffer", None), getattr(out, "encoding", None)
    if buffer is None or not encoding or codecs.lookup(encoding).name != "utf-8" or os.linesep != "\n":
        return None
    return buffer  # type: ignore[no-any-return]


def write(store: Store, filters: Filters, fmt: str, out: IO[str], *,
          progress: Callable[[int], None] | None = None, workers: int = 1) -> int:
    """Write every event that passes ``filters`` to ``out``; return how many.

    ``progress`` is told the number of events written so far, after each piece. With
    ``workers`` > 1 (see ``workers_for``), processes of their own format slices of the time
    range at once, each from its own read of the ledger: an event recorded meanwhile is in the
    export or not, never twice nor in part.
    """
    n = 0
    raw = _utf8_buffer(out)
    spool = _spool_for(raw) if workers > 1 else None
    try:
        for text, events in _pieces(store, filters, fmt, None, None, None, workers, spool):
            if isinstance(text, Spooled):
                out.flush()
                _copy_in(text, raw)
            elif isinstance(text, str):
                out.write(text)
            elif raw is not None:
                out.flush()
                raw.write(text)
            else:
                out.write(text.decode("utf-8"))
            if events:
                n += events
                if progress is not None:
                    progress(n)
    finally:
        if spool is not None:
            shutil.rmtree(spool, ignore_errors=True)
    return n


def _spool_for(raw: IO[bytes] | None) -> str | None:
    """A folder for the workers' blocks, on the output file's own file system (so the kernel can copy
    them in without reading them through Python), or None when the output is not a regular file."""
    try:
        if raw is None or not stat.S_ISREG(os.fstat(raw.fileno()).st_mode):
            return None
    except (AttributeError, OSError, ValueError):
        return None
    name = getattr(raw, "name", None)
    folder = os.path.dirname(os.path.abspath(name)) if isinstance(name, str) else None
    try:
        return tempfile.mkdtemp(prefix=".spendtag-export-", dir=folder)
    except OSError:
        return tempfile.mkdtemp(prefix="spendtag-export-")


def _copy_in(path: str, raw: IO[bytes] | None) -> None:
    """Append the file at ``path`` to ``raw`` (flushed), in the kernel where it can, then remove it."""
    assert raw is not None   # a spool is made only for a regular file's bytes
    raw.flush()
    with open(path, "rb") as src:
        left = os.fstat(src.fileno()).st_size
        try:
            while left > 0:
                copied = os.copy_file_range(src.fileno(), raw.fileno(), left)
                if not copied:
                    break
                left -= copied
        except OSError:
            pass   # another file system, or no copy_file_range: the plain way for what is left
        if left > 0:
            src.seek(os.fstat(src.fileno()).st_size - left)
            shutil.copyfileobj(src, raw)
            raw.flush()
    os.unlink(path)
