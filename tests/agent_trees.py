"""Generated Claude Code and Codex log trees, with the calls they hold worked out independently.

The generator decides each API call first (ids, model, disjoint token buckets) and then
writes it the way the agent would: Claude Code as several lines per call with placeholder
output on the earlier ones, copied into resumed sessions, replayed on sidechains, wrapped in
sub-agent ``progress`` lines; Codex as cumulative ``token_count`` events, each emitted twice,
with ``info: null`` updates, model switches and a forked rollout that replays its parent.
``Tree.calls`` is the truth the readers are tested against: it is never computed by a reader.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from spendtag.capture.agents import LogFile, ReadResult, read
from spendtag.usage import UsageEvent

BUCKETS = ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
           "output_tokens", "reasoning_tokens", "web_search_requests")
CLAUDE_MODELS = ("claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001")
CODEX_MODELS = ("gpt-5-codex", "gpt-5.1-codex-mini", "gpt-5.1-codex")
PROJECTS = ("/home/u/clients/acme/api", "/home/u/clients/globex_web", "/home/u/oss/tool.py")


@dataclass(frozen=True)
class Call:
    event_id: str
    ts: datetime
    model: str
    session: str
    project: str
    agent: str
    buckets: tuple[tuple[str, int], ...]

    def get(self, name: str) -> int:
        return dict(self.buckets).get(name, 0)


@dataclass
class Tree:
    root: Path                       # ~/.claude/projects or CODEX_HOME
    files: list[Path]
    calls: list[Call]                # every call the files hold, once, closed
    open_calls: list[Call] = field(default_factory=list)   # written but not closed by any later line
    malformed: int = 0               # lines a reader must count as malformed
    logged_cost: str = "0"           # sum of costUSD on the calls' final copies

    def totals(self, by: str, *, with_open: bool = False) -> dict[str, Counter[str]]:
        return totals([*self.calls, *(self.open_calls if with_open else [])], by)


def totals(calls: list[Call], by: str) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for call in calls:
        counter = out.setdefault(str(getattr(call, by)), Counter())
        for name in BUCKETS:
            counter[name] += call.get(name)
        counter["calls"] += 1
    return out


def encode_folder(cwd: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "-", cwd)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _dump(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


# -- Claude Code ---------------------------------------------------------------------------

class _ClaudeSession:
    """Writes one session's lines; remembers each call's lines for copies and replays."""

    def __init__(self, gen: ClaudeTreeGenerator, session: str, cwd: str, ts: datetime) -> None:
        self.gen, self.session, self.cwd, self.ts = gen, session, cwd, ts
        self.lines: list[str] = []
        self.call_lines: list[tuple[Call, list[str], dict[str, Any]]] = []

    def tick(self) -> datetime:
        self.ts += timedelta(seconds=self.gen.rng.randint(1, 90), milliseconds=self.gen.rng.randint(0, 999))
        return self.ts

    def user(self, text: str = "go on", *, sidechain: bool = False, agent_id: str | None = None) -> None:
        rec: dict[str, Any] = {"parentUuid": None, "isSidechain": sidechain, "userType": "external", "cwd": self.cwd,
                               "sessionId": self.session, "version": "2.1.12", "type": "user",
                               "message": {"role": "user", "content": text}, "uuid": str(self.gen.uuid()),
                               "timestamp": _iso(self.tick())}
        if agent_id:
            rec["agentId"] = agent_id
        self.lines.append(_dump(rec))

    def call(self, *, agent: str = "claude-code", sidechain: bool = False, agent_id: str | None = None,
             request: bool = True, stop: str | None = "random", parts: int | None = None,
             cost: bool = False, record: bool = True) -> tuple[Call, list[str]]:
        """One API call written as 1-3 lines; returns the truth and the lines."""
        rng = self.gen.rng
        model = rng.choice(CLAUDE_MODELS)
        msg_id = f"msg_01{self.gen.token(22)}"
        req_id = f"req_011C{self.gen.token(20)}" if request else None
        inp, read, w5, w1 = rng.randint(1, 40), rng.choice([0, rng.randint(1000, 90000)]), 0, 0
        split = rng.random() < 0.8
        writes = rng.choice([0, rng.randint(100, 8000)])
        if split and writes:
            w1 = rng.choice([0, writes, writes // 3])
            w5 = writes - w1
        else:
            w5 = writes
        out = rng.randint(5, 3000)
        searches = rng.choice([0, 0, 0, 2])
        usage: dict[str, Any] = {"input_tokens": inp, "cache_creation_input_tokens": writes,
                                 "cache_read_input_tokens": read, "output_tokens": out, "service_tier": "standard"}
        if split:
            usage["cache_creation"] = {"ephemeral_5m_input_tokens": w5, "ephemeral_1h_input_tokens": w1}
        if searches:
            usage["server_tool_use"] = {"web_search_requests": searches, "web_fetch_requests": 0}
        n = parts or rng.randint(1, 3)
        stop_reason = rng.choice([None, None, "tool_use", "end_turn"]) if stop == "random" else stop
        lines: list[str] = []
        final_ts = self.ts
        for i in range(n):
            last = i == n - 1
            u = dict(usage) if last else {**usage, "output_tokens": rng.randint(1, 3)}
            final_ts = self.tick()
            rec: dict[str, Any] = {
                "parentUuid": str(self.gen.uuid()), "isSidechain": sidechain, "userType": "external",
                "cwd": self.cwd, "sessionId": self.session, "version": "2.1.12", "gitBranch": "main",
                "type": "assistant", "uuid": str(self.gen.uuid()), "timestamp": _iso(final_ts),
                "message": {"id": msg_id, "type": "message", "role": "assistant", "model": model,
                            "content": [{"type": "text", "text": "x" * rng.randint(0, 400)}],
                            "stop_reason": stop_reason if last else None, "stop_sequence": None, "usage": u},
            }
            if req_id:
                rec["requestId"] = req_id
            if agent_id:
                rec["agentId"] = agent_id
            if cost:
                rec["costUSD"] = round(rng.random() / 7, 6)
            lines.append(_dump(rec))
        event_id = f"claude-code:{msg_id}:{req_id}" if req_id else f"claude-code:{self.session}:{msg_id}"
        truth = Call(event_id, final_ts, model, self.session, self.cwd, agent, (
            ("input_tokens", inp), ("cache_read_tokens", read), ("cache_write_5m_tokens", w5),
            ("cache_write_1h_tokens", w1), ("output_tokens", out), ("reasoning_tokens", 0),
            ("web_search_requests", searches)))
        if record:
            self.lines.extend(lines)
            self.call_lines.append((truth, lines, json.loads(lines[-1])))
        return truth, lines


class ClaudeTreeGenerator:
    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def token(self, n: int) -> str:
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789"
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def session(self, cwd: str, day: int) -> _ClaudeSession:
        began = self.start + timedelta(days=day, hours=self.rng.randint(0, 8))
        return _ClaudeSession(self, str(self.uuid()), cwd, began)

    def write(self, root: Path, *, sessions_per_project: int = 3, calls_per_session: int = 12) -> Tree:
        """A ``projects/`` tree at ``root`` with every pitfall of FORMATS.md 5.0 in it."""
        rng = self.rng
        calls: list[Call] = []
        open_calls: list[Call] = []
        malformed = 0
        logged = 0.0
        files: list[Path] = []
        first_session: _ClaudeSession | None = None

        def save(path: Path, lines: list[str], tail: str = "\n") -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines) + tail, encoding="utf-8")
            files.append(path)

        for p, cwd in enumerate(PROJECTS):
            folder = root / encode_folder(cwd)
            for s in range(sessions_per_project):
                sess = self.session(cwd, day=p * 3 + s)
                first_session = first_session or sess
                sess.lines.append(_dump({"type": "summary", "summary": "work", "leafUuid": str(self.uuid())}))
                for c in range(calls_per_session):
                    if c % 4 == 0:
                        sess.user(f"task {c}")
                    truth, _ = sess.call(cost=(p == 2))
                    calls.append(truth)
                    if p == 2:
                        logged += json.loads(sess.lines[-1])["costUSD"]
                    if rng.random() < 0.5:
                        sess.user("tool result")
                    if rng.random() < 0.15:   # local placeholders and API error lines: never billed
                        sess.lines.append(self._synthetic(sess))
                if s == 0:
                    self._subagents(sess, folder, calls, save)
                if s == 1:
                    self._sidechain_replays(sess)
                    malformed += self._malformed(sess)
                if s == 2 and p == 0:
                    # Requestless gateway lines: deduplicated by (session, message id).
                    for _ in range(3):
                        truth, _ = sess.call(request=False)
                        calls.append(truth)
                # Close the last call explicitly, or leave it open on purpose in one file.
                if p == 1 and s == 2:
                    truth, _ = sess.call(stop=None, parts=2)
                    open_calls.append(truth)
                else:
                    truth, _ = sess.call(stop="end_turn")
                    calls.append(truth)
                if p == 2 and s == 2:
                    # A truncated last line: a call still being written, not consumed.
                    _, partial = sess.call(stop="end_turn", record=False)
                    save(folder / f"{sess.session}.jsonl", sess.lines, "\n" + partial[0][: len(partial[0]) // 2])
                else:
                    save(folder / f"{sess.session}.jsonl", sess.lines)
                if p == 0 and s == 2 and first_session is not None:
                    self._resumed(first_session, folder, calls, save)
        return Tree(root, files, calls, open_calls, malformed, repr(round(logged, 6)))

    def _synthetic(self, sess: _ClaudeSession) -> str:
        if self.rng.random() < 0.5:
            return _dump({"type": "assistant", "sessionId": sess.session, "cwd": sess.cwd, "isSidechain": False,
                          "timestamp": _iso(sess.tick()), "uuid": str(self.uuid()),
                          "message": {"id": str(self.uuid()), "model": "<synthetic>", "role": "assistant",
                                      "stop_reason": "stop_sequence", "content": [{"type": "text", "text": "No"}],
                                      "usage": {"input_tokens": 0, "output_tokens": 0}}})
        return _dump({"type": "assistant", "sessionId": sess.session, "cwd": sess.cwd, "isApiErrorMessage": True,
                      "timestamp": _iso(sess.tick()), "requestId": "req_err", "uuid": str(self.uuid()),
                      "message": {"id": f"msg_err{self.token(8)}", "model": "claude-sonnet-4-5-20250929",
                                  "role": "assistant", "stop_reason": "stop_sequence",
                                  "usage": {"input_tokens": 0, "output_tokens": 0}}})

    def _subagents(self, sess: _ClaudeSession, folder: Path, calls: list[Call], save: Any) -> None:
        """Two sub-agents: their own files, and their calls as progress lines in the parent (interleaved)."""
        agent_ids = [self.token(8).lower() for _ in range(2)]
        sub_lines: dict[str, list[str]] = {a: [] for a in agent_ids}
        pending: list[tuple[str, list[str]]] = []
        for a in agent_ids:
            sub = _ClaudeSession(self, sess.session, sess.cwd, sess.ts)
            for _ in range(3):
                sub.user("subtask", sidechain=True, agent_id=a)
                truth, lines = sub.call(agent=f"claude-code/agent-{a}", sidechain=True, agent_id=a, stop=None)
                calls.append(truth)
            sub.user("done", sidechain=True, agent_id=a)   # closes the last call in the file
            sub_lines[a] = sub.lines
            pending.append((a, sub.lines))
            save(folder / sess.session / "subagents" / f"agent-{a}.jsonl", sub.lines)
        # Progress lines in the parent file, the two sub-agents interleaved line by line.
        streams = [[(a, json.loads(line)) for line in lines] for a, lines in pending]
        for i in range(max(len(s) for s in streams)):
            for stream in streams:
                if i < len(stream):
                    a, inner = stream[i]
                    sess.lines.append(_dump({"type": "progress", "sessionId": sess.session, "cwd": sess.cwd,
                                             "parentToolUseID": f"toolu_{a}", "timestamp": inner["timestamp"],
                                             "uuid": str(self.uuid()),
                                             "data": {"type": "agent_progress", "agentId": a, "message": inner}}))

    def _sidechain_replays(self, sess: _ClaudeSession) -> None:
        """Sidechain lines that repeat earlier calls under another request id: counted once."""
        for _, lines, _ in self.rng.sample(sess.call_lines, k=min(3, len(sess.call_lines))):
            rec = json.loads(lines[-1])
            rec.update(isSidechain=True, agentId="btw", requestId=f"req_011C{self.token(20)}",
                       uuid=str(self.uuid()))
            sess.lines.append(_dump(rec))
        sess.user("after the side question", sidechain=True, agent_id="btw")

    def _malformed(self, sess: _ClaudeSession) -> int:
        neg = json.loads(sess.call_lines[0][1][-1])
        neg["message"]["id"] = f"msg_neg{self.token(6)}"
        neg["message"]["usage"]["output_tokens"] = -5
        no_message = {"type": "assistant", "sessionId": sess.session, "timestamp": _iso(sess.tick()),
                      "message": "oops"}
        sess.lines.extend(['{"type":"assistant","message":{"id":', _dump(neg), _dump(no_message), '[1,2,"assistant"]'])
        return 4

    def _resumed(self, original: _ClaudeSession, folder: Path, calls: list[Call], save: Any) -> None:
        """A resumed session: a new file that copies the original's lines verbatim, then goes on."""
        resumed = _ClaudeSession(self, str(self.uuid()), original.cwd, original.ts + timedelta(hours=30))
        resumed.lines = list(original.lines)
        resumed.user("continue where we left off")
        for _ in range(4):
            truth, _ = resumed.call()
            calls.append(truth)
        truth, _ = resumed.call(stop="end_turn")
        calls.append(truth)
        save(folder / f"{resumed.session}.jsonl", resumed.lines)


