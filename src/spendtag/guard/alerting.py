"""Firing alerts: which budget thresholds and forecasts a period has crossed, stored once, then sent.

The ledger is the judge of "once": an alert is sent only if this call stored it (its id is
``<budget>:<period>:<threshold>``). Delivery happens after, through the channels, and each
attempt's outcome is stored; a failing channel never loses the alert record.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from spendtag.config_table import Table
from spendtag.errors import ConfigError
from spendtag.guard.alerts import Alert, Channel, Contributor, Dispatcher, channel_from_config, render_json
from spendtag.guard.budgets import Budget, Status, status
from spendtag.ledger.store import AlertRecord, Delivery, Store
from spendtag.money import format_usd


def channels_from_config(section: Any, *, path: str) -> dict[str, Channel]:
    """``[alerts.channels.NAME]`` tables -> channels by name (a console channel always exists)."""
    from spendtag.guard.alerts import ConsoleChannel

    found: dict[str, Channel] = {"console": ConsoleChannel()}
    if section is None:
        return found
    alerts = Table(section, path=path, key=("alerts",), label="[alerts]", example="write [alerts.channels.NAME] tables")
    alerts.only(["channels"])
    tables = alerts.table("channels", example='e.g. [alerts.channels.ops] with type = "webhook"')
    for name, table in tables.data.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"alert channel {name!r} must be a table", path=path, key=("alerts", "channels", name),
                              fix=f'write [alerts.channels.{name}] with type = "webhook" etc.')
        found[name] = channel_from_config(name, table, path=path)
    return found


def contributors(store: Store, budget: Budget, st: Status, tz: ZoneInfo, n: int = 3) -> tuple[Contributor, ...]:
    """The top agents, models and sessions in this budget's period."""
    out: list[Contributor] = []
    for kind in ("agent", "model", "session"):
        rows = sorted(store.aggregate(budget.filters(st.range), [kind], tz), key=lambda a: -a.totals.cost)
        out += [Contributor(kind, a.key[0] or "(none)", a.totals.cost) for a in rows[:n] if a.totals.cost]
    return tuple(out)


def _alert(kind: str, budget: Budget, st: Status, threshold: str, contrib: tuple[Contributor, ...],
           now: datetime, message: str = "") -> Alert:
    return Alert(
        id=f"{budget.name}:{st.period}:{threshold}", kind=kind, budget=budget.name, scope=budget.describe_scope(),
        threshold=threshold, spent=st.spent, limit=budget.limit, period=st.period, days_left=st.days_left,
        projected=st.projected, contributors=contrib, message=message, fired_at=now,
    )


def due(store: Store, budgets: Sequence[Budget], now: datetime, tz: ZoneInfo) -> list[Alert]:
    """Record every alert the current periods call for that was not recorded before; return the new ones.

    A fixed-range budget that has not started or has expired is not in effect: it never alerts.
    """
    fired: list[Alert] = []
    for budget in budgets:
        if not budget.in_effect(now, tz):
            continue
        st = status(store, budget, now, tz)
        wanted: list[tuple[str, str, str]] = [("threshold", t.label, "") for t in st.crossed]
        if (budget.forecast_alert and st.projected is not None and st.projected > budget.limit
                and st.spent < budget.limit):
            wanted.append(("forecast", "forecast", f"projected {format_usd(st.projected)} by the end of {st.period} "
                                                   f"at the current rate, over the {format_usd(budget.limit)} limit"))
        if not wanted:
            continue
        contrib = contributors(store, budget, st, tz)
        for kind, threshold, message in wanted:
            alert = _alert(kind, budget, st, threshold, contrib, now, message)
            record = AlertRecord(alert.id, kind, budget.name, st.period, threshold, st.spent, budget.limit, now,
                                 render_json(alert))
            if store.add_alert(record):
                fired.append(alert)
    return fired


def deliver(store: Store, alerts: Sequence[Alert], channels: Mapping[str, Channel],
            budgets: Mapping[str, Budget] | None = None, *, timeout: float = 30.0) -> None:
    """Send alerts through their budgets' channels (all when a budget names none); store each outcome."""
    if not alerts:
        return

    # Called from the dispatcher's threads after every attempt: keep the latest outcome per
    # (alert, channel) and store them here, on this thread, once delivery is over.
    outcomes: dict[tuple[str, str], tuple[bool, int, str | None]] = {}
    lock = threading.Lock()

    def on_result(alert: Alert, channel: str, ok: bool, attempts: int, error: str | None) -> None:
        with lock:
            outcomes[(alert.id, channel)] = (ok, attempts, error)

    by_channels: dict[tuple[str, ...], list[Alert]] = {}
    for alert in alerts:
        budget = (budgets or {}).get(alert.budget or "")
        names = tuple(budget.channels) if budget and budget.channels else tuple(channels)
        by_channels.setdefault(names, []).append(alert)
    for names, group in by_channels.items():
        unknown = [n for n in names if n not in channels]
        if unknown:
            raise ConfigError(f"alert channel(s) {', '.join(unknown)} are not configured",
                              fix="add [alerts.channels.NAME] to the config file")
        dispatcher = Dispatcher([channels[n] for n in names], on_result=on_result)
        try:
            for alert in group:
                dispatcher.submit(alert)
            dispatcher.flush(timeout)
        finally:
            dispatcher.close()
    with lock:
        final = dict(outcomes)
    now = datetime.now(UTC)
    for (alert_id, channel), (ok, attempts, error) in sorted(final.items()):
        store.add_delivery(Delivery(alert_id, channel, ok, attempts, error, now))


def run(store: Store, budgets: Sequence[Budget], channels: Mapping[str, Channel], *, tz: ZoneInfo,
        now: datetime | None = None) -> list[Alert]:
    """Fire and deliver what is due now."""
    fired = due(store, budgets, now or datetime.now(UTC), tz)
    deliver(store, fired, channels, {b.name: b for b in budgets})
    return fired


def anomaly_alerts(store: Store, found: Sequence[Any], now: datetime | None = None) -> list[Alert]:
    """Record anomalies as alerts, once per (scope, hour, kind); return the new ones."""
    now = now or datetime.now(UTC)
    fired = []
    for a in found:
        alert = Alert(id=f"anomaly:{a.scope}:{a.hour:%Y-%m-%dT%H}:{a.kind}", kind="anomaly", budget=None,
                      scope=a.scope, threshold=a.kind, spent=a.value if isinstance(a.value, int) else 0, limit=None,
                      period=f"{a.hour:%Y-%m-%d %H:00} UTC", days_left=None, projected=None, message=a.explanation,
                      fired_at=now)
        record = AlertRecord(alert.id, "anomaly", None, alert.period, a.kind, alert.spent, None, now,
                             render_json(alert))
        if store.add_alert(record):
            fired.append(alert)
    return fired
