"""Importing coding-agent logs into the ledger, incrementally and crash-safely.

For each log file the ledger keeps how far it was read (a byte offset, plus the reader's
small state), the size and modification time it had, and a hash of its first 4 KiB. A
file that did not change is skipped without being opened; one that grew is read from the
offset; one that shrank or whose start changed was rewritten and is read from the top.
A group of files' events and their offsets are committed in one transaction, so a crash
leaves neither without the other, and the next import reads those files again (event ids
are the records' own, so nothing is counted twice).

A Claude Code call still being written (the newest of a live session) is recorded at once
with the usage its lines carry so far; when a later import finds a copy that grew, the
recorded event is replaced by it (``Store.record_import``'s revised copies), once, with
its previous usage and cost kept as a revision. Calls written in the last hour go to the
ledger as such copies too (the ledger keeps the largest): another import running at the
same time may have recorded one while it was being written, and its reader state is not
this one's. So does every call of a file read again from the top (rewritten).

Large imports read, price and compact the files in worker processes (one per core) while
this process records what they hand back, in file order: the ledger ends up the same as
with one process, because the first copy of a call (in file order) is the one recorded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from spendtag.attribution import Rules
from spendtag.capture.agents import AgentCall, LogFile, read, registry
from spendtag.ledger.rollup_store import ImportPartBuilder
from spendtag.ledger.store import ImportPart, ImportState, Store
from spendtag.recording import Recorder
from spendtag.usage import PricedEvent, UsageEvent

if TYPE_CHECKING:
    from spendtag.pricing.pricer import Pricer

HEAD_BYTES = 4096
# A log untouched this long is finished: calls still open at its end are closed as they are
# (they were recorded already; closing them only stops the next imports re-reading them).
QUIET = 3600
# Calls from this long ago to this far ahead (seconds) may be live: recorded as revised copies.
LIVE_BEFORE, LIVE_AFTER = QUIET, 300
_ALWAYS = (-(1 << 62), 1 << 62)     # bounds of call times (µs) taken as revised copies: all of them
_NEVER = (0, -1)                    # none


@dataclass
class FileReport:
    path: str
    agent: str
    read: int = 0                 # calls read from the file this time
    malformed: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)
    logged_cost_usd: Decimal = Decimal(0)
    priced_cost: int = 0          # pico-USD spendtag computed for the calls read now
    restarted: bool = False       # the file was rewritten or truncated and read from the top


@dataclass
class ImportReport:
    files: list[FileReport] = field(default_factory=list)
    unchanged: int = 0
    inserted: int = 0
    duplicates: int = 0
    updated: int = 0              # calls recorded while still being written, whose usage grew since

    def total(self, name: str) -> int:
        if name in ("inserted", "duplicates", "updated"):
            return int(getattr(self, name))
        return sum(getattr(f, name) for f in self.files)

    @property
    def problems(self) -> list[str]:
        return [p for f in self.files for p in f.problems]


def head_hash(path: str | Path, length: int) -> str:
    """A fingerprint of the file's first ``length`` bytes (at most HEAD_BYTES): what was already read."""
    import hashlib  # ~4 ms to load (OpenSSL): only when a file has changed, never on an unchanged tree

    with open(path, "rb") as f:
        return hashlib.sha256(f.read(min(HEAD_BYTES, length))).hexdigest()


# The files of a group are recorded in one transaction with their offsets (as they are read:
# the group is not held in memory). Large transactions write each touched ledger page once;
# the time limit keeps other writers (a proxy on the same ledger) from waiting long.
GROUP_CALLS = 150_000
GROUP_FILES = 5_000
GROUP_SECONDS = 3.0
# Worker processes only pay off past this much to read; the jobs handed to one are about this
# big; and this much is read ahead, so that the workers keep reading while a group is recorded
# (what they hand back waits in memory: about 200 bytes per KiB of log).
PARALLEL_BYTES = 64 << 20
CHUNK_BYTES = 4 << 20
AHEAD_BYTES = 96 << 20
# What a file costs beyond its bytes (opening it, its reader's set-up, its state), counted as
# bytes to read: a tree of 100k small files (Droid) is much to read too.
FILE_BYTES = 8 << 10