# -- Codex ---------------------------------------------------------------------------------

_ZERO = {"input_tokens": 0, "cached_input_tokens": 0, "output_tokens": 0, "reasoning_output_tokens": 0,
         "total_tokens": 0}


class CodexTreeGenerator:
    def __init__(self, seed: int = 11) -> None:
        self.rng = random.Random(seed)
        self.start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def write(self, home: Path, *, days: int = 3, sessions_per_day: int = 2, calls_per_session: int = 8) -> Tree:
        """``home`` is CODEX_HOME: sessions/YYYY/MM/DD/rollout-*.jsonl."""
        calls: list[Call] = []
        files: list[Path] = []
        malformed = 0
        parent: tuple[str, str, list[str], datetime] | None = None
        for d in range(days):
            for s in range(sessions_per_day):
                began = self.start + timedelta(days=d, hours=2 * s)
                session, cwd = self.uuid(), self.rng.choice(PROJECTS)
                lines, made, end = self._session(session, cwd, began, calls_per_session)
                calls.extend(made)
                if d == 0 and s == 0:
                    lines.insert(4, '{"timestamp":"x","type":"event_msg","payload":{"type":"token_count"')
                    lines.insert(6, _dump({"timestamp": _iso(began), "type": "event_msg",
                                           "payload": {"type": "token_count", "info": "nope"}}))
                    malformed += 2
                    parent = (session, cwd, lines, end)
                files.append(self._save(home, session, began, lines))
        assert parent is not None
        files.append(self._fork(home, parent, calls))
        return Tree(home, files, calls, [], malformed)

    def _save(self, home: Path, session: str, began: datetime, lines: list[str]) -> Path:
        path = (home / "sessions" / f"{began:%Y}" / f"{began:%m}" / f"{began:%d}"
                / f"rollout-{began:%Y-%m-%dT%H-%M-%S}-{session}.jsonl")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def _session(self, session: str, cwd: str, began: datetime, n: int, *, meta: dict[str, Any] | None = None,
                 total: dict[str, int] | None = None) -> tuple[list[str], list[Call], datetime]:
        rng = self.rng
        ts = began
        lines = [_dump({"timestamp": _iso(ts), "type": "session_meta",
                        "payload": {"id": session, "timestamp": _iso(ts), "cwd": cwd, "originator": "codex_cli_rs",
                                    "cli_version": "0.77.0", "source": "cli", "model_provider": "openai",
                                    **(meta or {})}})]
        total = dict(total or _ZERO)
        made: list[Call] = []
        model = rng.choice(CODEX_MODELS)
        for i in range(n):
            if i == 0 or rng.random() < 0.25:   # a new turn, sometimes on another model
                model = rng.choice(CODEX_MODELS) if i else model
                ts += timedelta(seconds=rng.randint(2, 60))
                lines.append(_dump({"timestamp": _iso(ts), "type": "turn_context",
                                    "payload": {"cwd": cwd, "approval_policy": "on-request", "model": model,
                                                "effort": "medium", "summary": "auto"}}))
                lines.append(_dump({"timestamp": _iso(ts), "type": "event_msg",
                                    "payload": {"type": "user_message", "message": "next", "images": []}}))
                lines.append(_dump({"timestamp": _iso(ts), "type": "event_msg",
                                    "payload": {"type": "token_count", "info": None, "rate_limits": {}}}))
            ts += timedelta(seconds=rng.randint(2, 40), milliseconds=rng.randint(0, 999))
            inp = rng.randint(2000, 60000)
            cached = rng.randint(0, inp)
            out = rng.randint(10, 2000)
            reasoning = rng.randint(0, out)
            last = {"input_tokens": inp, "cached_input_tokens": cached, "output_tokens": out,
                    "reasoning_output_tokens": reasoning, "total_tokens": inp + out}
            total = {k: total[k] + last[k] for k in total}
            lines.append(_dump({"timestamp": _iso(ts), "type": "response_item",
                                "payload": {"type": "function_call", "name": "shell", "arguments": "{}"}}))
            event = {"timestamp": _iso(ts), "type": "event_msg",
                     "payload": {"type": "token_count", "info": {"total_token_usage": total, "last_token_usage": last,
                                                                  "model_context_window": 272000},
                                 "rate_limits": {"primary": {"used_percent": 7.0}}}}
            lines.append(_dump(event))
            if rng.random() < 0.7:   # the duplicate, milliseconds later
                event["timestamp"] = _iso(ts + timedelta(milliseconds=12))
                lines.append(_dump(event))
            made.append(Call(f"codex:{session}:{total['total_tokens']}:{last['total_tokens']}", ts, model, session,
                             cwd, "codex", (("input_tokens", inp - cached), ("cache_read_tokens", cached),
                                            ("output_tokens", out), ("reasoning_tokens", reasoning))))
        return lines, made, ts

    def _fork(self, home: Path, parent: tuple[str, str, list[str], datetime], calls: list[Call]) -> Path:
        """A fork: its own meta, then the parent's lines replayed at the fork's creation time, then its own calls."""
        parent_id, cwd, parent_lines, parent_end = parent
        began = parent_end + timedelta(hours=5)
        fork = self.uuid()
        replay = []
        total = dict(_ZERO)
        for line in parent_lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            info = rec["payload"].get("info")
            if info is not None and not isinstance(info, dict):
                continue
            rec["timestamp"] = _iso(began)   # Codex Desktop rewrites replayed timestamps
            payload = rec.get("payload") or {}
            info = payload.get("info") if isinstance(payload, dict) else None
            if isinstance(info, dict):
                total = info["total_token_usage"]
            replay.append(_dump(rec))
        own, made, _ = self._session(fork, cwd, began + timedelta(seconds=3), 3, meta={"forked_from_id": parent_id},
                                     total=total)
        calls.extend(made)
        meta = json.loads(own[0])
        meta["timestamp"] = meta["payload"]["timestamp"] = _iso(began)
        lines = [_dump(meta), *replay, *own[1:]]
        return self._save(home, fork, began, lines)


