"""Webhook and Slack channels and the Dispatcher, against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from spendtag.guard.alerts import (
    Alert,
    ConsoleChannel,
    Contributor,
    DeliveryError,
    Dispatcher,
    SlackChannel,
    WebhookChannel,
    render_slack,
)
from spendtag.money import parse_usd

SECRET = "whsec-test-7f3a"

ALERT = Alert(
    id="acme|2026-03|80%", kind="threshold", budget="acme", scope="client=acme", threshold="80%",
    spent=123_456_789_012_345_678, limit=parse_usd("150000"), period="2026-03", days_left=Decimal("3.5"),
    projected=parse_usd("160000.000000000001"), contributors=(Contributor("agent", "planner", 1),),
    fired_at=datetime(2026, 3, 28, 12, tzinfo=UTC),
)


@dataclasses.dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    signature_ok: bool | None


class Receiver:
    """A webhook receiver: checks the HMAC signature with its own copy of the secret, records every request.

    ``statuses`` are answered in turn (then 200); with ``hang`` each request waits for ``release``.
    """

    def __init__(self, secret: str | None, statuses: list[int], hang: bool) -> None:
        self.secret = secret
        self.statuses = statuses
        self.hang = hang
        self.requests: list[Request] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.finished = 0
        self.answer = b"no"         # the body of an answer other than 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = None
                if receiver.secret is not None:
                    expected = "sha256=" + hmac.new(receiver.secret.encode(), body, hashlib.sha256).hexdigest()
                    ok = hmac.compare_digest(expected, self.headers.get("X-Spendtag-Signature", ""))
                receiver.requests.append(Request(self.path, dict(self.headers), body, time.monotonic(), ok))
                if receiver.hang:
                    receiver.entered.set()
                    receiver.release.wait(5)
                status = 401 if ok is False else receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                answer = b"ok" if status == 200 else receiver.answer
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                receiver.finished += 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/spendtag"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(secret: str | None = SECRET, statuses: list[int] | None = None, hang: bool = False) -> Receiver:
        made.append(Receiver(secret, list(statuses or []), hang))
        return made[-1]

    yield make
    for r in made:
        r.close()


class Results:
    """An on_result callback that records (channel, ok, attempts, error) per alert id."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bool, int, str | None]] = []

    def __call__(self, alert: Alert, channel: str, ok: bool, attempts: int, error: str | None) -> None:
        self.calls.append((alert.id, channel, ok, attempts, error))


def _no_float(text: str) -> Any:
    raise AssertionError(f"a float in the body: {text}")


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_webhook_body_is_signed_json_with_exact_money(receiver: Callable[..., Receiver]) -> None:
    rx = receiver()
    WebhookChannel("ops", rx.url, secret=SECRET).send(ALERT)
    [req] = rx.requests
    assert req.signature_ok is True
    assert req.path == "/hooks/spendtag"
    assert req.headers["Content-Type"] == "application/json; charset=utf-8"
    assert req.headers["X-Spendtag-Alert-Id"] == ALERT.id
    assert abs(int(req.headers["X-Spendtag-Timestamp"]) - time.time()) < 60
    assert req.headers["User-Agent"].startswith("spendtag")
    body = json.loads(req.body, parse_float=_no_float)
    assert body["spent_usd"] == "123456.789012345678"
    assert body["limit_usd"] == "150000.00"
    assert body["projected_usd"] == "160000.000000000001"
    assert body["contributors"] == [{"kind": "agent", "name": "planner", "cost_usd": "0.000000000001"}]
    assert body["days_left"] == "3.5"
    assert b'"spent_usd":"123456.789012345678"' in req.body  # the raw bytes that were signed


def test_webhook_with_the_wrong_secret_is_rejected_and_not_retried(receiver: Callable[..., Receiver]) -> None:
    rx = receiver()
    with pytest.raises(DeliveryError, match=r"HTTP 401") as info:
        WebhookChannel("ops", rx.url, secret="not-the-secret").send(ALERT)
    assert info.value.retryable is False
    assert rx.requests[0].signature_ok is False


