"""Kimi CLI sessions (``~/.kimi/sessions/<work dir md5>/<session>/wire.jsonl``) into calls.

``wire.jsonl`` starts with ``{"type": "metadata", "protocol_version": ...}``, then one
``{"timestamp": <unix seconds>, "message": {"type", "payload"}}`` per event. Each model step
ends with a ``StatusUpdate`` whose payload has ``token_usage`` ``{input_other, output,
input_cache_read, input_cache_creation}`` (disjoint: ``input_other`` leaves both cache
counts out) and ``message_id``, the provider's response id. A sub-agent's steps come
wrapped as ``SubagentEvent {agent_id, subagent_type, event: {type, payload}}`` in the
parent's file, and again in ``<session>/subagents/<agent id>/wire.jsonl`` (its ``meta.json``
names the ``subagent_type``): both are the agent ``kimi-cli/<subagent_type>``. The event id
``kimi-cli:<message_id>`` is the same in both, so a step is recorded once. A step without a
message id is ``kimi-cli:<session>:<timestamp>``. A ``StatusUpdate`` without
``token_usage`` (a context or plan-mode update) is not a call.

The wire does not name the model: it is the ``default_model`` of ``config.toml`` (its
``model`` name and its provider's ``type``) next to ``sessions/``, else ``unknown``
(unpriced). The working directory is the ``work_dirs`` entry of ``kimi.json`` whose path's
MD5 names the session's folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from spendtag.bounds import MAX_COUNT, clean_optional
from spendtag.capture.agents import registry
from spendtag.capture.agents.jsonl import AgentCall, LogFile, ReadResult, Tally, read_lines
from spendtag.capture.agents.models import UNKNOWN, priceable

SOURCE = "kimi-cli"
_PROVIDER_TYPES = {"kimi": "moonshotai", "openai_legacy": None, "openai_responses": "openai", "anthropic": "anthropic",
                   "gemini": "google", "google_genai": "google", "vertexai": "google"}


class _Envelope(msgspec.Struct):
    type: Any = None
    payload: Any = None


class _Line(msgspec.Struct):
    timestamp: Any = None
    message: _Envelope | None = None
    type: Any = None


_DECODE = msgspec.json.Decoder(_Line).decode
_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError)


def share_dir(env: Mapping[str, str], home: Path) -> Path:
    configured = env.get("KIMI_SHARE_DIR", "").strip()
    return registry.expand(configured, home) if configured else home / ".kimi"


def places(env: Mapping[str, str], home: Path, plat: str) -> list[Path]:
    return [share_dir(env, home) / "sessions"]


def files(place: Path) -> list[LogFile]:
    root = place / "sessions" if (place / "sessions").is_dir() else place
    found = [*root.glob("*/*/wire.jsonl"), *root.glob("*/*/subagents/*/wire.jsonl")]
    return [LogFile(SOURCE, f, root) for f in sorted(found) if f.is_file()]


def sniff(path: Path, head: bytes) -> bool:
    return path.name == "wire.jsonl" and (b'"protocol_version"' in head or b'"StatusUpdate"' in head
                                          or b'"TurnBegin"' in head)


# -- what the files around the sessions say -------------------------------------------------

_CACHE: dict[Path, tuple[tuple[int, int], Any]] = {}


def _cached(path: Path, parse: Any) -> Any:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    stamp = (stat.st_size, stat.st_mtime_ns)
    hit = _CACHE.get(path)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    try:
        with open(path, "rb") as f:
            value = parse(f.read())
    except (OSError, ValueError, tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError):
        value = None
    _CACHE[path] = (stamp, value)
    return value


def _work_dirs(share: Path) -> dict[str, str]:
    def parse(data: bytes) -> dict[str, str]:
        doc = json.loads(data)
        out: dict[str, str] = {}
        for wd in doc.get("work_dirs", []) if isinstance(doc, dict) else []:
            if isinstance(wd, dict) and isinstance(wd.get("path"), str):
                digest = hashlib.md5(wd["path"].encode("utf-8"), usedforsecurity=False).hexdigest()
                kaos = wd.get("kaos")
                out[digest if kaos in (None, "local") else f"{kaos}_{digest}"] = wd["path"]
        return out

    return _cached(share / "kimi.json", parse) or {}


def _model(share: Path) -> tuple[str | None, str]:
    def parse(data: bytes) -> tuple[str | None, str] | None:
        doc = tomllib.loads(data.decode("utf-8"))
        alias = doc.get("default_model")
        entry = doc.get("models", {}).get(alias) if isinstance(alias, str) else None
        if not isinstance(entry, dict) or not isinstance(entry.get("model"), str):
            return None
        provider = doc.get("providers", {}).get(entry.get("provider"))
        kind = provider.get("type") if isinstance(provider, dict) else None
        return (_PROVIDER_TYPES.get(kind, kind) if isinstance(kind, str) else None), entry["model"]

    return _cached(share / "config.toml", parse) or (None, UNKNOWN)


# -- reading -------------------------------------------------------------------------------


def _count(usage: Mapping[str, Any], name: str) -> int:
    value = usage.get(name)
    if value is None:
        return 0
    if type(value) is not int or not 0 <= value <= MAX_COUNT:
        raise ValueError(f"token_usage.{name} must be a whole number of tokens, got {value!r}")
    return value


class _Reader:
    def __init__(self, log: LogFile, tally: Tally, line_no: int) -> None:
        self.tally = tally
        self.line_no = line_no
        self.calls: list[AgentCall] = []
        path = log.path
        if path.parent.parent.name == "subagents":       # <session>/subagents/<agent id>/wire.jsonl
            session_dir = path.parent.parent.parent
            meta = _cached(path.parent / "meta.json", json.loads)
            kind = meta.get("subagent_type") if isinstance(meta, dict) else None
            self.own_agent: str | None = f"{SOURCE}/{kind if isinstance(kind, str) and kind else path.parent.name}"
        else:
            session_dir = path.parent
            self.own_agent = None
        self.session = session_dir.name
        share = session_dir.parent.parent.parent
        self.project = clean_optional(_work_dirs(share).get(session_dir.parent.name))
        provider, model = _model(share)
        self.provider, self.model = priceable(provider, model)

    def feed(self, start: int, line: bytes) -> None:
        self.line_no += 1
        if not self.tally.line(start):
            return
        if b'"token_usage"' not in line:
            if line.strip():
                self.tally.skip(start)
            return
        try:
            rec = _DECODE(line)
        except _ERRORS as exc:
            self.tally.bad(start, self.line_no, f"not a wire record ({exc})")
            return
        try:
            self._record(start, rec)
        except (ValueError, TypeError) as exc:
            self.tally.bad(start, self.line_no, str(exc))

    def _record(self, start: int, rec: _Line) -> None:
        msg = rec.message
        if msg is None:
            self.tally.skip(start)
            return
        kind, payload, agent = msg.type, msg.payload, self.own_agent or SOURCE
        if kind == "SubagentEvent" and isinstance(payload, Mapping):
            inner = payload.get("event")
            name = payload.get("subagent_type") or payload.get("agent_id")
            agent = f"{SOURCE}/{name}" if isinstance(name, str) and name else f"{SOURCE}/subagent"
            if not isinstance(inner, Mapping):
                raise ValueError("SubagentEvent without its event")
            kind, payload = inner.get("type"), inner.get("payload")
        if kind != "StatusUpdate" or not isinstance(payload, Mapping) or payload.get("token_usage") is None:
            self.tally.skip(start)
            return
        usage = payload["token_usage"]
        if not isinstance(usage, Mapping):
            raise ValueError("token_usage is not an object")
        ts = rec.timestamp
        if not isinstance(ts, int | float) or isinstance(ts, bool) or not 946_684_800 <= ts < 4_102_444_800:
            raise ValueError(f"a StatusUpdate without a readable timestamp: {ts!r}")
        counts = (_count(usage, "input_other"), _count(usage, "input_cache_read"),
                  _count(usage, "input_cache_creation"), 0, _count(usage, "output"))
        if not any(counts):
            self.tally.skip(start)
            return
        ts_us = round(ts * 1_000_000)
        message_id = payload.get("message_id")
        if isinstance(message_id, str) and message_id:
            event_id = f"{SOURCE}:{message_id}"
        else:
            event_id = f"{SOURCE}:{self.session}:{ts_us}"
            message_id = None
        self.calls.append(AgentCall(event_id, ts_us, self.provider, self.model, counts, None, None, self.project,
                                    clean_optional(self.session), clean_optional(agent) or SOURCE, SOURCE,
                                    clean_optional(message_id)))


def read(log: LogFile, offset: int = 0, *, state: dict[str, Any] | None = None, compact: bool = False) -> ReadResult:
    """Complete lines from ``offset``; ``state`` keeps the line number reached."""
    return read_lines(log, offset, state, compact, lambda tally, st: _Reader(log, tally, int(st.get("line", 0))))


def _read(log: LogFile, offset: int, *, state: dict[str, Any], final: bool, compact: bool) -> ReadResult:
    return read(log, offset, state=state, compact=compact)


AGENT = registry.Agent(
    name="kimi-cli", title="Kimi CLI",
    places=places, files=files, read=_read, sniff=sniff, patterns=("wire.jsonl",),
    notes="session wires (~/.kimi/sessions, $KIMI_SHARE_DIR)",
)
