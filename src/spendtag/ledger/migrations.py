"""Named, add-only schema migrations.

Rules: a migration is never edited or removed once released; a new one only adds (tables,
columns, indexes). Each runs in its own transaction and is recorded in
``schema_migrations``. The SQL is portable between SQLite and PostgreSQL; the marker
``{WITHOUT_ROWID}`` is filled in per database (SQLite's clustered tables; empty elsewhere).
"""

from __future__ import annotations

from spendtag.ledger.migration import Migration
from spendtag.ledger.query import TOTAL_FIELDS
from spendtag.usage import COST_COMPONENTS, TOKEN_BUCKETS

_SUMS = ",\n    ".join(f"{f} BIGINT NOT NULL DEFAULT 0" for f in TOTAL_FIELDS)
_EVENT_COUNTS = ",\n    ".join(
    f"{f} BIGINT NOT NULL DEFAULT 0"
    for f in (
        "unpriced_requests",
        "estimated_requests",
        "error_requests",
        *TOKEN_BUCKETS,
        *(f"cost_{c}" for c in COST_COMPONENTS),
        "cost",
    )
)


def _rollup(table: str) -> str:
    # Clustered on (bucket, dim_id): a report reads a time range of rows in order.
    return f"""CREATE TABLE {table} (
    bucket BIGINT NOT NULL,
    dim_id BIGINT NOT NULL,
    {_SUMS},
    PRIMARY KEY (bucket, dim_id)
) {{WITHOUT_ROWID}}"""


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_initial",
        (
            """CREATE TABLE tagsets (
    id INTEGER PRIMARY KEY,
    tags TEXT NOT NULL UNIQUE
)""",
            # One row per distinct combination of an event's rolled-up dimensions.
            # Empty string, never NULL, for "absent", so the UNIQUE constraint holds.
            """CREATE TABLE dims (
    id INTEGER PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    project TEXT NOT NULL,
    agent TEXT NOT NULL,
    key_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    tagset_id BIGINT NOT NULL REFERENCES tagsets(id),
    UNIQUE (provider, model, project, agent, key_id, user_id, source, status, tagset_id)
)""",
            # The price each cost used, deduplicated: rates as exact decimal strings.
            """CREATE TABLE prices (
    id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    rates TEXT NOT NULL,
    price_date TEXT NOT NULL,
    source TEXT NOT NULL,
    note TEXT NOT NULL
)""",
            # Keyed by time: calls arrive roughly in time order, so rows append at the end
            # and time-range scans need no second index.
            f"""CREATE TABLE events (
    event_id TEXT NOT NULL UNIQUE,
    ts BIGINT NOT NULL,
    dim_id BIGINT NOT NULL REFERENCES dims(id),
    session TEXT NOT NULL DEFAULT '',
    response_id TEXT,
    price_id BIGINT REFERENCES prices(id),
    {_EVENT_COUNTS},
    service_tier TEXT,
    inference_geo TEXT,
    speed TEXT,
    reported_cost BIGINT,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (ts, event_id)
) {{WITHOUT_ROWID}}""",
            _rollup("rollup_hour"),
            _rollup("rollup_day"),
            # Per session and UTC hour: sessions have too many values for the other rollups,
            # and an index on events.session would halve ingest speed.
            f"""CREATE TABLE rollup_session (
    session TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    dim_id BIGINT NOT NULL,
    {_SUMS},
    PRIMARY KEY (session, bucket, dim_id)
) {{WITHOUT_ROWID}}""",
            "CREATE INDEX rollup_session_bucket ON rollup_session (bucket)",
            """CREATE TABLE price_overrides (
    id INTEGER PRIMARY KEY,
    model TEXT NOT NULL,
    provider TEXT,
    rates TEXT,
    multiplier TEXT,
    valid_from TEXT,
    valid_until TEXT,
    scope TEXT NOT NULL DEFAULT '[]',
    note TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    removed_at BIGINT
)""",
        ),
    ),
    Migration(
        "0002_budgets_and_alerts",
        (
            # A budget's definition as JSON (see budgets.py): CLI-made budgets live here,
            # config-file ones are read from the file each time.
            """CREATE TABLE budgets (
    name TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
)""",
            # One row per alert that fired. alert_id (budget, period, threshold) is unique, so
            # an alert fires once per threshold per period even with several writers.
            """CREATE TABLE alerts (
    alert_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    budget TEXT,
    period TEXT NOT NULL,
    threshold TEXT NOT NULL,
    spent BIGINT NOT NULL,
    limit_amount BIGINT,
    fired_at BIGINT NOT NULL,
    payload TEXT NOT NULL
)""",
            "CREATE INDEX alerts_fired_at ON alerts (fired_at)",
            """CREATE TABLE alert_deliveries (
    alert_id TEXT NOT NULL REFERENCES alerts(alert_id),
    channel TEXT NOT NULL,
    ok INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT,
    at BIGINT NOT NULL
)""",
        ),
    ),
    Migration(
        "0003_imports_and_retagging",
        (
            # Where each agent log was read up to, and a fingerprint of its start, so a
            # rewritten or truncated file is read again from the top.
            """CREATE TABLE import_files (
    path TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    offset_bytes BIGINT NOT NULL,
    size BIGINT NOT NULL,
    mtime_ns BIGINT NOT NULL,
    head_hash TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT '{}',
    updated_at BIGINT NOT NULL
)""",
            # Tag changes after the fact (retag, tag session): usage and cost never change,
            # but who a call is attributed to can; each change is logged here.
            """CREATE TABLE retag_log (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    what TEXT NOT NULL,
    events BIGINT NOT NULL
)""",
        ),
    ),
    Migration(
        "0004_cost_revisions",
        (
            # When a cost is revised (spendtag reprice), the event keeps the new cost and its
            # previous one is kept here, so nothing priced is ever lost.
            f"""CREATE TABLE cost_revisions (
    event_id TEXT NOT NULL,
    revision BIGINT NOT NULL,
    price_id BIGINT,
    {_EVENT_COUNTS},
    reason TEXT NOT NULL,
    revised_at BIGINT NOT NULL,
    PRIMARY KEY (event_id, revision)
)""",
        ),
    ),
    Migration(
        "0005_virtual_keys",
        (
            # Proxy virtual keys: only a SHA-256 of the key is stored; key_id is what events
            # carry (events.key_id via dims). A revoked key keeps its row, for reports.
            """CREATE TABLE virtual_keys (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '{}',
    budget TEXT,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
)""",
            "CREATE INDEX virtual_keys_name ON virtual_keys (name)",
            # Budget reservations held by running proxies (one row per proxy and budget), so
            # replicas sharing a ledger see each other's in-flight estimates.
            """CREATE TABLE budget_holds (
    holder TEXT NOT NULL,
    budget TEXT NOT NULL,
    amount BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (holder, budget)
)""",
        ),
    ),
)