class _Job(NamedTuple):
    """One file to read: from where, with what reader state, and what it looked like (a tuple:
    cheap to hand to a worker, 100k of them for a tree of small files)."""

    log: LogFile
    offset: int
    state: dict[str, Any]
    final: bool
    restarted: bool
    size: int
    mtime_ns: int
    whole: bool = False           # rewritten as a whole: not "restarted" in the report, no head hash


# What reading one file gives back: its report, its new state and its events as compact
# tuples. Plain data, cheap to pickle from a worker.
_Read = tuple[FileReport, ImportState, ImportPart]
# The same as plain tuples: dataclasses with slots pickle through Python code, a few µs each.
_PlainRead = tuple[tuple[Any, ...], tuple[Any, ...], ImportPart]


class _FileReader:
    """Reads, attributes, prices and compacts one file at a time (in this process or a worker)."""

    def __init__(self, pricer: Pricer, rules: Rules | None, compare: bool, titles: bool = True) -> None:
        self.pricer = pricer
        self.rules = rules
        self.compare = compare
        self.titles = titles
        self._tags_of: dict[str | None, tuple[tuple[str, str], ...]] = {}   # project -> the rules' tags

    def __call__(self, job: _Job) -> _Read:
        log = job.log
        result = read(log, job.offset, state=job.state, final=job.final, compact=True)
        events = _attributed(result.events, self.rules)
        priced = self.pricer.price_many(events) if events else []
        builder = ImportPartBuilder()
        # A file read again from the top may hold larger copies of calls recorded from it
        # while they were being written: given as revised copies, the ledger keeps the largest.
        for p in priced:
            builder.add(p, revised=job.restarted)
        now = time.time()
        live = (int((now - LIVE_BEFORE) * 1_000_000), int((now + LIVE_AFTER) * 1_000_000))
        cost = sum(p.cost.total for p in priced) + self._add_calls(builder, result.calls,
                                                                   _ALWAYS if job.restarted else live)
        if result.revised:
            for p in self.pricer.price_many(_attributed(result.revised, self.rules)):
                builder.add(p, revised=True)
        if result.revised_calls:
            self._add_calls(builder, result.revised_calls, _ALWAYS)
        key = log.key
        report = FileReport(key, log.agent, len(events) + len(result.calls), result.malformed, result.skipped,
                            list(result.problems), result.logged_cost_usd, cost if self.compare else 0,
                            job.restarted and not job.whole)
        state = ImportState(key, log.agent, job.size if job.whole else result.offset, job.size, job.mtime_ns,
                            "" if job.whole else head_hash(key, result.offset), job.state,
                            result.titles if self.titles else {})
        return report, state, builder.part()

    def _add_calls(self, builder: ImportPartBuilder, calls: list[AgentCall],
                   revised: tuple[int, int] = _NEVER) -> int:
        """Attribute, price and compact a reader's calls into ``builder`` (as revised copies those
        whose time, in µs, is within the bounds ``revised``); their total cost (pico-USD).

        Text-only calls whose price is already resolved go straight to rows
        (``Pricer.text_cost``); the others, and the first of each model, day and tier, go
        through a UsageEvent and ``Pricer.price``: the same row either way.
        """
        pricer, text_cost, tags_of = self.pricer, self.pricer.text_cost, self._tags_of
        lo, hi = revised
        total = 0
        for call in calls:
            tags = tags_of.get(call.project)
            if tags is None:
                found = self.rules.apply(call.project, {}) if self.rules else {}
                tags = tags_of[call.project] = tuple(found.items())
            counts = call.counts
            priced = None if counts is None else text_cost(call.provider, call.model, call.ts_us, call.service_tier,
                                                           counts, call.reasoning)
            if priced is not None:
                assert counts is not None
                ref, row = priced
                dims = (call.provider, call.model, call.project, call.agent, None, None, call.source, "ok", tags)
                builder.add_text(dims, ref, call.event_id, call.ts_us, call.session, call.response_id,
                                 call.service_tier, counts, row, reasoning=call.reasoning,
                                 revised=lo <= call.ts_us <= hi)
                total += row[-1]
            else:
                event = call.event()
                event.tags = dict(tags)
                cost = pricer.price(event)
                builder.add(PricedEvent(event, cost), revised=lo <= call.ts_us <= hi)
                total += cost.total
        return total

    def many(self, jobs: list[_Job]) -> list[_Read]:
        return [self(job) for job in jobs]