def test_webhook_requires_a_secret_unless_unsigned_is_allowed(receiver: Callable[..., Receiver]) -> None:
    rx = receiver(secret=None)
    with pytest.raises(ValueError, match="needs a secret"):
        WebhookChannel("ops", rx.url)
    WebhookChannel("ops", rx.url, allow_unsigned=True).send(ALERT)
    assert "X-Spendtag-Signature" not in rx.requests[0].headers
    assert "X-Spendtag-Timestamp" in rx.requests[0].headers


def test_slack_channel_posts_the_slack_payload(receiver: Callable[..., Receiver]) -> None:
    rx = receiver(secret=None)
    SlackChannel("team", rx.url).send(ALERT)
    [req] = rx.requests
    payload = json.loads(req.body, parse_float=_no_float)
    assert payload == render_slack(ALERT)
    assert payload["blocks"][0]["type"] == "header"
    assert payload["text"].startswith("Budget acme (client=acme) crossed 80% for 2026-03.")


def test_errors_never_show_the_url_token(receiver: Callable[..., Receiver]) -> None:
    rx = receiver(secret=None, statuses=[404])
    url = rx.url.replace("/hooks/spendtag", "/services/T0001/B0002/XOXBTOKEN") + "?token=qs-secret"
    channel = SlackChannel("team", url)
    with pytest.raises(DeliveryError) as info:
        channel.send(ALERT)
    port = rx.server.server_address[1]
    assert str(info.value) == f"slack 'team': http://127.0.0.1:{port}/…?… answered HTTP 404 Not Found: no"
    assert info.value.retryable is False
    for shown in (str(info.value), repr(channel), repr(WebhookChannel("ops", url, secret=SECRET))):
        assert "XOXBTOKEN" not in shown and "qs-secret" not in shown and SECRET not in shown


def test_a_receivers_answer_is_kept_short_and_without_credentials(receiver: Callable[..., Receiver]) -> None:
    rx = receiver(secret=None, statuses=[401])
    rx.answer = (b'{"error": "invalid token xoxb-1234567890-abcdefghijkl", "hint": "send Authorization: '
                 b'Bearer s3cr3t-t0ken-value or ?key=AIzaSyA1234567890abcdefghijk"}')
    with pytest.raises(DeliveryError) as info:
        WebhookChannel("ops", rx.url, secret=None, allow_unsigned=True).send(ALERT)
    shown = str(info.value)
    assert shown.endswith('answered HTTP 401 Unauthorized: {"error": "invalid token [redacted]", "hint": "send '
                          'Authorization: Bearer [redacted] or ?key=[redacted]"}')


def test_redirects_are_failures_not_followed(receiver: Callable[..., Receiver]) -> None:
    rx = receiver(statuses=[302])
    with pytest.raises(DeliveryError, match="HTTP 302"):
        WebhookChannel("ops", rx.url, secret=SECRET).send(ALERT)
    assert [r.path for r in rx.requests] == ["/hooks/spendtag"]


def test_unreachable_and_slow_receivers(receiver: Callable[..., Receiver]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DeliveryError, match=rf"cannot reach http://127.0.0.1:{port}/…"):
        WebhookChannel("ops", f"http://127.0.0.1:{port}/x", secret=SECRET, timeout=2).send(ALERT)
    rx = receiver(hang=True)
    with pytest.raises(DeliveryError, match=r"no answer from http://127.0.0.1:\d+/… within 0.2 s") as info:
        WebhookChannel("ops", rx.url, secret=SECRET, timeout=0.2).send(ALERT)
    assert info.value.retryable is True


