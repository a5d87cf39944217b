"""What an alert says: one record, rendered as text (console, email), JSON (webhooks) and Slack blocks.

Money stays ``int`` pico-USD in :class:`Alert`; it becomes text only here, through
:func:`spendtag.money.format_usd` for people and :func:`spendtag.money.exact_str` for machines.
No float is ever produced: percentages and days are ``Decimal`` rendered as strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from spendtag.money import exact_str, format_usd

# How many contributors the human-readable forms list (JSON carries all of them).
TOP_CONTRIBUTORS = 5
_SLACK_HEADER_MAX = 150  # Slack rejects a header block longer than this


@dataclass(frozen=True)
class Contributor:
    """One of the top contributors to a budget's spend."""

    kind: str   # "agent" | "model" | "session" | "client" ...
    name: str
    cost: int   # pico-USD


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Alert:
    """One alert, as the budget, forecast or anomaly code decided to fire it.

    ``id`` is the dedupe key (budget + period + threshold, built by the caller): a receiver
    that sees the same id twice is seeing a retry or a re-send, not a new crossing.
    """

    id: str
    kind: str                    # "threshold" | "forecast" | "anomaly" | "test" | "drift"
    budget: str | None
    scope: str                   # "client=acme", "agent=planner", "everything"
    threshold: str               # "80%", "$150", "stop 100%", "forecast"
    spent: int                   # pico-USD
    limit: int | None            # pico-USD
    period: str                  # "2026-03", "2026-03-14", "2026-W11", "2026-03-01 – 2026-06-30"
    days_left: Decimal | None
    projected: int | None        # end-of-period spend at the current rate, pico-USD
    contributors: tuple[Contributor, ...] = ()
    message: str = ""
    fired_at: datetime = field(default_factory=_now)


def _plain(value: Decimal, places: int = 1) -> str:
    """``80`` or ``80.5``: rounded half-even to ``places``, without a trailing ``.0``."""
    q = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    if q == q.to_integral_value():
        return str(int(q))
    return format(q.normalize(), "f")


def percent(amount: int, limit: int | None) -> Decimal | None:
    """``amount`` as a percentage of ``limit`` (exact Decimal), or None without a positive limit."""
    if not limit or limit <= 0:
        return None
    return Decimal(amount) * 100 / Decimal(limit)


def _days(days: Decimal, *, short: bool = False) -> str:
    tail = "" if short else " in the period"
    if days <= 0:
        return "the period has ended"
    if days < 1:
        return f"less than a day left{tail}"
    shown = _plain(days)
    return f"{shown} day{'' if shown == '1' else 's'} left{tail}"


def _subject_of(alert: Alert) -> str:
    return alert.budget if alert.budget else alert.scope


def _headline(alert: Alert) -> str:
    """The first sentence: what happened, to which budget or scope, in which period."""
    who = f"Budget {alert.budget} ({alert.scope})" if alert.budget else f"Scope {alert.scope}"
    if alert.kind == "threshold":
        if alert.threshold.lower().startswith("stop"):
            level = alert.threshold[4:].strip()
            return f"{who} reached its stop threshold{' ' + level if level else ''} for {alert.period}."
        return f"{who} crossed {alert.threshold} for {alert.period}."
    if alert.kind == "forecast":
        return f"{who} is forecast to exceed its limit before {alert.period} ends."
    if alert.kind == "anomaly":
        return f"Unusual spend in {alert.scope}{f' (budget {alert.budget})' if alert.budget else ''} in {alert.period}."
    if alert.kind == "test":
        return f"Test alert from spendtag for {_subject_of(alert)}: if you can read this, the channel works."
    what = f" ({alert.threshold})" if alert.threshold not in ("", alert.kind) else ""
    if alert.kind == "drift":
        return f"Spend drift for {who[0].lower()}{who[1:]}{what} in {alert.period}."
    return f"{alert.kind.capitalize()} alert for {who[0].lower()}{who[1:]}{what} in {alert.period}."


def _spent_line(alert: Alert) -> str:
    pct = percent(alert.spent, alert.limit)
    if alert.limit is None:
        return f"Spent {format_usd(alert.spent)} (no limit)."
    share = f" ({_plain(pct)}%)" if pct is not None else ""
    return f"Spent {format_usd(alert.spent)} of {format_usd(alert.limit)}{share}."


def _projection_line(alert: Alert) -> str:
    if alert.projected is None:
        return ""
    text = f"At the current rate: {format_usd(alert.projected)} by the end of the period"
    pct = percent(alert.projected, alert.limit)
    if pct is not None and alert.limit is not None:
        over = alert.projected - alert.limit
        text += f" ({_plain(pct)}% of the limit"
        text += f", {format_usd(over)} over)" if over > 0 else ")"
    return text + "."


def _contributors_line(alert: Alert) -> str:
    if not alert.contributors:
        return ""
    shown = ", ".join(f"{c.kind} {c.name} {format_usd(c.cost)}" for c in alert.contributors[:TOP_CONTRIBUTORS])
    more = len(alert.contributors) - TOP_CONTRIBUTORS
    return f"Top contributors: {shown}{f' and {more} more' if more > 0 else ''}."


