"""Proxy parts on their own: the usage-chunk stripper, routing, error shapes, the journal's recovery."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import fixture_path
from hypothesis import given, settings
from hypothesis import strategies as st

from spendtag.capture.parsers import parse_stream
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.pricing.pricer import Pricer
from spendtag.server.proxy.config import load
from spendtag.server.proxy.errors import error_body
from spendtag.server.proxy.routes import inspect, resolve
from spendtag.server.proxy.streaming import UsageChunkStripper
from spendtag.server.proxy.writer import Journal, journal_lines, recover
from spendtag.usage import Usage, UsageEvent

STREAM = fixture_path("openai", "02_chat_completion_stream_include_usage.sse").read_bytes()


@pytest.mark.parametrize("size", [1, 7, 64, 100_000])
def test_stripper_removes_exactly_the_usage_chunk_whatever_the_chunking(size: int) -> None:
    s = UsageChunkStripper()
    out = b"".join(s.feed(STREAM[i:i + size]) for i in range(0, len(STREAM), size)) + s.close()
    removed = [e for e in STREAM.split(b"\n\n") if b'"choices":[]' in e]
    assert len(removed) == 1
    assert out == STREAM.replace(removed[0] + b"\n\n", b"")
    assert out.endswith(b"data: [DONE]\n\n")
    # the client-side view has no usage; the proxy read it from the unstripped bytes
    assert parse_stream("openai", STREAM).usage == Usage(input_tokens=256, cache_read_tokens=1280, output_tokens=5,
                                                         service_tier="default")


def test_routes_and_bodies() -> None:
    ups = load({"upstreams": {"groq": {"base_url": "https://api.groq.com/openai/v1/", "api_key_env": "G"}}},
               environ={"G": "gk"}).upstreams
    t = resolve(ups, "POST", "/groq/v1/chat/completions")
    assert t is not None and (t.url, t.api, t.upstream.provider, t.upstream.api_key) == (
        "https://api.groq.com/openai/v1/chat/completions", "chat", "groq", "gk")
    g = resolve(ups, "POST", "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent")
    assert g is not None and (g.api, g.model, g.stream) == ("gemini", "gemini-2.5-flash", True)
    c = resolve(ups, "POST", "/anthropic/v1/messages/count_tokens")
    assert c is not None and c.api is None                       # passed through, not metered
    assert resolve(ups, "GET", "/nowhere/x") is None
    b = inspect(t, b'{"model":"llama","stream":true,"max_completion_tokens":9}')
    assert (b.model, b.stream, b.max_output, b.strip_usage) == ("llama", True, 9, True)
    assert json.loads(b.data)["stream_options"] == {"include_usage": True}
    kept = inspect(t, b'{"model":"x","stream":true,"stream_options":{"include_usage":true}}')
    assert not kept.strip_usage and kept.data == b'{"model":"x","stream":true,"stream_options":{"include_usage":true}}'


def test_error_shapes() -> None:
    assert json.loads(error_body("anthropic", 429, "m")) == {"type": "error", "error": {"type": "rate_limit_error",
                                                                                         "message": "m"}}
    assert json.loads(error_body("gemini", 401, "m")) == {"error": {"code": 401, "message": "m",
                                                                    "status": "UNAUTHENTICATED"}}
    assert json.loads(error_body("openai", 400, "m"))["error"] == {"message": "m", "type": "invalid_request_error",
                                                                   "param": None, "code": None}


def test_journal_recovery_records_ended_calls_exactly_and_open_ones_as_estimates(tmp_path: Path) -> None:
    directory = tmp_path / "j"
    journal = Journal(directory)
    ts = datetime(2026, 3, 14, 10, tzinfo=UTC)
    for eid in ("a", "b"):
        journal.begin(eid, ts, "openai", "gpt-4o", {"client": "acme"}, None, "s", None, "vk_1", 40)
    journal.end(UsageEvent("a", ts, "openai", "gpt-4o-2024-08-06", Usage(input_tokens=25, output_tokens=12),
                           tags={"client": "acme"}, session="s", key="vk_1", source="proxy"))
    store = open_store(str(tmp_path / "l.db"))
    assert recover(directory, store, Pricer()) == 0             # a live proxy holds it: not touched
    journal.close(remove=False)                                 # as if the process died
    (directory / "journal-x.jsonl").write_bytes(b'{"e": "cut mid-wr')   # a torn last line is skipped
    assert recover(directory, store, Pricer()) == 2
    assert list(directory.iterdir()) == []
    a, b = sorted((p.event for p in store.events(Filters())), key=lambda e: e.event_id)
    assert (a.status, a.model, a.usage.output_tokens, a.usage.estimated, a.key) == ("ok", "gpt-4o-2024-08-06", 12,
                                                                                    False, "vk_1")
    assert (b.status, b.usage.input_tokens, b.usage.estimated, b.tags) == ("aborted", 40, True, {"client": "acme"})
    store.close()


def test_journal_lines_survive_a_killed_process_and_a_full_mapping(tmp_path: Path) -> None:
    """The journal is a shared mapping: lines copied into it are in the file even if the process dies."""
    directory = tmp_path / "j"
    script = textwrap.dedent(f"""
        import os, signal
        from datetime import UTC, datetime
        from pathlib import Path
        from spendtag.server.proxy.writer import Journal
        j = Journal(Path({str(directory)!r}), window=4096)     # small: lines cross windows
        for i in range(60):
            j.begin(f"call-{{i}}", datetime(2026, 3, 14, tzinfo=UTC), "openai", "gpt-4o", {{"client": "acme"}},
                    None, None, None, None, 10 + i)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], check=False)
    assert proc.returncode == -signal.SIGKILL
    (path,) = directory.iterdir()
    lines = journal_lines(path.read_bytes())
    assert [json.loads(line)["b"] for line in lines] == [f"call-{i}" for i in range(60)]
    store = open_store(str(tmp_path / "l.db"))
    assert recover(directory, store, Pricer()) == 60
    assert sorted(p.event.usage.input_tokens for p in store.events(Filters())) == list(range(10, 70))
    store.close()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=40))