# -- reading, as the importer would -----------------------------------------------------------


def read_all(logs: list[LogFile], *, final: bool = False) -> tuple[dict[str, UsageEvent], list[ReadResult]]:
    """Every event of every file, keeping the first of an id as the ledger does."""
    events: dict[str, UsageEvent] = {}
    results = []
    for log in logs:
        result = read(log, final=final)
        results.append(result)
        for event in result.events:
            events.setdefault(event.event_id, event)
    return events, results


def event_totals(events: dict[str, UsageEvent], by: str) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for event in events.values():
        counter = out.setdefault(str(getattr(event, by)), Counter())
        for name in BUCKETS:
            counter[name] += getattr(event.usage, name)
        counter["calls"] += 1
    return out


def assert_matches(events: dict[str, UsageEvent], calls: list[Call]) -> None:
    """Exactly the calls, each with its own buckets, time and dimensions."""
    expected = {c.event_id: c for c in calls}
    assert set(events) == set(expected)
    for event_id, call in expected.items():
        event = events[event_id]
        got = {name: getattr(event.usage, name) for name in BUCKETS}
        assert got == {name: call.get(name) for name in BUCKETS}, event_id
        assert (event.ts, event.model, event.session, event.project, event.agent) == (
            call.ts, call.model, call.session, call.project, call.agent), event_id