_WORKER: _FileReader | None = None   # set in each worker process (inherited when forked)


def _start_worker(reader: _FileReader, parent: int) -> None:
    global _WORKER
    _WORKER = reader
    # A worker waits on a pipe it also holds open, so it would outlive a killed import: leave
    # as soon as the importing process is gone.
    threading.Thread(target=_exit_with, args=(parent,), name="spendtag-import-parent", daemon=True).start()
    # Short-lived and free of reference cycles: the collector would only rescan what is read.
    gc.disable()
    # The recording process is the one everything waits for: when cores are short, it goes first.
    with contextlib.suppress(OSError):
        os.nice(5)


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


_REPORT_FIELDS = tuple(f.name for f in dataclasses.fields(FileReport))
_STATE_FIELDS = tuple(f.name for f in dataclasses.fields(ImportState))


def _work(jobs: list[_Job]) -> list[_PlainRead]:
    assert _WORKER is not None
    return [(tuple(getattr(r, n) for n in _REPORT_FIELDS), tuple(getattr(s, n) for n in _STATE_FIELDS), part)
            for r, s, part in _WORKER.many(jobs)]


def _unpacked(reads: list[_PlainRead]) -> Iterator[_Read]:
    for report, state, part in reads:
        yield FileReport(*report), ImportState(*state), part


def import_files(store: Store, recorder: Callable[[], Recorder], logs: Iterable[LogFile], rules: Rules | None = None,
                 *, progress: Callable[[int], None] | None = None, compare: bool = False,
                 workers: int | None = None, titles: bool = True) -> ImportReport:
    """Read every log from where the last import stopped and record what is new.

    ``recorder`` is called only when there is something to record (making one loads the
    price data, which an unchanged tree never needs). ``workers``: processes reading the
    files (None: one per core when there is much to read; 0 or 1: none). ``titles``: keep
    the session titles the readers find (off: the setting ``session_titles = "off"``).
    """
    report = ImportReport()
    jobs = _jobs(store, logs, report, progress)
    if not jobs:
        return report
    reader = _FileReader(recorder().pricer, rules, compare, titles)
    # Millions of small tuples and no reference cycles: the cyclic collector would rescan the
    # growing batches again and again (a third of the time on a large import).
    collecting = gc.isenabled()
    gc.disable()
    try:
        _import(store, reader, jobs, report, progress, workers)
    finally:
        if collecting:
            gc.enable()
    return report


def _import(store: Store, reader: _FileReader, jobs: list[_Job], report: ImportReport,
            progress: Callable[[int], None] | None, workers: int | None) -> None:
    results = _read_all(reader, jobs, workers)
    more = True

    def group() -> Iterator[tuple[ImportPart, ImportState]]:
        """The next files for one transaction: until GROUP_CALLS calls, GROUP_FILES files or GROUP_SECONDS."""
        nonlocal more
        calls = 0
        started = time.monotonic()
        for files, (file_report, state, part) in enumerate(results, 1):
            report.files.append(file_report)
            yield part, state
            if progress:
                progress(state.size)
            calls += len(part[1]) + len(part[2])
            if calls >= GROUP_CALLS or files >= GROUP_FILES or time.monotonic() - started >= GROUP_SECONDS:
                return
        more = False

    while more:
        result = store.record_import(group())
        report.inserted += result.inserted
        report.duplicates += result.duplicates
        report.updated += result.updated