def test_dispatcher_retries_with_growing_backoff_until_success(receiver: Callable[..., Receiver]) -> None:
    rx = receiver(statuses=[500, 500])
    results = Results()
    dispatcher = Dispatcher([WebhookChannel("ops", rx.url, secret=SECRET)], on_result=results,
                            base_delay=0.02, max_delay=1.0)
    assert dispatcher.submit(ALERT) is True
    assert dispatcher.flush(5) is True
    dispatcher.close()
    assert len(rx.requests) == 3
    assert [(c[1], c[2], c[3]) for c in results.calls] == [("ops", False, 1), ("ops", False, 2), ("ops", True, 3)]
    first, second = results.calls[0][4], results.calls[1][4]
    assert first is not None and second is not None
    assert first.endswith("HTTP 500 Internal Server Error: no; retrying in 0.02 s")
    assert second.endswith("retrying in 0.04 s")
    assert results.calls[2][4] is None
    # The same signed body each time, and each pause at least as long as its backoff step.
    assert {r.body for r in rx.requests} == {rx.requests[0].body}
    assert all(r.signature_ok for r in rx.requests)
    gaps = [b.at - a.at for a, b in zip(rx.requests, rx.requests[1:], strict=False)]
    assert gaps[0] >= 0.02 * 0.9 and gaps[1] >= 0.04 * 0.9


def test_dispatcher_gives_up_after_max_attempts(receiver: Callable[..., Receiver]) -> None:
    rx = receiver(statuses=[503, 503, 503, 503])
    results = Results()
    with Dispatcher([WebhookChannel("ops", rx.url, secret=SECRET)], on_result=results, max_attempts=3,
                    base_delay=0.001) as dispatcher:
        dispatcher.submit(ALERT)
        assert dispatcher.flush(5)
    assert len(rx.requests) == 3
    assert [c[3] for c in results.calls] == [1, 2, 3]
    last = results.calls[-1]
    assert last[2] is False and last[4] is not None
    assert last[4].endswith("HTTP 503 Service Unavailable: no; giving up after 3 attempts")


def test_dispatcher_does_not_retry_a_permanent_failure(receiver: Callable[..., Receiver]) -> None:
    rx = receiver(statuses=[404, 200])
    results = Results()
    with Dispatcher([WebhookChannel("ops", rx.url, secret=SECRET)], on_result=results, base_delay=0.001) as d:
        d.submit(ALERT)
        assert d.flush(5)
    assert len(rx.requests) == 1
    [(_, _, ok, attempts, error)] = results.calls
    assert (ok, attempts) == (False, 1)
    assert error is not None and error.endswith("not retried (asking again cannot succeed)")