def assert_tree_totals(events: dict[str, UsageEvent], tree: Tree, *, with_open: bool = False) -> None:
    for by in ("model", "session", "project", "agent"):
        assert event_totals(events, by) == tree.totals(by, with_open=with_open), by


def snapshot(event: UsageEvent) -> tuple[Any, ...]:
    return (event.ts, event.provider, event.model, event.usage, event.project, event.session, event.agent,
            event.source, event.status, event.response_id)


def grow_and_read(agent: str, data: bytes, cuts: list[int], where: Path, *,
                  revised: list[UsageEvent] | None = None, **kwargs: Any) -> tuple[list[UsageEvent], int,
                                                                                 Counter[str]]:
    """Write ``data`` in pieces ending at ``cuts``, reading after each with the stored offset and state.

    The state goes through JSON between reads, as the importer stores it. The revised copies
    the reads give (Claude Code calls that grew since they were emitted) go to ``revised``.
    """
    path = where / "growing.jsonl"
    path.write_bytes(b"")
    log = LogFile(agent, path, where)
    offset, state_text = 0, "{}"
    events: list[UsageEvent] = []
    counts: Counter[str] = Counter()
    written = 0
    for cut in [*sorted(cuts), len(data)]:
        with open(path, "ab") as f:
            f.write(data[written:cut])
        written = max(written, cut)
        state = json.loads(state_text)
        result = read(log, offset, state=state, **kwargs)
        offset, state_text = result.offset, json.dumps(state)
        events.extend(result.events)
        if revised is not None:
            revised.extend(result.revised)
        counts.update(lines=result.lines, malformed=result.malformed, skipped=result.skipped)
    return events, offset, counts


def read_whole(agent: str, data: bytes, where: Path, **kwargs: Any) -> tuple[list[UsageEvent], int, Counter[str]]:
    path = where / "whole.jsonl"
    path.write_bytes(data)
    result = read(LogFile(agent, path, where), **kwargs)
    counts: Counter[str] = Counter(lines=result.lines, malformed=result.malformed, skipped=result.skipped)
    return result.events, result.offset, counts
