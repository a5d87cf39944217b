"""Sinks: the ledger at exit (a real subprocess), a JSONL file for `spendtag ingest`, a spendtag server; enforcement."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import openai
import pytest
import test_sdk_helpers as helpers
from test_proxy_helpers import free_port
from test_sdk_helpers import MSG, Ledger, Upstream

import spendtag.capture.sdk as sdk
from spendtag.capture.lines import event_from_line
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.money import format_usd

upstream = helpers.upstream
ledger = helpers.ledger


def _client(up: Upstream, sink: sdk.Sink, **kw: object) -> openai.OpenAI:
    return sdk.instrument(openai.OpenAI(base_url=up.url + "/v1", api_key="sk", max_retries=0), sink=sink,
                          **kw)  # type: ignore[arg-type]


def test_a_process_exiting_right_after_a_call_has_it_recorded(upstream: Upstream, tmp_path: Path) -> None:
    db = tmp_path / "exit.db"
    script = textwrap.dedent(f"""
        import openai, spendtag.capture.sdk as sdk
        client = sdk.instrument(openai.OpenAI(base_url={upstream.url + '/v1'!r}, api_key="sk", max_retries=0),
                                tags={{"client": "acme"}})
        client.chat.completions.create(model="gpt-5-mini", messages=[{{"role": "user", "content": "hi"}}])
    """)
    import os
    env = {**os.environ, "SPENDTAG_DB": str(db)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    store = open_store(str(db))
    try:
        [p] = list(store.events(Filters()))
    finally:
        store.close()
    assert (p.event.tags, p.event.source, p.event.usage.output_tokens) == ({"client": "acme"}, "sdk", 702)


def test_file_sink_lines_read_back_by_ingest(upstream: Upstream, tmp_path: Path, ledger: Ledger) -> None:
    path = tmp_path / "events.jsonl"
    sink = sdk.FileSink(path, interval=0.01)
    seen: list[object] = []
    client = _client(upstream, sink, tags={"client": "acme", "session": "s-1"}, on_event=seen.append)
    _call = client.chat.completions.create
    _call(model="gpt-5-mini", messages=MSG)  # type: ignore[arg-type]
    list(_call(model="gpt-4o-mini", messages=MSG, stream=True, stream_options={"include_usage": True}))  # type: ignore[call-overload]
    sink.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    back = [event_from_line(line) for line in lines]
    assert back == seen     # every field survives the round trip, event ids included


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The intake app on uvicorn with a token, over its own ledger."""
    import asyncio

    import uvicorn

    from spendtag.server.intake.app import create_app

    db = str(tmp_path / "server.db")
    app = create_app(db, token="s3cret")
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(srv.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", db
    srv.should_exit = True
    thread.join(20)


def test_http_sink_posts_batches_with_the_token(upstream: Upstream, server: tuple[str, str]) -> None:
    url, db = server
    sink = sdk.HttpSink(url, token="s3cret", interval=0.01)
    client = _client(upstream, sink, tags={"client": "remote"})
    for _ in range(3):
        client.chat.completions.create(model="gpt-5-mini", messages=MSG)  # type: ignore[arg-type]
    assert sink.flush(10)
    sink.close()
    assert sink.dropped == 0 and sink.written == 3
    store = open_store(db)
    try:
        events = [p.event for p in store.events(Filters())]
    finally:
        store.close()
    assert len(events) == 3 and all(e.tags == {"client": "remote"} and e.source == "sdk" for e in events)
    assert all(e.usage.cache_read_tokens == 2944 for e in events)


def test_http_sink_with_a_wrong_token_drops_and_counts(upstream: Upstream, server: tuple[str, str]) -> None:
    sink = sdk.HttpSink(server[0], token="wrong", interval=0.01)
    _client(upstream, sink).chat.completions.create(model="gpt-5-mini", messages=MSG)  # type: ignore[arg-type]
    sink.flush(10)
    sink.close()
    assert sink.dropped == 1 and sink.written == 0


def test_http_sink_buffer_is_bounded_when_the_server_is_down() -> None:
    from spendtag.usage import Usage, UsageEvent, new_event_id

    port = free_port()     # nothing listens there
    sink = sdk.HttpSink(f"http://127.0.0.1:{port}", token="t", max_buffer=5, interval=0.01, timeout=0.5)
    start = time.perf_counter()
    for _ in range(8):
        sink.put(UsageEvent(new_event_id(), datetime.now(UTC), "openai", "gpt-4o", Usage(input_tokens=1)))
    assert time.perf_counter() - start < 0.5          # put never waits for the network
    time.sleep(0.3)
    assert sink.dropped >= 3 and sink.written == 0
    sink._closed = True     # skip the exit retries in this test
    sink._wake.set()


def _spend(db: str, client: str, usd_events: int) -> None:
    from spendtag.guard.budgets import Budget
    from spendtag.recording import Recorder
    from spendtag.tags import Selector
    from spendtag.usage import Usage, UsageEvent, new_event_id

    store = open_store(db)
    try:
        store.save_budget("acme", Budget("acme", 10**12, scope=(Selector.parse(f"client={client}"),),
                                         stop_percent=Decimal(100), enforce="block").to_dict())
        Recorder(store).record([UsageEvent(new_event_id(), datetime.now(UTC), "openai", "gpt-4o",
                                           Usage(input_tokens=1_000_000), tags={"client": client})
                                for _ in range(usd_events)])
    finally:
        store.close()


def test_enforce_raises_before_sending_when_a_stop_threshold_is_reached(upstream: Upstream, ledger: Ledger,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPENDTAG_DB", ledger.db or "")
    _spend(ledger.db or "", "acme", 1)         # gpt-4o input: $2.50 > the $1 limit
    client = _client(upstream, ledger, enforce=True)
    with sdk.tags(client="acme"), pytest.raises(sdk.BudgetExceeded) as info:
        client.chat.completions.create(model="gpt-5-mini", messages=MSG)  # type: ignore[arg-type]
    err = info.value
    assert (err.budget, err.limit, err.limit_pico) == ("acme", Decimal("1.00"), 10**12)
    assert isinstance(err.spent, Decimal) and err.spent == Decimal(err.spent_pico) / 10**12 and err.spent >= err.limit
    assert str(err).endswith(f"spent {format_usd(err.spent_pico)} of $1.00")
    assert "acme" in str(err) and isinstance(err, sdk.BudgetExceeded.__mro__[1])
    assert upstream.seen == []                 # nothing was sent
    with sdk.tags(client="other"):             # a call the budget does not cover goes ahead
        client.chat.completions.create(model="gpt-5-mini", messages=MSG)  # type: ignore[arg-type]
    assert len(upstream.seen) == 1


def test_enforce_counts_this_process_calls(upstream: Upstream, ledger: Ledger,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPENDTAG_DB", ledger.db or "")
    _spend(ledger.db or "", "acme", 0)
    client = _client(upstream, ledger, enforce=True, tags={"client": "acme"})
    sent = 0
    with pytest.raises(sdk.BudgetExceeded):
        for _ in range(1000):      # each gpt-5-mini call costs well under $1: the limit is reached after a few
            client.chat.completions.create(model="gpt-5-mini", messages=MSG)  # type: ignore[arg-type]
            sent += 1
    assert 0 < sent < 1000 and len(upstream.seen) == sent