def test_backoff_doubles_and_is_capped() -> None:
    dispatcher = Dispatcher([], base_delay=0.5, max_delay=3.0)
    assert [dispatcher.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    dispatcher.close()


def test_submit_never_blocks_on_a_hanging_channel_and_flush_drains(receiver: Callable[..., Receiver]) -> None:
    rx = receiver(hang=True)
    console_out = io.StringIO()
    results = Results()
    dispatcher = Dispatcher([WebhookChannel("ops", rx.url, secret=SECRET, timeout=5),
                             ConsoleChannel("console", console_out)], on_result=results)
    alerts = [dataclasses.replace(ALERT, id=f"acme|2026-03|{p}%") for p in (50, 80, 100)]
    assert dispatcher.submit(alerts[0]) is True
    assert rx.entered.wait(5)                      # the webhook is now stuck inside a send
    assert dispatcher.submit(alerts[1]) is True
    assert dispatcher.submit(alerts[2]) is True
    assert rx.finished == 0                        # submit returned while the receiver still held the request
    # The console lane is not held up behind the stuck webhook.
    wait_until(lambda: console_out.getvalue().count("\n") == 3)
    assert dispatcher.flush(0.05) is False
    assert dispatcher.pending == 3
    rx.release.set()
    assert dispatcher.flush(5) is True
    assert dispatcher.pending == 0
    assert [json.loads(r.body)["id"] for r in rx.requests] == [a.id for a in alerts]
    assert sorted((c[0], c[1], c[2]) for c in results.calls) == sorted(
        (a.id, ch, True) for a in alerts for ch in ("ops", "console"))
    dispatcher.close()


def test_a_full_queue_drops_and_counts(receiver: Callable[..., Receiver]) -> None:
    rx = receiver(hang=True)
    results = Results()
    dispatcher = Dispatcher([WebhookChannel("ops", rx.url, secret=SECRET)], on_result=results, queue_size=1)
    first, second, third = (dataclasses.replace(ALERT, id=str(n)) for n in range(3))
    assert dispatcher.submit(first) is True
    assert rx.entered.wait(5)
    assert dispatcher.submit(second) is True       # waits in the queue
    assert dispatcher.submit(third) is False       # no room
    assert dispatcher.dropped == 1
    assert results.calls == [("2", "ops", False, 0, "not delivered: the alert queue is full (1 waiting)")]
    rx.release.set()
    assert dispatcher.flush(5)
    assert [json.loads(r.body)["id"] for r in rx.requests] == ["0", "1"]
    dispatcher.close()


def test_close_stops_retrying_and_refuses_new_alerts(receiver: Callable[..., Receiver]) -> None:
    rx = receiver(statuses=[500] * 10)
    results = Results()
    dispatcher = Dispatcher([WebhookChannel("ops", rx.url, secret=SECRET)], on_result=results, base_delay=30)
    dispatcher.submit(ALERT)
    wait_until(lambda: len(results.calls) == 1)    # first attempt failed; now in a 30 s backoff pause
    assert dispatcher.close(timeout=0.05) is False
    wait_until(lambda: len(results.calls) == 2)    # the worker's final report, woken out of its pause
    assert len(rx.requests) == 1
    final = results.calls[-1]
    assert (final[2], final[3]) == (False, 1)
    assert final[4] is not None and final[4].endswith("giving up after 1 attempt: the dispatcher closed")
    assert dispatcher.submit(ALERT) is False
    assert dispatcher.dropped == 1
    assert results.calls[-1] == (ALERT.id, "ops", False, 0, "not delivered: the dispatcher is closed")


class Flaky:
    """A channel with a bug: raises a plain exception the first time."""

    def __init__(self) -> None:
        self.name = "flaky"
        self.sent: list[str] = []

    def send(self, alert: Alert) -> None:
        if not self.sent and not getattr(self, "failed", False):
            self.failed = True
            raise RuntimeError("boom")
        self.sent.append(alert.id)


def test_channel_bugs_and_callback_errors_never_stop_delivery() -> None:
    flaky = Flaky()
    calls: list[tuple[bool, int, str | None]] = []

    def on_result(alert: Alert, channel: str, ok: bool, attempts: int, error: str | None) -> None:
        calls.append((ok, attempts, error))
        raise OSError("the caller's database is locked")

    with Dispatcher([flaky], on_result=on_result, base_delay=0.001) as dispatcher:
        assert dispatcher.submit(ALERT)
        assert dispatcher.submit(dataclasses.replace(ALERT, id="second"))
        assert dispatcher.flush(5)
    assert flaky.sent == [ALERT.id, "second"]
    assert calls == [(False, 1, "RuntimeError: boom; retrying in 0.001 s"), (True, 2, None), (True, 1, None)]


def test_send_now_reports_each_channel_synchronously(receiver: Callable[..., Receiver]) -> None:
    rx = receiver(statuses=[500])
    out = io.StringIO()
    results = Results()
    dispatcher = Dispatcher([ConsoleChannel("console", out), WebhookChannel("ops", rx.url, secret=SECRET)],
                            on_result=results)
    test_alert = dataclasses.replace(ALERT, kind="test", id="test|console")
    outcome = dispatcher.send_now(test_alert)
    port = rx.server.server_address[1]
    error = f"webhook 'ops': http://127.0.0.1:{port}/… answered HTTP 500 Internal Server Error: no"
    assert outcome == [("console", True, None), ("ops", False, error)]
    assert out.getvalue().startswith("Test alert from spendtag for acme: if you can read this")
    assert [(c[1], c[2], c[3]) for c in results.calls] == [("console", True, 1), ("ops", False, 1)]
    assert len(rx.requests) == 1                   # one attempt, no retries
    dispatcher.close()


def test_console_channel_defaults_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    ConsoleChannel().send(ALERT)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("Budget acme (client=acme) crossed 80% for 2026-03. "
                                   "Spent $123,456.79 of $150,000.00")
    assert captured.err.endswith("\n")
