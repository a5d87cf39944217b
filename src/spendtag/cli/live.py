"""The `spendtag watch` screen."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rich.console import Group
from rich.table import Table

from spendtag.guard.budgets import Budget, statuses
from spendtag.ledger.query import Filters, Totals
from spendtag.ledger.store import Store
from spendtag.money import format_cost, screen
from spendtag.periods import duration_text, named_period
from spendtag.report.sessions import current_block, list_sessions


def dashboard(store: Store, budgets: Sequence[Budget], tz: ZoneInfo, now: datetime) -> Group:
    today = named_period("today", tz, now)
    spent = Totals()
    for a in store.aggregate(Filters(since=today.since, until=today.until)):
        spent.merge(a.totals)
    lines = [f"today: {_cost(spent)}"]
    recent = list_sessions(store, Filters(since=now - timedelta(minutes=30)), limit=1)
    if recent:
        s = recent[0]
        lines.append(f"active session {s.session[:12]} ({', '.join(s.projects) or '-'}): {_cost(s.totals)} "
                     f"in {duration_text((s.end - s.start).total_seconds())}")
    block = current_block(store, now)   # burn rate and projection: from priced calls (said above when some are not)
    if block is not None:
        lines.append(f"5-hour block: {screen(block.totals.cost)}, burn rate {screen(block.burn_rate)}/h, "
                     f"projected {screen(block.projected(now))}")
    table = Table(title="Budgets", title_justify="left")
    for col in ("budget", "spent", "limit", "left", "status"):
        table.add_column(col)
    for st in statuses(store, budgets, now, tz):
        table.add_row(st.budget.name, screen(st.spent), screen(st.budget.limit),
                      screen(max(0, st.budget.limit - st.spent)), st.state)
    return Group(*lines, table) if budgets else Group(*lines)


def _cost(totals: Totals) -> str:
    return format_cost(totals.cost, totals.requests, totals["unpriced_requests"])
