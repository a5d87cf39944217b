"""What each ``spendtag mcp`` tool answers: the same library calls, and the same JSON, as the CLI's.

Every answer is a dict: money as exact USD strings (``*_usd``, a Decimal as text) with the
same amount in integer pico-USD beside each (``*_pico``), and ``text``, one short line for
people. Nothing here writes: the server's store refuses writes besides.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from spendtag.attribution import Rules
from spendtag.guard import budgets as budgetmod
from spendtag.ledger.query import Filters, QueryError
from spendtag.ledger.store import Store
from spendtag.money import format_usd, from_decimal
from spendtag.report import matching
from spendtag.report.breakdown import build, group_key, parse_by, to_dict
from spendtag.report.selection import NAMED_PERIODS, select
from spendtag.report.sessions import detail, detail_json, list_sessions, resolve, view_json


@dataclass
class Ledger:
    """What the tools read: the store (refusing writes), the config's budgets, rules and time zone."""

    store: Store
    budgets: Sequence[budgetmod.Budget]
    rules: Rules
    tz: ZoneInfo
    client_key: str = "client"


def _with_pico(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = with_pico(value)
    return out


def with_pico(value: Any) -> Any:
    """``value`` with ``X_pico`` beside every ``X_usd`` (an exact USD string, or a mapping of them)."""
    if isinstance(value, list):
        return [with_pico(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        out[key] = with_pico(item)
        if key.endswith("_usd"):
            pico_key = key[:-4] + "_pico"
            if isinstance(item, str):
                out[pico_key] = from_decimal(Decimal(item), exact=True)
            elif isinstance(item, dict):
                out[pico_key] = {k: None if v is None else from_decimal(Decimal(v), exact=True)
                                 for k, v in item.items()}
            elif item is None:
                out[pico_key] = None
    return out


def _usd(pico: int | None) -> str:
    return "unknown (unpriced)" if pico is None else format_usd(pico)


def _pico(usd: str | None) -> int | None:
    return None if usd is None else from_decimal(Decimal(usd), exact=True)


def _select(ledger: Ledger, *, tags: Sequence[str] = (), project: str | None = None, agent: str | None = None,
            period: str | None = None, since: str | None = None, until: str | None = None) -> Any:
    named = [period] if period in NAMED_PERIODS else []
    return select(ledger.tz, tags=tags, dims={"agent": (agent,) if agent else ()},
                  project=(project,) if project else (), since=since, until=until,
                  period=None if named else period, named=named)


def spend(ledger: Ledger, *, tags: Sequence[str] = (), project: str | None = None, agent: str | None = None,
          period: str | None = None, since: str | None = None, until: str | None = None,
          by: str | None = None) -> dict[str, Any]:
    """Spend so far for the calls that match (tags such as client=acme, a project path, an agent), in a period."""
    sel = _select(ledger, tags=tags, project=project, agent=agent, period=period, since=since, until=until)
    keys = parse_by(by or ledger.client_key)
    matching.check(ledger.store, sel.filters, by=[group_key(n) for n in keys], known_keys=(ledger.client_key,))
    report = to_dict(build(ledger.store, keys, sel.filters, sel.tz))
    total = report["total"]
    what = " ".join([*tags, *([f"project={project}"] if project else []), *([f"agent={agent}"] if agent else [])])
    when = period or (f"{since or '…'} to {until or 'now'}" if since or until else "all time")
    unpriced = f", {total['unpriced_requests']:,} unpriced calls not in it" if total["unpriced_requests"] else ""
    text = (f"{what or 'everything'} · {when}: {_usd(_pico(total['cost_usd']))} over {total['requests']:,} "
            f"calls{unpriced}")
    return _with_pico({**report, "text": text})


def budget_status(ledger: Ledger, *, name: str | None = None) -> dict[str, Any]:
    """Every budget (or the one named): spent, limit, what is left, percent, projection and status."""
    chosen = [b for b in ledger.budgets if name is None or b.name == name]
    if name is not None and not chosen:
        known = ", ".join(b.name for b in ledger.budgets) or "none"
        raise QueryError(f"no budget {name!r} (budgets: {known})")
    rows = []
    for st in budgetmod.statuses(ledger.store, chosen, datetime.now(UTC), ledger.tz):
        row = budgetmod.status_json(st)
        from spendtag.money import exact_str

        row["left_usd"] = exact_str(max(0, st.budget.limit - st.spent))
        rows.append(row)
    lines = [f"{r['name']}: {_usd(_pico(r['spent_usd']))} of {_usd(_pico(r['limit_usd']))} "
             f"({r['percent']}%), {_usd(_pico(r['left_usd']))} left, {r['status']}" for r in rows]
    return _with_pico({"budgets": rows, "text": "; ".join(lines) or "no budgets (see `spendtag budget set`)"})


def forecast(ledger: Ledger, *, scope: Sequence[str] = (), agent: str | None = None, budget: str | None = None,
             limit_usd: str | None = None) -> dict[str, Any]:
    """The end-of-month projection for a budget or a scope, its range, and when a limit runs out."""
    from spendtag.money import parse_usd

    limit = parse_usd(limit_usd) if limit_usd is not None else None
    st, has_limit = budgetmod.forecast_status(ledger.store, ledger.budgets, scope=scope, agent=agent,
                                              budget_name=budget, limit=limit, now=datetime.now(UTC), tz=ledger.tz)
    out = budgetmod.forecast_json(st, has_limit)
    text = (f"{out['scope']} · {out['period']}: spent {_usd(_pico(out['spent_usd']))}, projected "
            f"{_usd(_pico(out['projected_usd']))}")
    if has_limit:
        text += f"; limit runs out on {out['run_out']}" if out["run_out"] else "; limit not reached at this rate"
    return _with_pico({**out, "text": text})


def session_cost(ledger: Ledger, *, session: str | None = None, project: str | None = None) -> dict[str, Any]:
    """One session's cost: the id given (or the start of one), else the latest session under the project
    (default: the server's working directory, where the agent started it)."""
    if session:
        session_id = resolve(ledger.store, session)
    else:
        where = project or os.getcwd()
        # Listed by their last hour: the latest call is among the first few (ties within an hour go by id).
        recent = list_sessions(ledger.store, Filters(project=(where,)), limit=50)
        if not recent:
            raise QueryError(f"no session recorded under {where} (import the agent's logs: `spendtag import`)")
        session_id = max(recent, key=lambda v: v.end).session
    found = detail(ledger.store, session_id)
    if found is None:
        raise QueryError(f"no calls recorded for session {session_id!r}")
    out = detail_json(found)
    text = (f"session {out['session']}: {_usd(_pico(out['cost_usd']))} over {out['requests']:,} calls "
            f"({', '.join(out['agents']) or 'no agent'})")
    return _with_pico({**out, "text": text})


def top_sessions(ledger: Ledger, *, limit: int = 10, tags: Sequence[str] = (), project: str | None = None,
                 agent: str | None = None, period: str | None = None, since: str | None = None,
                 until: str | None = None) -> dict[str, Any]:
    """The most expensive sessions that match, costliest first."""
    if not 1 <= limit <= 1000:
        raise QueryError("limit must be between 1 and 1000")
    sel = _select(ledger, tags=tags, project=project, agent=agent, period=period, since=since, until=until)
    matching.check(ledger.store, sel.filters)
    rows = [view_json(v) for v in list_sessions(ledger.store, sel.filters, limit=limit, by_cost=True)]
    text = "; ".join(f"{r['session'][:12]} {_usd(_pico(r['cost_usd']))}" for r in rows[:5]) or "no sessions"
    return _with_pico({"sessions": rows, "text": text})