def _jobs(store: Store, logs: Iterable[LogFile], report: ImportReport,
          progress: Callable[[int], None] | None) -> list[_Job]:
    """The files to read and from where; unchanged ones are counted in ``report`` and left out."""
    # One read for every file's size, time and offset: an unchanged tree is checked without
    # decoding any file's reader state.
    summaries = store.import_summaries()
    jobs = []
    now = time.time()
    specs: dict[str, registry.Agent] = {}
    spec: registry.Agent | None = None
    for log in logs:
        key = log.key
        if spec is None or spec.name != log.agent:
            spec = specs.get(log.agent)
            if spec is None:
                spec = specs[log.agent] = registry.get(log.agent)
        try:
            size, mtime_ns = spec.stamp(key)
        except OSError:
            continue
        summary = summaries.get(key)
        if (summary is not None and summary[0] == size and summary[1] == mtime_ns
                and (summary[2] >= size or spec.whole or now - mtime_ns / 1e9 <= QUIET)):
            # Unchanged, and nothing is waiting to be closed (an open call at the end of a
            # file that has since gone quiet is closed by reading it once more, final).
            report.unchanged += 1
            if progress:
                progress(size)
            continue
        offset, state, restarted = 0, {}, False
        saved = store.import_state(key) if summary is not None else None
        if spec.whole:
            # Rewritten as a whole: read again from the top with the reader's own state, and
            # recorded as revised copies (each call once, the copy with the most usage kept).
            if saved is not None:
                state, restarted = dict(saved.state), True
        elif saved is not None:
            if size >= saved.offset and head_hash(key, saved.offset) == saved.head_hash:
                offset, state = saved.offset, dict(saved.state)
            else:
                restarted = True
        quiet = now - mtime_ns / 1e9 > QUIET
        jobs.append(_Job(log, offset, state, quiet, restarted, size, mtime_ns, spec.whole))
    return jobs


def _read_all(reader: _FileReader, jobs: list[_Job], workers: int | None) -> Iterator[_Read]:
    """Each job's result, in job order: here, or from worker processes when there is much to read."""
    to_read = sum(map(_to_read, jobs))
    if workers is None:
        workers = (os.cpu_count() or 1) if to_read >= PARALLEL_BYTES else 0
    if workers <= 1 or len(jobs) < 2 or not _can_fork():
        for job in jobs:
            yield reader(job)
        return
    yield from _read_in_workers(reader, _chunks(jobs), workers)


def _to_read(job: _Job) -> int:
    """What reading ``job`` costs, in bytes read."""
    return job.size - job.offset + FILE_BYTES


def _can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def _chunks(jobs: Sequence[_Job]) -> Iterator[tuple[list[_Job], int]]:
    """Jobs in chunks of about CHUNK_BYTES to read, with their size."""
    chunk: list[_Job] = []
    size = 0
    for job in jobs:
        chunk.append(job)
        size += _to_read(job)
        if size >= CHUNK_BYTES:
            yield chunk, size
            chunk, size = [], 0
    if chunk:
        yield chunk, size


def _read_in_workers(reader: _FileReader, chunks: Iterator[tuple[list[_Job], int]],
                     workers: int) -> Iterator[_Read]:
    """Results in order, with at most a few chunks in flight (memory stays bounded on huge trees)."""
    import multiprocessing
    from collections import deque
    from concurrent.futures import Future, ProcessPoolExecutor

    # Forked: the workers inherit the loaded price data and rules instead of loading them again.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(reader, os.getpid())) as pool:
        in_flight: deque[tuple[Future[list[_PlainRead]], int]] = deque()
        ahead = 0
        for chunk, size in chunks:
            in_flight.append((pool.submit(_work, chunk), size))
            ahead += size
            while ahead >= AHEAD_BYTES and len(in_flight) > workers:
                future, done = in_flight.popleft()
                ahead -= done
                yield from _unpacked(future.result())
        while in_flight:
            yield from _unpacked(in_flight.popleft()[0].result())


def _attributed(events: list[UsageEvent], rules: Rules | None) -> list[UsageEvent]:
    if not rules:
        return events
    for event in events:
        event.tags = rules.apply(event.project, event.tags)
    return events
