"""``spendtag budget``, ``alerts``, ``forecast``, ``anomalies`` and ``check``."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import click

from spendtag.cli.app import App
from spendtag.cli.catalog import HelpGroup
from spendtag.cli.params import AMOUNT, DAY, DAYS, HOURS, ROWS
from spendtag.errors import did_you_mean
from spendtag.periods import Range


def _percents(text: str | None, option: str) -> tuple[Decimal, ...]:
    from spendtag.guard.budgets import BudgetError, parse_percents

    try:
        return parse_percents(text, option)
    except BudgetError as exc:
        raise click.BadParameter(str(exc).partition(": ")[2], param_hint=f"'{option}'") from None


def _stop_percent(text: str | None) -> Decimal | None:
    from spendtag.guard.budgets import BudgetError, parse_stop_percent

    try:
        return parse_stop_percent(text, "--stop-at")
    except BudgetError as exc:
        raise click.BadParameter(str(exc).partition(": ")[2], param_hint="'--stop-at'") from None


@click.group(cls=HelpGroup)
def budget() -> None:
    """Spending limits per client, project, agent, key or everything, with alerts and hard stops."""


@budget.command("set")
@click.argument("name")
@click.option("--scope", multiple=True, metavar="SELECTOR", help="Tag condition, e.g. client=acme. Repeatable.")
@click.option("--agent", help="Only this agent.")
@click.option("--key", help="Only this virtual key.")
@click.option("--project", help="Only this project path (and below).")
@click.option("--daily", type=AMOUNT, metavar="USD", help="Limit per day.")
@click.option("--weekly", type=AMOUNT, metavar="USD", help="Limit per week (Monday to Sunday).")
@click.option("--monthly", type=AMOUNT, metavar="USD", help="Limit per calendar month.")
@click.option("--total", type=AMOUNT, metavar="USD", help="One limit for all time, or for --from/--until.")
@click.option("--from", "start", type=DAY, help="First day counted (with --total): 2026-03-01.")
@click.option("--until", "end", type=DAY, help="First day no longer counted (with --total): 2026-07-01.")
@click.option("--notify-at", help="Alert at these percentages of the limit, e.g. 50,80 [default: 100 when no "
                                  "threshold is given].")
@click.option("--notify-at-amount", type=AMOUNT, multiple=True, metavar="USD",
              help="Alert at this amount spent. Repeatable.")
@click.option("--stop-at", help="Stop threshold in percent (hard cap where enforcement blocks), e.g. 100 "
                                "[default: 100 with --enforce block].")
@click.option("--enforce", type=click.Choice(["warn", "block"]), default="warn", show_default=True,
              help="At the stop threshold: warn only, or block new calls (proxy, SDK, Claude Code hook).")
@click.option("--no-forecast-alert", is_flag=True, help="Do not warn when the projection exceeds the limit.")
@click.option("--channel", "channels", multiple=True, help="Alert channels to use (default: all configured).")
@click.option("--allow-new", is_flag=True,
              help="The scope names a tag value (client...) with no calls yet, close to one that has some.")
@click.pass_obj
def set_(app: App, name: str, scope: tuple[str, ...], agent: str | None, key: str | None, project: str | None,
         daily: int | None, weekly: int | None, monthly: int | None, total: int | None, start: date | None,
         end: date | None, notify_at: str | None, notify_at_amount: tuple[int, ...], stop_at: str | None,
         enforce: str, no_forecast_alert: bool, channels: tuple[str, ...], allow_new: bool) -> None:
    """Create or replace budget NAME.

    \b
    Examples:
      spendtag budget set team --monthly 200 --notify-at 80
      spendtag budget set daily-cap --daily 10
      spendtag budget set acme-web --project ~/clients/acme/web --monthly 50
      spendtag budget set acme --scope client=acme --monthly 300 --notify-at 80 --stop-at 100 --enforce block
    """
    from spendtag.guard import budgets as budgets_mod
    from spendtag.guard.budgets import Budget
    from spendtag.tags import Selector

    given = [(p, v) for p, v in (("daily", daily), ("weekly", weekly), ("monthly", monthly), ("total", total))
             if v is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --daily, --weekly, --monthly or --total with the limit")
    period, amount = given[0]
    if (start or end) and period != "total":
        raise click.UsageError("--from/--until make a fixed range: use them with --total")
    known = app.settings.alert_channels
    for channel in channels:
        if channel not in known:
            raise click.BadParameter(f"{channel!r} is not a configured alert channel ({did_you_mean(channel, known)}; "
                                     "channels are [alerts.channels.NAME] tables in the config file)",
                                     param_hint="'--channel'")
    b = Budget(
        name=name, limit=amount, period=period, scope=tuple(Selector.parse(s) for s in scope),
        agent=agent, key=key, project=project, start=start, end=end,
        notify_percent=_percents(notify_at, "--notify-at"), notify_amount=notify_at_amount,
        stop_percent=_stop_percent(stop_at), enforce=enforce,  # type: ignore[arg-type]
        forecast_alert=not no_forecast_alert, channels=channels,
    )
    notes = budgets_mod.save(app.store, b, app.budgets, channels=known, allow_new=allow_new)
    for note in notes:
        click.echo(f"note: budget {name} counts from the first such call: {note}", err=True)
    app.console.out(f"budget {name}: {b.describe_scope()}, {_money(b.limit)} {b.describe_period()}, "
                    f"alerts at {', '.join(_threshold_label(t) for t in b.thresholds())}")


def _threshold_label(t: Any) -> str:
    return f"{t.label} (default)" if t.implied else t.label


def _scope_notes(app: App, filters: Any, allow_new: bool) -> list[str]:
    """Refuse a scope naming a near miss of a tag value the ledger has (a typo); other unseen names are notes."""
    from spendtag.report.matching import check_scope

    return check_scope(app.store, filters, allow_new=allow_new,
                       fix="for a scope with no calls yet, pass --allow-new")


def _money(pico: int | None) -> str:
    from spendtag.money import screen

    return "-" if pico is None else screen(pico)


@budget.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_obj
def list_(app: App, fmt: str) -> None:
    """Every budget: spent, limit, percent, projection, days left and status.

    A fixed range (--total --from/--until) that has ended shows as expired, with its final
    figures; one that has not started yet, as not started.
    """
    from spendtag.guard.budgets import status_json, statuses

    rows = statuses(app.store, app.budgets, datetime.now(UTC), app.tz)
    if fmt == "json":
        app.console.out(json.dumps([status_json(s) for s in rows], indent=2))
        return
    from spendtag.cli.tables import Column, build

    # On a narrow terminal: days left, period, scope and % go first; the name and status are cut.
    columns = (Column("name", shrink=True, keep=None), Column("scope", shrink=True, keep=1),
               Column("period", keep=0), Column("spent", "right", money=True), Column("limit", "right", money=True),
               Column("%", "right", keep=3), Column("projected", "right", money=True, short="proj."),
               Column("days left", "right", keep=0, short="left"), Column("status", shrink=True, keep=2, least=6))
    table = [[s.budget.name, s.budget.describe_scope(), s.period, _money(s.spent), _money(s.budget.limit),
              f"{s.percent}%", _money(s.projected), "-" if s.days_left is None else str(s.days_left), s.state]
             for s in rows]
    app.console.print(build(app.console, columns, table, title="Budgets"))
    from spendtag.report import matching

    vocab = app.store.vocabulary()
    for s in rows:
        unknown = matching.problems(app.store, s.budget.filters(Range(None, None)), vocab=vocab)
        if unknown:
            app.console.out(f"warning: budget {s.budget.name}: {unknown[0]}")


@budget.command("show")
@click.argument("name")
@click.pass_obj
def show(app: App, name: str) -> None:
    """One budget in full: thresholds, projection, top contributors and recommendations."""
    from spendtag.guard.alerting import contributors
    from spendtag.guard.budgets import status
    from spendtag.report.recommendations import recommend

    found = next((b for b in app.budgets if b.name == name), None)
    if found is None:
        raise click.UsageError(f"no budget {name!r}; see `spendtag budget list`")
    st = status(app.store, found, datetime.now(UTC), app.tz)
    out = app.console.out
    out(f"budget {found.name} ({found.origin}): {found.describe_scope()}, {found.describe_period()}, "
        f"enforce={found.enforce}")
    if st.phase == "expired":
        out(f"period {st.period}: ended; final figures: spent {_money(st.spent)} of {_money(found.limit)} "
            f"({st.percent}%) · expired (no alerts, no enforcement)")
    elif st.phase == "upcoming":
        out(f"period {st.period}: starts on {found.start}; spent {_money(st.spent)} of {_money(found.limit)} "
            f"({st.percent}%) · not started (no alerts, no enforcement until then)")
    else:
        out(f"period {st.period}: spent {_money(st.spent)} of {_money(found.limit)} ({st.percent}%) · {st.state}")
    if st.projected is not None:
        out(f"projected at the current rate: {_money(st.projected)} (range {_money(st.low)} – {_money(st.high)})"
            + (f"; limit reached on {st.run_out}" if st.run_out else ""))
    if st.days_left is not None:
        out(f"days left: {st.days_left}")
    out("thresholds:")
    for t in found.thresholds():
        blocks = " · blocks calls" if t.stop and found.enforce == "block" and st.current else ""
        out(f"  {'✔' if st.spent >= t.amount else '·'} {_threshold_label(t)} at {_money(t.amount)}{blocks}")
    if found.scope or found.agent or found.key or found.project:
        _show_scope_matches(app, found, st.range)
    contrib = contributors(app.store, found, st, app.tz)
    if contrib:
        out("top contributors: " + ", ".join(f"{c.kind} {c.name} {_money(c.cost)}" for c in contrib))
    for line in recommend(app.store, app.pricer, found.filters(st.range), app.tz):
        out(f"recommendation: {line}")


def _show_scope_matches(app: App, b: Any, period: Range) -> None:
    """Say when a budget's scope names what no call carries, or has no calls in its period: never a quiet $0."""
    from spendtag.report import matching

    unknown = matching.problems(app.store, b.filters(Range(None, None)))
    if unknown:
        app.console.out(f"warning: this budget counts nothing until such a call is recorded: {unknown[0]}")
    elif not any(a.totals.requests for a in app.store.aggregate(b.filters(period))):
        app.console.out(f"note: {matching.explain_empty(app.store, b.filters(period), period, app.tz)}")


