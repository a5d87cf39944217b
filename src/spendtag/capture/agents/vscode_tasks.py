"""Cline and its forks (Roo Code, Kilo Code): ``tasks/<task id>/ui_messages.json`` into calls.

The extension keeps one folder per task under its VS Code ``globalStorage/<extension id>``
(Cline also under ``~/.cline/data``). ``ui_messages.json`` is a JSON array of the chat's
messages, saved whole on every change. Each model request is one message
``{"type": "say", "say": "api_req_started", "ts": <ms>, "text": "<JSON>"}`` whose text, once
the response is complete, holds ``tokensIn``, ``tokensOut``, ``cacheReads``, ``cacheWrites``
and the extension's own ``cost`` (USD). While the request streams the text holds only
``request`` (Cline) or ``apiProtocol`` (Roo, Kilo): such a message is skipped, and the call
is recorded by the import that finds it complete. The message's ``ts`` never changes (the
webview keys its list with it), so the event id ``<agent>:<task id>:<ts>`` names the call
on every re-read; the ledger keeps the copy with the most usage.

Counts. ``tokensIn`` is uncached input for Anthropic-style providers and the whole prompt
(cache reads, and writes, included) for OpenAI-style ones; which one depends on the provider
and, for Roo Code and Kilo Code, on the version (Roo 3.30 made it the whole prompt
everywhere). Cline's provider is known from ``task_metadata.json``: the ones that subtract
the cache are taken as such. Otherwise the counts say it: ``tokensIn`` at least
``cacheReads + cacheWrites`` (with some cache) is the whole prompt, less is uncached input.

Where the rest comes from (each optional; a task without them is still read):

* the model: the message's ``modelInfo`` (recent Cline), else ``task_metadata.json``
  ``model_usage`` (Cline: the model in use at the request's time, with its provider id),
  else the ``<model>`` of the ``<environment_details>`` the extension sends with each
  request, read from ``api_conversation_history.json`` (Roo, Kilo), else ``unknown``
  (unpriced, never guessed);
* the working directory: ``history_item.json`` ``workspace`` (Roo, Kilo), Cline's
  ``state/taskHistory.json`` ``cwdOnTaskInitialization``, else the
  ``# Current Working Directory (...)`` / ``# Current Workspace Directory (...)`` line of the
  first request's environment details;
* sub-tasks (Roo, Kilo ``new_task``): ``history_item.json`` ``parentTaskId`` /
  ``rootTaskId``. A sub-task's calls go to its root task's session, as agent
  ``<agent>/<mode>`` (``<agent>/subtask`` without a mode).
"""

from __future__ import annotations

import json
import math
import os
import re
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import msgspec

from spendtag.bounds import MAX_COUNT, MAX_TIME_US, MIN_TIME_US, clean_optional
from spendtag.capture.agents import registry
from spendtag.capture.agents.jsonl import AgentCall, LogFile, ReadResult, Tally
from spendtag.capture.agents.models import UNKNOWN, priceable
from spendtag.periods import from_us
from spendtag.usage import Status, Usage, UsageEvent

UI_MESSAGES = "ui_messages.json"
_DECODER = json.JSONDecoder()

# Cline's providers whose tokensIn leaves the cache out (src/core/api/providers/*.ts). The
# others (openai, xai, qwen, requesty, litellm...) send the whole prompt, Roo and Kilo too
# since Roo 3.30: for them the counts decide (see the module doc).
_UNCACHED_INPUT = frozenset({"anthropic", "openrouter", "cline", "gemini", "vertex", "deepseek", "openai-native",
                             "moonshot", "vercel-ai-gateway", "bedrock", "claude-code", "minimax", "zai"})

# Cline's provider ids that name a vendor's own API under another name.
_PROVIDERS = {"openai-native": "openai", "openai-codex": "openai", "claude-code": "anthropic"}

_CWD = re.compile(rb"# Current (?:Working|Workspace) Directory \((.{1,4096}?)\) Files")
_MODEL = re.compile(rb"<model>([^<\\]{1,200})</model>")
_TS = re.compile(rb'"ts"\s*:\s*(\d{10,16})')


