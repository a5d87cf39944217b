"""Delivering alerts without blocking whoever fired them.

:meth:`Dispatcher.submit` only enqueues. Each channel has its own worker thread and bounded
queue, so a webhook that hangs or keeps failing delays neither the caller nor the other
channels. A failed send is retried with exponential backoff (``base_delay``, doubling, capped
at ``max_delay``, at most ``max_attempts`` sends); an error the channel marks as permanent
(:attr:`DeliveryError.retryable` False, e.g. HTTP 404 or a refused SMTP login) is not retried.

Every attempt's outcome goes to ``on_result(alert, channel_name, ok, attempts, error)``, one
call at a time, from the dispatcher's threads. The last call for an (alert, channel) pair is
the final one: ``ok`` is True, or ``error`` ends with ``giving up …`` / ``not retried …`` /
``not delivered …``. Calls for an attempt that will be retried end with ``retrying in N s``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from spendtag.guard.alerts.channels import Channel, DeliveryError
from spendtag.guard.alerts.message import Alert

log = logging.getLogger("spendtag.guard.alerts")

ResultCallback = Callable[[Alert, str, bool, int, str | None], None]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, DeliveryError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class _Lane:
    """One channel's queue and worker thread."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        # Unbounded underneath: Dispatcher.submit enforces the bound, so close() can always
        # enqueue the None that ends the worker.
        self.queue: queue.Queue[Alert | None] = queue.Queue()
        self.thread: threading.Thread | None = None


class Dispatcher:
    """Delivers alerts to channels in the background; never raises into the caller."""

    def __init__(self, channels: Sequence[Channel], *, on_result: ResultCallback | None = None, max_attempts: int = 5,
                 base_delay: float = 0.5, max_delay: float = 30.0, queue_size: int = 1000) -> None:
        names = [c.name for c in channels]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"two alert channels share the name {duplicates[0]!r}; results are reported by name")
        if max_attempts < 1 or queue_size < 1 or base_delay < 0 or max_delay < 0:
            raise ValueError("max_attempts and queue_size must be at least 1, delays not negative")
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.queue_size = queue_size
        self.dropped = 0                     # alerts refused by submit() (queue full or dispatcher closed)
        self._on_result = on_result
        self._lanes = [_Lane(c) for c in channels]
        self._submit_lock = threading.Lock()
        self._report_lock = threading.Lock()
        self._idle = threading.Condition()
        self._pending = 0                    # (alert, channel) deliveries queued or in progress
        self._stop = threading.Event()
        self._closed = False
        for lane in self._lanes:
            lane.thread = threading.Thread(target=self._work, args=(lane,), daemon=True,
                                           name=f"spendtag-alerts-{lane.channel.name}")
            lane.thread.start()

    @property
    def channels(self) -> tuple[Channel, ...]:
        return tuple(lane.channel for lane in self._lanes)

    @property
    def pending(self) -> int:
        with self._idle:
            return self._pending

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): base, 2×base, 4×base… capped."""
        return float(min(self.base_delay * 2 ** (attempt - 1), self.max_delay))

    def submit(self, alert: Alert) -> bool:
        """Queue ``alert`` for every channel and return at once; False (and counted in ``dropped``) if refused."""
        with self._submit_lock:
            if self._closed:
                refused = "the dispatcher is closed"
            elif any(lane.queue.qsize() >= self.queue_size for lane in self._lanes):
                refused = f"the alert queue is full ({self.queue_size} waiting)"
            else:
                # All or nothing: space only grows between this check and the puts (workers only take).
                with self._idle:
                    self._pending += len(self._lanes)
                for lane in self._lanes:
                    lane.queue.put_nowait(alert)
                return True
            self.dropped += 1
        log.warning("alert %s not delivered: %s", alert.id, refused)
        for lane in self._lanes:
            self._report(alert, lane.channel.name, False, 0, f"not delivered: {refused}")
        return False

    def send_now(self, alert: Alert) -> list[tuple[str, bool, str | None]]:
        """Send ``alert`` through every channel once, synchronously (``spendtag alerts test``); never raises."""
        results: list[tuple[str, bool, str | None]] = []
        for lane in self._lanes:
            name = lane.channel.name
            try:
                lane.channel.send(alert)
            except Exception as exc:  # a channel's bug is reported as its failure, never raised
                error = _describe(exc)
                results.append((name, False, error))
                self._report(alert, name, False, 1, error)
            else:
                results.append((name, True, None))
                self._report(alert, name, True, 1, None)
        return results

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued alert is delivered or given up; False if ``timeout`` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Refuse new alerts, give queued ones up to ``timeout`` seconds, then stop the workers.

        Alerts still waiting after that (or in a backoff pause) are reported as not delivered.
        Returns True if everything queued was delivered or given up before the timeout.
        """
        with self._submit_lock:
            if self._closed:
                return self.flush(0)
            self._closed = True
        deadline = time.monotonic() + timeout
        drained = self.flush(timeout)
        self._stop.set()
        for lane in self._lanes:
            lane.queue.put_nowait(None)  # ends the worker
        for lane in self._lanes:
            if lane.thread is not None:
                # A channel stuck in a send keeps its (daemon) thread: its own timeout ends it.
                lane.thread.join(max(0.0, deadline - time.monotonic()) + 0.1)
        return drained

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _work(self, lane: _Lane) -> None:
        while True:
            alert = lane.queue.get()
            if alert is None:
                return
            try:
                if self._stop.is_set():
                    self._report(alert, lane.channel.name, False, 0, "not delivered: the dispatcher closed first")
                else:
                    self._deliver(lane.channel, alert)
            except Exception:  # _deliver reports everything itself; this keeps the lane alive whatever happens
                log.exception("alert %s: delivery to %s failed unexpectedly", alert.id, lane.channel.name)
            finally:
                with self._idle:
                    self._pending -= 1
                    if not self._pending:
                        self._idle.notify_all()

    def _deliver(self, channel: Channel, alert: Alert) -> None:
        name = channel.name
        for attempt in range(1, self.max_attempts + 1):
            try:
                channel.send(alert)
            except Exception as exc:  # any failure of a channel is a failed attempt
                error = _describe(exc)
                if not getattr(exc, "retryable", True):
                    final = f"{error}; not retried (asking again cannot succeed)"
                elif attempt >= self.max_attempts:
                    final = f"{error}; giving up after {_plural(attempt, 'attempt')}"
                else:
                    wait = self.delay(attempt)
                    log.info("alert %s to %s: attempt %d failed: %s; retrying in %g s", alert.id, name, attempt,
                             error, wait)
                    self._report(alert, name, False, attempt, f"{error}; retrying in {wait:g} s")
                    if self._stop.wait(wait):
                        final = f"{error}; giving up after {_plural(attempt, 'attempt')}: the dispatcher closed"
                    else:
                        continue
                log.warning("alert %s not delivered to %s: %s", alert.id, name, final)
                self._report(alert, name, False, attempt, final)
                return
            else:
                self._report(alert, name, True, attempt, None)
                return

    def _report(self, alert: Alert, channel: str, ok: bool, attempts: int, error: str | None) -> None:
        if self._on_result is None:
            return
        with self._report_lock:
            try:
                self._on_result(alert, channel, ok, attempts, error)
            except Exception:  # the caller's storage failing must not stop delivery
                log.exception("alert %s: on_result callback failed for %s", alert.id, channel)