def render_text(alert: Alert) -> str:
    """One paragraph: what was crossed, spent/limit and percent, days left, projection, top contributors."""
    parts = [_headline(alert), _spent_line(alert)]
    if alert.days_left is not None:
        days = _days(alert.days_left)
        parts.append(days[0].upper() + days[1:] + ".")
    parts.append(_projection_line(alert))
    parts.append(_contributors_line(alert))
    if alert.message:
        parts.append(alert.message.strip())
    return " ".join(p for p in parts if p)


def render_subject(alert: Alert) -> str:
    """An email subject such as ``spendtag: acme-retainer at 80% ($241.50 of $300.00, 2026-03)``."""
    amounts = format_usd(alert.spent) + (f" of {format_usd(alert.limit)}" if alert.limit is not None else "")
    who = _subject_of(alert)
    if alert.kind == "threshold":
        what = f"{who} at {alert.threshold}"
    elif alert.kind == "forecast":
        projected = f", projected {format_usd(alert.projected)}" if alert.projected is not None else ""
        what, amounts = f"{who} forecast over its limit", amounts + projected
    elif alert.kind == "test":
        what = f"test alert for {who}"
    else:
        what = f"{alert.kind} for {who}" + (f" ({alert.threshold})" if alert.threshold not in ("", alert.kind) else "")
    subject = f"spendtag: {what} ({amounts}, {alert.period})"
    # A header must never carry a line break a budget name smuggled in.
    return " ".join(subject.split())


def _usd(pico: int | None) -> str | None:
    return None if pico is None else exact_str(pico)


def render_json(alert: Alert) -> dict[str, Any]:
    """The webhook body: every field; money as exact decimal USD strings under ``*_usd`` names, never floats.

    Plain integers of pico-USD are left out on purpose: JavaScript receivers would read
    anything above $9,007 as a rounded double.
    """
    spent_pct = percent(alert.spent, alert.limit)
    projected_pct = None if alert.projected is None else percent(alert.projected, alert.limit)
    return {
        "schema": "spendtag.alert/1",
        "id": alert.id,
        "kind": alert.kind,
        "budget": alert.budget,
        "scope": alert.scope,
        "threshold": alert.threshold,
        "period": alert.period,
        "spent_usd": exact_str(alert.spent),
        "limit_usd": _usd(alert.limit),
        "percent": None if spent_pct is None else _plain(spent_pct, 2),
        "days_left": None if alert.days_left is None else format(alert.days_left, "f"),
        "projected_usd": _usd(alert.projected),
        "projected_percent": None if projected_pct is None else _plain(projected_pct, 2),
        "contributors": [{"kind": c.kind, "name": c.name, "cost_usd": exact_str(c.cost)} for c in alert.contributors],
        "message": alert.message,
        "fired_at": alert.fired_at.isoformat(),
        "text": render_text(alert),
    }


def _mrkdwn(text: str, limit: int = 2000) -> str:
    """Escape the three characters Slack's mrkdwn treats as control syntax; cut to Slack's size limit."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_slack(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook payload: ``text`` (the notification fallback) and ``blocks``."""
    header = render_subject(alert).removeprefix("spendtag: ")
    if len(header) > _SLACK_HEADER_MAX:
        header = header[: _SLACK_HEADER_MAX - 1] + "…"
    spent = _spent_line(alert).removeprefix("Spent ").rstrip(".")
    period = alert.period + (f" ({_days(alert.days_left, short=True)})" if alert.days_left is not None else "")
    fields = [
        {"type": "mrkdwn", "text": f"*Spent*\n{_mrkdwn(spent)}"},
        {"type": "mrkdwn", "text": f"*Threshold*\n{_mrkdwn(alert.threshold)}"},
        {"type": "mrkdwn", "text": f"*Scope*\n{_mrkdwn(alert.scope)}"},
        {"type": "mrkdwn", "text": f"*Period*\n{_mrkdwn(period)}"},
    ]
    if alert.projected is not None:
        projected = _projection_line(alert).removeprefix("At the current rate: ").rstrip(".")
        fields.append({"type": "mrkdwn", "text": f"*Projected at the current rate*\n{_mrkdwn(projected)}"})
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(_headline(alert))}, "fields": fields},
    ]
    if alert.contributors:
        lines = "\n".join(f"• {_mrkdwn(c.kind)} `{_mrkdwn(c.name)}` {format_usd(c.cost)}"
                          for c in alert.contributors[:TOP_CONTRIBUTORS])
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Top contributors*\n{lines}"}})
    if alert.message:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(alert.message, 2900)}})
    fired = alert.fired_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    blocks.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": f"spendtag · alert `{_mrkdwn(alert.id)}` · fired {fired}"},
    ]})
    return {"text": _mrkdwn(render_text(alert), 3000), "blocks": blocks}