# Feature tables defined next to the code that uses them (they need Migration, so they are
# imported here, after it).
from spendtag.ledger.access_tables import MIGRATIONS as _ACCESS_MIGRATIONS  # noqa: E402
from spendtag.ledger.audit_tables import MIGRATIONS as _AUDIT_MIGRATIONS  # noqa: E402
from spendtag.ledger.billing_tables import MIGRATIONS as _BILLING_MIGRATIONS  # noqa: E402
from spendtag.ledger.credit_tables import MIGRATIONS as _CREDIT_MIGRATIONS  # noqa: E402
from spendtag.ledger.invoice_tables import MIGRATIONS as _INVOICE_MIGRATIONS  # noqa: E402
from spendtag.ledger.provider_tables import MIGRATIONS as _PROVIDER_MIGRATIONS  # noqa: E402
from spendtag.ledger.reservation_tables import MIGRATIONS as _RESERVATION_MIGRATIONS  # noqa: E402
from spendtag.ledger.rule_tables import MIGRATIONS as _RULE_MIGRATIONS  # noqa: E402
from spendtag.ledger.session_tables import MIGRATIONS as _SESSION_MIGRATIONS  # noqa: E402
from spendtag.ledger.unusual_tables import MIGRATIONS as _UNUSUAL_MIGRATIONS  # noqa: E402

MIGRATIONS = (*MIGRATIONS, *_PROVIDER_MIGRATIONS, *_INVOICE_MIGRATIONS, *_ACCESS_MIGRATIONS, *_RESERVATION_MIGRATIONS,
              *_CREDIT_MIGRATIONS, *_AUDIT_MIGRATIONS, *_RULE_MIGRATIONS, *_SESSION_MIGRATIONS,
              *_BILLING_MIGRATIONS, *_UNUSUAL_MIGRATIONS)