@budget.command("remove")
@click.argument("name")
@click.pass_obj
def remove(app: App, name: str) -> None:
    """Delete budget NAME (config-file budgets are removed by editing the file)."""
    from spendtag.guard import budgets as budgets_mod

    budgets_mod.remove(app.store, name, app.budgets)
    app.console.out(f"budget {name} removed")


@click.group(cls=HelpGroup, invoke_without_command=True)
@click.option("--limit", type=ROWS, default=50, show_default=True, help="How many to show.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def alerts(ctx: click.Context, limit: int, fmt: str) -> None:
    """Alerts that fired (newest first); `spendtag alerts test CHANNEL` sends a test alert."""
    if ctx.invoked_subcommand is not None:
        return
    app: App = ctx.obj
    found = app.store.alerts(limit=limit)
    if fmt == "json":
        app.console.out(json.dumps([{
            "alert_id": a.alert_id, "kind": a.kind, "budget": a.budget, "period": a.period,
            "threshold": a.threshold, "fired_at": a.fired_at.isoformat(), "payload": a.payload,
            "deliveries": [{"channel": d.channel, "ok": d.ok, "attempts": d.attempts, "error": d.error}
                           for d in app.store.deliveries(a.alert_id)],
        } for a in found], indent=2))
        return
    if not found:
        app.console.out("no alerts yet")
        return
    for a in found:
        sent = ", ".join(f"{d.channel}:{'ok' if d.ok else 'failed'}" for d in app.store.deliveries(a.alert_id)
                         if d.ok or d.attempts) or "not sent"
        app.console.out(f"{a.fired_at.astimezone(app.tz):%Y-%m-%d %H:%M} {a.budget} {a.threshold} ({a.period}): "
                        f"spent {_money(a.spent)} of {_money(a.limit)} · {sent}")


@alerts.command("test")
@click.argument("channel")
@click.pass_obj
def alerts_test(app: App, channel: str) -> None:
    """Send a test alert through CHANNEL (console, or a name from [alerts.channels])."""
    from spendtag.guard.alerts import Alert, Dispatcher

    if channel not in app.channels:
        raise click.UsageError(f"no alert channel {channel!r}; configured: {', '.join(sorted(app.channels))}")
    now = datetime.now(UTC)
    alert = Alert(id=f"test:{now:%Y%m%dT%H%M%S}", kind="test", budget="test", scope="everything",
                  threshold="80%", spent=80 * 10**12, limit=100 * 10**12, period=f"{now:%Y-%m}",
                  days_left=Decimal(10), projected=120 * 10**12, message="This is a test alert from spendtag.",
                  fired_at=now)
    results = Dispatcher([app.channels[channel]], max_attempts=1).send_now(alert)
    for name, ok, error in results:
        app.console.out(f"{name}: {'sent' if ok else 'failed: ' + (error or '')}")
    if not all(ok for _, ok, _ in results):
        raise SystemExit(1)


@click.command()
@click.option("--scope", multiple=True, metavar="SELECTOR", help="Tag condition, e.g. client=acme.")
@click.option("--agent", help="Only this agent.")
@click.option("--budget", "budget_name", help="Forecast this budget's scope and period against its limit.")
@click.option("--limit", "limit_usd", type=AMOUNT, metavar="USD", help="A limit to compare with (date it runs out).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_obj
def forecast(app: App, scope: tuple[str, ...], agent: str | None, budget_name: str | None, limit_usd: int | None,
             fmt: str) -> None:
    """Projected end-of-month spend (weekday-aware), its range, and when a limit runs out."""
    from spendtag.guard.budgets import forecast_json, forecast_status

    st, has_limit = forecast_status(app.store, app.budgets, scope=scope, agent=agent, budget_name=budget_name,
                                    limit=limit_usd, now=datetime.now(UTC), tz=app.tz)
    b = st.budget
    if fmt == "json":
        app.console.out(json.dumps(forecast_json(st, has_limit), indent=2))
        return
    app.console.out(f"{b.describe_scope()} · {st.period}: spent {_money(st.spent)} so far")
    app.console.out(f"projected: {_money(st.projected)} (range {_money(st.low)} – {_money(st.high)})")
    if has_limit:
        when = f"runs out on {st.run_out}" if st.run_out else "not reached this period at the current rate"
        app.console.out(f"limit {_money(b.limit)}: {when}")


@click.command()
@click.option("--by", "by_key", default="agent", show_default=True, help="Scope: agent, model, or a tag key.")
@click.option("--hours", type=HOURS, default=24, show_default=True, help="How many recent hours to judge.")
@click.option("--days", type=DAYS, default=30, show_default=True, help="Days of history for the baselines.")
@click.option("--alert/--no-alert", "alert", default=False, show_default=True,
              help="Also record each anomaly as an alert (once per scope, hour and kind) and send it through "
                   "the configured channels. Without it the command only lists.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_obj
def anomalies(app: App, by_key: str, hours: int, days: int, alert: bool, fmt: str) -> None:
    """Scopes whose spend, cost per call or request rate left their own baseline (a runaway agent...).

    Lists only. With --alert each anomaly is also recorded as an alert and sent through the
    configured channels (once per scope, hour and kind): run `spendtag anomalies --alert`
    from cron to be told.
    """
    from spendtag.guard import alerting
    from spendtag.guard.anomaly_scan import find_anomalies
    from spendtag.ledger.query import Filters
    from spendtag.report import matching
    from spendtag.report.breakdown import group_key

    # Else "no anomalies" for a typo; the client key is always a key (no client tag yet: no anomaly).
    matching.check(app.store, Filters(), by=[group_key(by_key)], known_keys=(app.settings["client_key"],))
    found = find_anomalies(app.store, by_key, now=datetime.now(UTC), recent=timedelta(hours=hours),
                           history=timedelta(days=days))
    if found and alert:
        alerting.deliver(app.store, alerting.anomaly_alerts(app.store, found), app.channels)
    if fmt == "json":
        app.console.out(json.dumps([{
            "scope": a.scope, "kind": a.kind, "hour": a.hour.isoformat(), "value": str(a.value),
            "baseline": str(a.baseline), "ratio": str(a.ratio), "explanation": a.explanation,
        } for a in found], indent=2))
        return
    if not found:
        app.console.out(f"no anomalies by {by_key} in the last {hours} hours")
    for a in found:
        app.console.out(f"{a.hour.astimezone(app.tz):%Y-%m-%d %H:00} {a.kind}: {a.explanation}")


@click.command()
@click.option("--scope", multiple=True, metavar="SELECTOR", help="Check budgets covering these tags.")
@click.option("--agent", help="Check budgets covering this agent.")
@click.option("--key", help="Check budgets covering this virtual key.")
@click.option("--project", help="Check budgets covering this project path.")
@click.option("--budget", "budget_name", help="Check this budget only.")
@click.option("--allow-new", is_flag=True,
              help="The scope names a tag value (client...) with no calls yet, close to one that has some.")
@click.pass_obj
def check(app: App, scope: tuple[str, ...], agent: str | None, key: str | None, project: str | None,
          budget_name: str | None, allow_new: bool) -> None:
    """Check the budgets covering a scope (all budgets without one), for scripts, CI and cron.

    Prints one line per budget: ok, OVER (at or over its limit), STOP (at its stop
    threshold) or - (a fixed range that has expired or not started: never fails the
    check). Also fires any budget alerts now due.

    \b
    Exit status:
      0  every budget in effect is under its limit and stop threshold
      1  a budget in effect is at or over its limit, or at its stop threshold
      2  a usage or configuration error (no such budget, a bad selector...)
    """
    from spendtag.guard import budgets as budgets_mod
    from spendtag.tags import parse_pairs

    chosen = [b for b in app.budgets if budget_name in (None, b.name)]
    if budget_name and not chosen:
        raise click.UsageError(f"no budget {budget_name!r}")
    tags = parse_pairs(scope) if scope else {}
    everything = not (scope or agent or key or project)
    _check_scope_names(app, tags, agent, key, project, allow_new)
    decisions = budgets_mod.check(app.store, chosen, tags=tags, agent=agent, key=key, project=project,
                                  tz=app.tz, all_budgets=everything)
    app.fire_alerts()
    for d in decisions:
        mark = "-" if d.phase != "current" else "STOP" if d.stopped else "OVER" if d.over else "ok"
        app.console.out(f"{mark:<4} {d.message}")
    if not decisions:
        app.console.out("no budget covers this scope")
    if any(d.over for d in decisions):
        raise SystemExit(1)


def _check_scope_names(app: App, tags: dict[str, str], agent: str | None, key: str | None, project: str | None,
                       allow_new: bool) -> None:
    from spendtag.ledger.query import Filters
    from spendtag.tags import Selector

    dims = {name: (value,) for name, value in (("agent", agent), ("key", key)) if value}
    wanted = Filters(tags=tuple(Selector(k, "eq", v) for k, v in tags.items()), dims=dims,
                     project=(project,) if project else ())
    for note in _scope_notes(app, wanted, allow_new):
        click.echo(f"note: {note}", err=True)


COMMANDS = [budget, alerts, forecast, anomalies, check]
