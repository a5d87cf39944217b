"""Amp (Sourcegraph's ampcode) threads into usage events: ``threads/T-<uuid>.json``.

Amp saves each thread as one JSON document, rewritten as it grows, under
``$AMP_DATA_DIR`` or ``~/.local/share/amp``. Each assistant message carries the call's
``usage``: ``model``, ``inputTokens`` (uncached), ``cacheCreationInputTokens``,
``cacheReadInputTokens``, ``outputTokens``, ``timestamp`` and ``credits``. Older threads
have instead ``usageLedger.events`` (``id``, ``timestamp``, ``model``, ``credits``,
``tokens.input``/``output``, ``toMessageId``): read only when no message has usage. The
event id is ``amp:<thread id>:<messageId>`` (``amp:<thread id>:<ledger event id>`` from the
ledger). The project is the thread's first workspace tree (``env.initial.trees[].uri``).
``credits`` are kept as the logged cost (USD, as Amp shows them).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import msgspec

from spendtag.capture.agents import discovery, registry
from spendtag.capture.agents.jsonl import AgentCall, LogFile, ReadResult, Tally, time_us
from spendtag.capture.agents.models import guess_provider
from spendtag.capture.agents.records import Calls, call, count, usd
from spendtag.errors import UsageFormatError

SOURCE = "amp"


def _project(thread: Mapping[str, Any]) -> str | None:
    env = thread.get("env")
    initial = env.get("initial") if isinstance(env, Mapping) else None
    trees = initial.get("trees") if isinstance(initial, Mapping) else None
    for tree in trees if isinstance(trees, list) else []:
        uri = tree.get("uri") if isinstance(tree, Mapping) else None
        if isinstance(uri, str) and uri.startswith("file://"):
            path = unquote(urlparse(uri).path)
            # file:///C:/work/x -> C:/work/x
            return path[1:] if len(path) > 2 and path[2] == ":" else path
    return None


_Found = tuple[AgentCall, Decimal | None] | None


def _message_call(thread_id: str, msg: Mapping[str, Any], project: str | None) -> _Found:
    usage = msg.get("usage")
    if not isinstance(usage, Mapping):
        return None
    mid = msg.get("messageId")
    if not isinstance(mid, int | str) or isinstance(mid, bool) or mid == "":
        raise UsageFormatError("an assistant message without a messageId")
    inp, out = count(usage.get("inputTokens"), "inputTokens"), count(usage.get("outputTokens"), "outputTokens")
    write = count(usage.get("cacheCreationInputTokens"), "cacheCreationInputTokens")
    read = count(usage.get("cacheReadInputTokens"), "cacheReadInputTokens")
    if not (inp or out or write or read):
        return None
    model = usage.get("model") or msg.get("model")
    if not isinstance(model, str) or not model:
        raise UsageFormatError(f"message {mid}: no model")
    ts = time_us(usage.get("timestamp") or msg.get("timestamp"))
    if ts is None:
        raise UsageFormatError(f"message {mid}: no readable timestamp")
    found = call(f"{SOURCE}:{thread_id}:{mid}", ts, guess_provider(model), model, input=inp, cache_read=read,
                 cache_write=write, output=out, project=project, session=thread_id, agent=SOURCE, source=SOURCE)
    return found, usd(usage.get("credits"))


def _ledger_call(thread_id: str, event: Mapping[str, Any], project: str | None) -> _Found:
    tokens = event.get("tokens")
    if not isinstance(tokens, Mapping):
        return None
    eid = event.get("id")
    if not isinstance(eid, str) or not eid:
        raise UsageFormatError("a usage ledger event without an id")
    inp, out = count(tokens.get("input"), "tokens.input"), count(tokens.get("output"), "tokens.output")
    if not (inp or out):
        return None
    model = event.get("model")
    if not isinstance(model, str) or not model:
        raise UsageFormatError(f"ledger event {eid}: no model")
    ts = time_us(event.get("timestamp"))
    if ts is None:
        raise UsageFormatError(f"ledger event {eid}: no readable timestamp")
    found = call(f"{SOURCE}:{thread_id}:{eid}", ts, guess_provider(model), model, input=inp, output=out,
                 project=project, session=thread_id, agent=SOURCE, source=SOURCE)
    return found, usd(event.get("credits"))


def read_thread(log: LogFile, *, compact: bool = True) -> ReadResult:
    tally = Tally(log.path, 0)
    try:
        raw = log.path.read_bytes()
        thread = msgspec.json.decode(raw)
    except OSError as exc:
        tally.malformed += 1
        tally.note(0, f"unreadable ({exc})")
        return tally.result([], 0)
    except (msgspec.DecodeError, RecursionError) as exc:
        tally.malformed += 1   # (Amp writes the whole file at once: a cut one is read again when rewritten)
        tally.note(1, f"not a JSON document ({exc})")
        return tally.result([], 0)
    thread_id = thread.get("id") if isinstance(thread, dict) else None
    if not isinstance(thread_id, str) or not thread_id:
        tally.malformed += 1
        tally.note(1, "not an Amp thread (no id)")
        return tally.result([], len(raw))
    project = _project(thread)
    messages = thread.get("messages")
    messages = [m for m in messages if isinstance(m, Mapping)] if isinstance(messages, list) else []
    ledger = thread.get("usageLedger")
    events = ledger.get("events") if isinstance(ledger, Mapping) else None
    use_ledger = isinstance(events, list) and not any(isinstance(m.get("usage"), Mapping) for m in messages)
    records: list[Any] = events if use_ledger and isinstance(events, list) else messages
    found = Calls(tally)
    make = _ledger_call if use_ledger else _message_call
    for number, record in enumerate(records, 1):
        if not isinstance(record, Mapping) or (not use_ledger and record.get("role") != "assistant"):
            found.add(number, lambda: None)      # counted, and skipped: no billable usage
            continue
        found.add(number, partial(make, thread_id, record, project))
    return found.result(len(raw), compact)


def _read(log: LogFile, offset: int, *, state: dict[str, Any], final: bool, compact: bool) -> ReadResult:
    return read_thread(log, compact=compact)


def places(env: Mapping[str, str], home: Path, plat: str) -> list[Path]:
    configured = [e.strip() for e in env.get("AMP_DATA_DIR", "").split(",") if e.strip()]
    if configured:
        return [registry.expand(e, home) for e in configured]
    found = [registry.data_home(env, home, "linux") / "amp"]
    if plat == "win32":
        found.append(registry.data_home(env, home, plat) / "amp")
    return found


def files(place: Path) -> list[LogFile]:
    threads = place / "threads" if (place / "threads").is_dir() else place
    if not threads.is_dir():
        return [LogFile(SOURCE, place, place.parent)] if place.is_file() else []
    return [LogFile(SOURCE, log.key, place) for log in discovery.scan(SOURCE, threads, ("*.json",))]


def sniff(path: Path, head: bytes) -> bool:
    return path.name.startswith("T-") and path.suffix == ".json" and b'"messages"' in head


AGENT = registry.Agent(
    name="amp", title="Amp", places=places, files=files, read=_read, sniff=sniff, whole=True, logs_cost=True,
    patterns=("T-*.json",), notes="threads/T-*.json (~/.local/share/amp)",
)
