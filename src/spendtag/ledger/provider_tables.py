"""Provider report tables: what the providers' admin APIs said, beside (never inside) the ledger.

These rows are **not** spendtag's append-only event ledger. They are a copy of the
provider's own report for each UTC day, and the provider may revise a recent day, so a pull
*replaces* the days it read in full: delete and insert in one transaction per provider,
report and pull. Days a pull could not read keep what an earlier pull stored, and are not
marked pulled. Nothing here becomes an event, so no report counts a call twice.

``ProviderReports`` is a mixin for both stores, written through the hooks of
:class:`~spendtag.ledger.dialect.Dialect`; ``ProviderTables`` is the SQLite store's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from spendtag.ledger.dialect import Dialect
from spendtag.ledger.migration import Migration
from spendtag.ledger.store import Store
from spendtag.periods import from_us, to_us
from spendtag.usage import BILLED_TOKEN_BUCKETS, new_event_id

if TYPE_CHECKING:
    from spendtag.providers_api.model import CostRow, DayStatus, Fetched, PullLog, UsageRow

# providers_api.model.USAGE_COUNTS, spelled out here: every command opens the ledger, and the
# provider row types cost ~5 ms of start-up to load (tests/test_migrations.py checks they agree).
_USAGE_COUNTS = (*BILLED_TOKEN_BUCKETS, "web_search_requests")
_USAGE_DIMS = ("model", "api_key_id", "workspace", "service_tier", "context_window")
_USAGE_COLUMNS = ("provider", "day", *_USAGE_DIMS, *_USAGE_COUNTS, "requests")
_COST_COLUMNS = ("provider", "day", "description", "model", "workspace", "service_tier", "context_window",
                 "cost_type", "token_type", "bucket", "quantity", "amount", "currency")
_COUNT_SQL = ",\n    ".join(f"{c} BIGINT NOT NULL DEFAULT 0" for c in _USAGE_COUNTS)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0006_provider_usage",
        (
            # The providers' usage reports per UTC day (YYYY-MM-DD) and grouping, in spendtag's
            # disjoint token buckets. "" for a dimension the provider did not report.
            f"""CREATE TABLE provider_usage (
    provider TEXT NOT NULL,
    day TEXT NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    api_key_id TEXT NOT NULL DEFAULT '',
    workspace TEXT NOT NULL DEFAULT '',
    service_tier TEXT NOT NULL DEFAULT '',
    context_window TEXT NOT NULL DEFAULT '',
    {_COUNT_SQL},
    requests BIGINT,
    pulled_at BIGINT NOT NULL
)""",
            "CREATE INDEX provider_usage_day ON provider_usage (provider, day)",
            # The providers' cost reports: one row per bill line and UTC day, amount in pico-USD.
            """CREATE TABLE provider_costs (
    provider TEXT NOT NULL,
    day TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    workspace TEXT NOT NULL DEFAULT '',
    service_tier TEXT NOT NULL DEFAULT '',
    context_window TEXT NOT NULL DEFAULT '',
    cost_type TEXT NOT NULL DEFAULT '',
    token_type TEXT NOT NULL DEFAULT '',
    bucket TEXT NOT NULL DEFAULT '',
    quantity TEXT NOT NULL DEFAULT '',
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL DEFAULT 'USD',
    pulled_at BIGINT NOT NULL
)""",
            "CREATE INDEX provider_costs_day ON provider_costs (provider, day)",
            # Per provider, report and day: whether the stored rows are a complete pull.
            """CREATE TABLE provider_pull_days (
    provider TEXT NOT NULL,
    report TEXT NOT NULL,
    day TEXT NOT NULL,
    complete INTEGER NOT NULL,
    pulled_at BIGINT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (provider, report, day)
)""",
            # One row per report read by a pull: the range asked for and how it went.
            """CREATE TABLE provider_pulls (
    pull_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    report TEXT NOT NULL,
    since TEXT NOT NULL,
    until TEXT NOT NULL,
    at BIGINT NOT NULL,
    pages BIGINT NOT NULL,
    days_complete BIGINT NOT NULL,
    days_missing BIGINT NOT NULL,
    error TEXT NOT NULL DEFAULT ''
)""",
        ),
    ),
)


def _range_sql(since: date | None, until: date | None) -> tuple[str, list[Any]]:
    sql, args = "", []
    if since is not None:
        sql += " AND day >= ?"
        args.append(since.isoformat())
    if until is not None:
        sql += " AND day < ?"
        args.append(until.isoformat())
    return sql, args


class ProviderReports(Dialect):
    """Storage for pulled provider reports (a mixin for both stores)."""

    def save_provider_pull(self, provider: str, since: date, until: date, fetched: Fetched, at: datetime) -> None:
        """Replace the complete days of one report with ``fetched.rows``, log the pull; one transaction."""
        days = [d.isoformat() for d in fetched.days]
        table, columns = ("provider_usage", _USAGE_COLUMNS) if fetched.report == "usage" else (
            "provider_costs", _COST_COLUMNS)
        stamp = to_us(at)
        rows = [(*(_value(r, c) for c in columns), stamp) for r in fetched.rows]
        insert = f"INSERT INTO {table} ({', '.join(columns)}, pulled_at) VALUES ({', '.join('?' * (len(columns) + 1))})"
        with self._transaction():
            # Pulls of one provider take turns, so a replaced day is never half of two pulls.
            self._lock_name(f"spendtag.pull.{provider}")
            for chunk in self._chunks(days):
                day_sql, day_args = self._in("day", chunk)
                self._run(f"DELETE FROM {table} WHERE provider = ? AND {day_sql}", (provider, *day_args))
            self._run_many(insert, rows)
            self._run_many(
                "INSERT INTO provider_pull_days (provider, report, day, complete, pulled_at, error) "
                "VALUES (?, ?, ?, 1, ?, '') ON CONFLICT (provider, report, day) DO UPDATE SET "
                "complete = 1, pulled_at = excluded.pulled_at, error = ''",
                [(provider, fetched.report, d, stamp) for d in days])
            # A day that failed keeps its earlier rows and status; only the error is noted.
            self._run_many(
                "INSERT INTO provider_pull_days (provider, report, day, complete, pulled_at, error) "
                "VALUES (?, ?, ?, 0, ?, ?) ON CONFLICT (provider, report, day) DO UPDATE SET error = excluded.error",
                [(provider, fetched.report, d.isoformat(), stamp, fetched.error) for d in fetched.missing])
            self._run(
                "INSERT INTO provider_pulls (pull_id, provider, report, since, until, at, pages, days_complete, "
                "days_missing, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (new_event_id(), provider, fetched.report, since.isoformat(), until.isoformat(), stamp,
                 fetched.pages, len(fetched.days), len(fetched.missing), fetched.error))

    def provider_usage(self, provider: str, since: date | None = None, until: date | None = None) -> list[UsageRow]:
        from spendtag.providers_api.model import UsageRow

        where, args = _range_sql(since, until)
        cursor = self._run(
            f"SELECT {', '.join(_USAGE_COLUMNS)} FROM provider_usage WHERE provider = ?{where} "
            f"ORDER BY day, {', '.join(_USAGE_DIMS)}", (provider, *args))
        return [UsageRow(**_row(_USAGE_COLUMNS, r)) for r in cursor]

    def provider_costs(self, provider: str, since: date | None = None, until: date | None = None) -> list[CostRow]:
        from spendtag.providers_api.model import CostRow

        where, args = _range_sql(since, until)
        cursor = self._run(
            f"SELECT {', '.join(_COST_COLUMNS)} FROM provider_costs WHERE provider = ?{where} "
            "ORDER BY day, workspace, model, description, amount", (provider, *args))
        return [CostRow(**_row(_COST_COLUMNS, r)) for r in cursor]

    def provider_days(self, provider: str, since: date | None = None, until: date | None = None) -> list[DayStatus]:
        from spendtag.providers_api.model import DayStatus

        where, args = _range_sql(since, until)
        cursor = self._run(
            f"SELECT provider, report, day, complete, pulled_at, error FROM provider_pull_days "
            f"WHERE provider = ?{where} ORDER BY day, report", (provider, *args))
        return [DayStatus(p, rep, date.fromisoformat(d), bool(c), from_us(at), err) for p, rep, d, c, at, err in cursor]

    def provider_pulls(self, provider: str | None = None, *, limit: int = 20) -> list[PullLog]:
        from spendtag.providers_api.model import PullLog

        sql = ("SELECT pull_id, provider, report, since, until, at, pages, days_complete, days_missing, error "
               "FROM provider_pulls")
        args: list[Any] = []
        if provider:
            sql += " WHERE provider = ?"
            args.append(provider)
        cursor = self._run(sql + " ORDER BY at DESC, pull_id DESC LIMIT ?", (*args, limit))
        return [PullLog(pid, p, rep, date.fromisoformat(s), date.fromisoformat(u), from_us(at), pages, ok, missing, err)
                for pid, p, rep, s, u, at, pages, ok, missing, err in cursor]


class ProviderTables(ProviderReports):
    """Provider reports on the SQLite store: the class ``spendtag pull`` looks for on a ledger."""


def _value(row: UsageRow | CostRow, column: str) -> Any:
    value = getattr(row, column)
    return value.isoformat() if isinstance(value, date) else value


def _row(columns: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(columns, values, strict=True))
    out["day"] = date.fromisoformat(out["day"])
    return out


class ProviderStore(Store, Protocol):
    """A ledger that also keeps pulled provider reports."""

    def save_provider_pull(self, provider: str, since: date, until: date, fetched: Fetched,
                           at: datetime) -> None: ...

    def provider_usage(self, provider: str, since: date | None = None,
                       until: date | None = None) -> list[UsageRow]: ...

    def provider_costs(self, provider: str, since: date | None = None,
                       until: date | None = None) -> list[CostRow]: ...

    def provider_days(self, provider: str, since: date | None = None,
                      until: date | None = None) -> list[DayStatus]: ...

    def provider_pulls(self, provider: str | None = None, *, limit: int = 20) -> list[PullLog]: ...