class _Message(msgspec.Struct):
    ts: Any = None
    type: Any = None
    say: Any = None
    text: Any = None
    partial: Any = None
    modelInfo: Any = None


class _ReqInfo(msgspec.Struct):
    tokensIn: Any = None
    tokensOut: Any = None
    cacheReads: Any = None
    cacheWrites: Any = None
    cost: Any = None
    cancelReason: Any = None


_DECODE_MESSAGES = msgspec.json.Decoder(list[_Message]).decode
_DECODE_INFO = msgspec.json.Decoder(_ReqInfo).decode
_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError)


@dataclass(frozen=True)
class Family:
    """What differs between Cline, Roo Code and Kilo Code."""

    agent: str                        # the registry name, and the event ids' prefix
    extension: str                    # the VS Code extension id: globalStorage/<extension>


def places(family: Family, env: Mapping[str, str], home: Path, plat: str, *, cline_data: bool = False) -> list[Path]:
    found = registry.vscode_global_storage(env, home, plat, family.extension)
    if cline_data:
        # The Cline CLI and JetBrains plugin (and the extension since its SDK move):
        # $CLINE_DATA_DIR, else $CLINE_DIR/data, else ~/.cline/data.
        data = env.get("CLINE_DATA_DIR", "").strip()
        base = env.get("CLINE_DIR", "").strip()
        if data:
            found.append(registry.expand(data, home))
        elif base:
            found.append(registry.expand(base, home) / "data")
        else:
            found.append(home / ".cline" / "data")
    return found


def files(family: Family, place: Path) -> list[LogFile]:
    """``tasks/*/ui_messages.json`` under a storage folder (or under a ``tasks`` folder, or a task's)."""
    if (place / UI_MESSAGES).is_file():
        return [LogFile(family.agent, place / UI_MESSAGES, place.parent)]
    tasks = place / "tasks" if (place / "tasks").is_dir() else place
    try:
        entries = os.scandir(tasks)
    except OSError:
        return []
    found = []
    with entries:
        for entry in entries:
            path = os.path.join(entry.path, UI_MESSAGES)
            if entry.is_dir() and os.path.isfile(path):
                found.append(LogFile(family.agent, path, place))
    return found


def sniff(family: Family, path: Path, head: bytes) -> bool:
    """A ``ui_messages.json`` under this extension's storage folder; Cline (asked last of the
    three) takes one found anywhere else: the three write the same format."""
    if path.name != UI_MESSAGES or (b'"api_req_started"' not in head and b'"say"' not in head):
        return False
    return family.agent == "cline" or family.extension.lower() in (p.lower() for p in path.parts)


# -- the task's surroundings ---------------------------------------------------------------