def test_journal_lines_cross_windows_intact(sizes: list[int]) -> None:
    """Whatever the line lengths (longer than a window too), the file holds exactly the lines written."""
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp), window=4096)
        lines = [b'{"x":"' + b"a" * size + b'"}\n' for size in sizes]
        for line in lines:
            journal._write(line)
        path = journal.path
        assert journal_lines(path.read_bytes()) == [line.rstrip(b"\n") for line in lines]   # as if killed now
        journal.close(remove=False)
        assert path.read_bytes() == b"".join(lines)


def test_recovery_joins_an_end_line_to_its_begin_across_files_and_reads_older_full_end_lines(tmp_path: Path) -> None:
    directory = tmp_path / "j"
    directory.mkdir()
    ts_us = 1_773_482_400_000_000     # 2026-03-14 10:00 UTC
    begin = {"b": "new", "ts": ts_us, "in": 40, "p": "openai", "m": "gpt-4o", "t": {"client": "acme"},
             "pr": "p1", "s": "s1", "a": "bot", "k": "vk_1"}
    end = {"e": "new", "ts": ts_us, "p": "openai", "m": "gpt-4o-2024-08-06", "u": {"input_tokens": 25,
           "output_tokens": 12}, "st": "ok", "r": "chatcmpl-1"}
    older = {"e": "old", "ts": ts_us, "p": "openai", "m": "gpt-4o", "u": {"input_tokens": 5}, "t": {"client": "globex"},
             "pr": None, "s": None, "a": None, "k": None, "st": "ok", "r": None}
    (directory / "journal-1-a.jsonl").write_text(json.dumps(begin) + "\n")             # rotated away
    (directory / "journal-1-b.jsonl").write_text(json.dumps(end) + "\n" + json.dumps(older) + "\n")
    store = open_store(str(tmp_path / "l.db"))
    assert recover(directory, store, Pricer()) == 2
    got = {p.event.event_id: p.event for p in store.events(Filters())}
    new, old = got["new"], got["old"]
    assert (new.tags, new.project, new.session, new.agent, new.key, new.model, new.usage.output_tokens,
            new.status) == ({"client": "acme"}, "p1", "s1", "bot", "vk_1", "gpt-4o-2024-08-06", 12, "ok")
    assert (old.tags, old.usage.input_tokens, old.usage.estimated) == ({"client": "globex"}, 5, False)
    store.close()