def _json_file(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            return msgspec.json.decode(f.read())
    except (OSError, *_DECODE_ERRORS):
        return None


_HISTORY: dict[Path, tuple[tuple[int, int], dict[str, Mapping[str, Any]]]] = {}


def _cline_history(storage: Path) -> dict[str, Mapping[str, Any]]:
    """Cline's ``state/taskHistory.json`` by task id (read once per import while unchanged)."""
    path = storage / "state" / "taskHistory.json"
    try:
        stat = os.stat(path)
    except OSError:
        return {}
    stamp = (stat.st_size, stat.st_mtime_ns)
    cached = _HISTORY.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    doc = _json_file(path)
    items = {str(i["id"]): i for i in doc if isinstance(i, Mapping) and "id" in i} if isinstance(doc, list) else {}
    _HISTORY[path] = (stamp, items)
    return items


@dataclass
class _Task:
    task_id: str
    cwd: str | None = None
    session: str | None = None
    agent: str = ""
    models: list[tuple[int, str | None, str]] | None = None    # (ms, provider, model) in time order
    fallback: tuple[str | None, str] | None = None              # a model with no time
    stamps: list[int] | None = None                              # the models' times, for bisect


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _task(family: Family, log: LogFile, state: dict[str, Any]) -> _Task:
    folder = log.path.parent
    task = _Task(folder.name, agent=family.agent)
    task.session = task.task_id
    item = _json_file(folder / "history_item.json")
    if isinstance(item, Mapping):
        task.cwd = _text(item.get("workspace"))
        parent = _text(item.get("rootTaskId")) or _text(item.get("parentTaskId"))
        if parent and parent != task.task_id:
            task.session = parent
            task.agent = f"{family.agent}/{_text(item.get('mode')) or 'subtask'}"
    if task.cwd is None and family.agent == "cline":
        storage = folder.parent.parent
        entry = _cline_history(storage).get(task.task_id)
        if entry is not None:
            task.cwd = _text(entry.get("cwdOnTaskInitialization"))
            model = _text(entry.get("modelId"))
            if model:
                task.fallback = (None, model)
    meta = _json_file(folder / "task_metadata.json")
    usage = meta.get("model_usage") if isinstance(meta, Mapping) else None
    if isinstance(usage, list):
        models = []
        for entry in usage:
            if isinstance(entry, Mapping) and type(entry.get("ts")) is int and _text(entry.get("model_id")):
                models.append((entry["ts"], _text(entry.get("model_provider_id")), entry["model_id"].strip()))
        if models:
            task.models = sorted(models, key=lambda m: m[0])
    if task.cwd is None:
        task.cwd = _text(state.get("cwd"))
    if task.cwd is None or task.models is None:
        _from_conversation(folder / "api_conversation_history.json", task)
    if task.cwd:
        state["cwd"] = task.cwd
    task.cwd = clean_optional(task.cwd)
    return task


def _from_conversation(path: Path, task: _Task) -> None:
    """The working directory and the models from the environment details sent with the requests."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return
    if task.cwd is None:
        found = _CWD.search(data)
        if found:
            task.cwd = _unescape(found.group(1))
    if task.models is None:
        # Each user message is {"role", "content", "ts"}: a <model> belongs to the next "ts".
        models: list[tuple[int, str | None, str]] = []
        names: dict[bytes, str | None] = {}
        last = None
        for m in _MODEL.finditer(data):
            raw = m.group(1)
            name = names[raw] if raw in names else names.setdefault(raw, _unescape(raw))
            if not name:
                continue
            last = name
            stamp = _TS.search(data, m.end())
            if stamp is not None:
                models.append((int(stamp.group(1)), None, name))
        if models:
            task.models = sorted(models, key=lambda x: x[0])
        elif last is not None and task.fallback is None:
            task.fallback = (None, last)


def _unescape(raw: bytes) -> str | None:
    """A piece of a JSON string as text (``\\\\`` and ``\\"`` undone); None when it is not one."""
    try:
        value = json.loads(b'"' + raw + b'"')
    except ValueError:
        return None
    return value.strip() if isinstance(value, str) and value.strip() else None


def _model_at(task: _Task, ts_ms: int, info: object) -> tuple[str | None, str] | None:
    if isinstance(info, Mapping) and _text(info.get("modelId")):
        return _text(info.get("providerId")), info["modelId"].strip()
    models = task.models
    if models:
        if task.stamps is None:
            task.stamps = [m[0] for m in models]
        # The model in use when the request started (recorded as it starts: 5 s of slack).
        chosen = models[max(0, bisect_right(task.stamps, ts_ms + 5_000) - 1)]
        return chosen[1], chosen[2]
    return task.fallback


# -- reading -------------------------------------------------------------------------------


def _messages(data: bytes, tally: Tally) -> list[Any]:
    """The array's messages; a file cut mid-write gives the ones before the cut."""
    try:
        return list(_DECODE_MESSAGES(data))
    except _DECODE_ERRORS:
        pass
    text = data.decode("utf-8", errors="replace")
    start = text.find("[")
    if start < 0:
        if text.strip():
            tally.bad(0, 1, "not a JSON array of messages")
        return []
    out: list[Any] = []
    pos = start + 1
    size = len(text)
    while pos < size:
        while pos < size and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= size or text[pos] == "]":
            break
        try:
            value, pos = _DECODER.raw_decode(text, pos)
        except (ValueError, RecursionError):
            tally.note(text.count("\n", 0, pos) + 1, "the file ends mid-message (being saved?): read up to there")
            break
        out.append(value)
    return out


def _count(value: object, name: str) -> int:
    if value is None:
        return 0
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int or not 0 <= value <= MAX_COUNT:
        raise ValueError(f"{name} must be a whole number of tokens, got {value!r}")
    return value


def _cost(value: object) -> Decimal | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return None
    return None


def read(family: Family, log: LogFile, state: dict[str, Any]) -> ReadResult:
    with open(log.path, "rb") as f:
        data = f.read()
    tally = Tally(log.path, 0)
    messages = _messages(data, tally)
    task = _task(family, log, state)
    calls: list[AgentCall] = []
    events: list[UsageEvent] = []
    logged = Decimal(0)
    seen: set[int] = set()
    for n, message in enumerate(messages, 1):
        tally.lines += 1
        if isinstance(message, _Message):
            say, kind, ts, text, partial, info = (message.say, message.type, message.ts, message.text,
                                                  message.partial, message.modelInfo)
        elif isinstance(message, Mapping):
            get = message.get
            say, kind, ts, text, partial, info = (get("say"), get("type"), get("ts"), get("text"), get("partial"),
                                                  get("modelInfo"))
        else:
            tally.bad(0, n, "a message that is not an object")
            continue
        if say != "api_req_started" or kind != "say":
            tally.skip(0)
            continue
        if type(ts) is not int or not MIN_TIME_US <= ts * 1000 < MAX_TIME_US:
            tally.bad(0, n, f"api_req_started without a readable ts: {ts!r}")
            continue
        if not isinstance(text, str):
            tally.bad(0, n, "api_req_started without its text")
            continue
        try:
            req = _DECODE_INFO(text)
            inp, out = _count(req.tokensIn, "tokensIn"), _count(req.tokensOut, "tokensOut")
            reads, writes = _count(req.cacheReads, "cacheReads"), _count(req.cacheWrites, "cacheWrites")
        except _DECODE_ERRORS as exc:
            tally.bad(0, n, f"api_req_started text: {exc}")
            continue
        if partial is True or not (inp or out or reads or writes):
            tally.skip(0)           # still streaming, or failed before any usage
            continue
        if ts in seen:
            tally.skip(0)           # (a message saved twice within one file)
            continue
        seen.add(ts)
        found = _model_at(task, ts, info)
        agent_provider, model = found if found is not None else (None, UNKNOWN)
        if _whole_prompt(agent_provider, inp, reads, writes):
            inp = inp - reads - writes
        provider, model = priceable(_PROVIDERS.get(agent_provider or "", agent_provider), model)
        cost = _cost(req.cost)
        if cost is not None:
            logged += cost
        event_id = f"{family.agent}:{task.task_id}:{ts}"
        counts = (inp, reads, writes, 0, out)
        if req.cancelReason is None:
            calls.append(AgentCall(event_id, ts * 1000, provider, model, counts, None, None, task.cwd,
                                   task.session, task.agent, family.agent, None))
        else:
            # Cut by the user or a failed stream: the usage of what streamed, marked so.
            usage = Usage(input_tokens=inp, cache_read_tokens=reads, cache_write_5m_tokens=writes, output_tokens=out)
            status: Status = "aborted" if req.cancelReason == "user_cancelled" else "error"
            events.append(UsageEvent(
                event_id=event_id, ts=from_us(ts * 1000), provider=provider, model=model, usage=usage,
                project=task.cwd, session=task.session, agent=task.agent, source=family.agent, status=status))
    return tally.result(events, len(data), logged, calls)


def _whole_prompt(provider: str | None, tokens_in: int, reads: int, writes: int) -> bool:
    if not reads and not writes:
        return False
    if provider in _UNCACHED_INPUT:
        return False
    # A provider known to send the whole prompt, or none known: the counts say it.
    return tokens_in >= reads + writes


def reader(family: Family) -> registry.Reader:
    def _read(log: LogFile, offset: int, *, state: dict[str, Any], final: bool, compact: bool) -> ReadResult:
        result = read(family, log, state)
        if not compact and result.calls:
            result.events.extend(call.event() for call in result.calls)
            result.calls = []
        return result

    return _read
