"""The ``Store`` protocol: everything above the ledger talks to storage through it.

One contract test suite (``tests/test_store_contract.py``) runs against every
implementation, so SQLite and PostgreSQL give the same numbers.

The contract, in words:

* ``record`` is idempotent on ``event_id``: an id already in the ledger (or repeated in the
  same batch, where the first copy wins) is counted as a duplicate and changes nothing.
  A batch is one transaction: after a crash either all of it is there or none.
* The ledger is append-only: events are never updated or deleted by these methods.
* ``retag`` is one exception to append-only, and it changes attribution only (tags),
  never usage or cost; rollups are rebuilt from the events it moved, and it is logged.
* ``revise`` (reprice) gives events new costs and keeps each previous cost as a revision.
* ``record_import`` takes, besides new events, *revised* copies of events recorded while
  they were still being written (a Claude Code call that was streaming): a copy replaces
  the recorded event only when it carries more billed tokens, or as many at a later time,
  so applying it twice, or an older copy after it, changes nothing; the previous usage and
  cost are kept as a revision and the rollups are rebuilt over the days concerned.
* ``remove_demo_events`` is the last exception: it deletes the sample calls ``spendtag demo``
  made (source ``demo``, ids ``demo:...``), which were never anyone's usage, so that a ledger an
  older version loaded the demo into can be cleaned. It deletes those events, their cost
  revisions and their part of every rollup, in one transaction, and logs it; nothing else.
* ``aggregate`` sums exactly (integers) and its groups partition the filtered events: the
  sum over any grouping equals the ungrouped total.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from spendtag.ledger.access_tables import AccessToken
from spendtag.ledger.audit_tables import AuditEntry
from spendtag.ledger.billing_tables import SettingChange, StatusCheck, StatusMark
from spendtag.ledger.credit_tables import Credit
from spendtag.ledger.invoice_tables import DEFAULT_SCHEME, IssuedInvoice, Render
from spendtag.ledger.query import Aggregate, Filters, Totals
from spendtag.ledger.reservation_tables import BudgetCheck, ReserveOutcome
from spendtag.ledger.rule_tables import StoredRule
from spendtag.usage import COST_COMPONENTS, TOKEN_BUCKETS, Cost, PricedEvent, PriceRef, SessionTitle

if TYPE_CHECKING:
    from spendtag.pricing import PriceOverride

# The source of the sample calls ``spendtag demo`` records; their event ids start with DEMO_ID_PREFIX.
DEMO_SOURCE = "demo"
DEMO_ID_PREFIX = "demo:"

# Bulk import, as plain tuples (import workers build them: what crosses between processes
# must pickle fast). A part is one file's events: its heads, (dims key, price) pairs, the dims
# key being (provider, model, project, agent, key, user, source, status, tag items); its
# events, (head index, body) with body = (event_id, ts in µs, session, response_id,
# service_tier, inference_geo, speed, reported_cost, *the summed columns); and its revised
# events, in the same form (later copies of events already recorded: see the contract).
ImportHead = tuple[tuple[Any, ...], PriceRef | None]
CompactEvent = tuple[int, tuple[Any, ...]]
ImportPart = tuple[Sequence[ImportHead], Sequence[CompactEvent], Sequence[CompactEvent]]


# Events as plain rows (``Store.event_rows``), for readers of many events (exports): what varies
# per event, with the ids of its dims row and price (``event_dims``, ``price_ref``) for the rest.
# ``price_flags``: the price id (0 for none) times 4, plus 2 if unpriced, plus 1 if estimated.
# ``tokens``: the ROW_TOKENS counts as decimal text joined by commas. The columns of EXTRA_SUMS are
# 0 for almost every call: ``extra`` is None when they all are, else their values likewise as text.
ROW_TOKENS = TOKEN_BUCKETS[:6]          # input to reasoning
ROW_COSTS = COST_COMPONENTS[:5]         # input to output
EXTRA_TOKENS = TOKEN_BUCKETS[6:]        # audio, web searches and fetches
EXTRA_COSTS = COST_COMPONENTS[5:]       # audio, web searches, request fees, reported
EXTRA_SUMS = (*EXTRA_TOKENS, *(f"cost_{c}" for c in EXTRA_COSTS))
EVENT_ROW_COLUMNS = ("event_id", "ts", "dim_id", "session", "price_flags", "service_tier", "extra", "tokens",
                     *(f"cost_{c}" for c in ROW_COSTS), "cost")
UNPRICED_FLAG, ESTIMATED_FLAG = 2, 1


@dataclass(frozen=True, slots=True)
class RecordResult:
    inserted: int
    duplicates: int
    updated: int = 0      # recorded events replaced by a revised copy (record_import)


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of events, and how many pass the filters and cost range on all pages."""

    events: list[PricedEvent]
    total: int


# Orders event_page accepts: by time or by cost, "-" for descending; ties by event_id the same way.
EVENT_ORDERS = ("ts", "-ts", "cost", "-cost")


@dataclass(frozen=True, slots=True)
class CostRevision:
    """A cost an event had before ``spendtag reprice`` replaced it (numbered from 1, oldest first)."""

    revision: int
    cost: Cost
    reason: str                     # as given to reprice
    replaced_at: datetime           # when the next cost replaced this one


@dataclass(frozen=True, slots=True)
class ModelUse:
    provider: str
    model: str
    requests: int
    unpriced_requests: int
    first: datetime
    last: datetime


@dataclass(frozen=True, slots=True)
class UnpricedUse:
    """Unpriced calls of one model under one set of price modifiers, and the buckets they used."""

    provider: str
    model: str
    service_tier: str | None
    speed: str | None
    inference_geo: str | None
    reason: str | None                  # the price note ("unpriced: ..."); None for a model nobody knows
    requests: int
    tokens: Mapping[str, int]           # TOKEN_BUCKETS -> sum
    first: datetime
    last: datetime


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """What the recorded calls carry: every dimension's values and every tag key's values.

    Only values some call in the ledger has now (a dims row left without calls by a retag
    is not counted); empty dimension values are left out.
    """

    dims: Mapping[str, frozenset[str]]      # a name of query.DIMENSIONS -> its values
    tags: Mapping[str, frozenset[str]]      # tag key -> its values

    @property
    def empty(self) -> bool:
        """True when the ledger holds no call at all."""
        return not any(self.dims.values())


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert that fired. ``alert_id`` (budget, period, threshold) makes it fire once."""

    alert_id: str
    kind: str
    budget: str | None
    period: str
    threshold: str
    spent: int
    limit: int | None
    fired_at: datetime
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Delivery:
    alert_id: str
    channel: str
    ok: bool
    attempts: int
    error: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ImportState:
    """How far an agent log was read, and how to tell it was rewritten (size, start fingerprint)."""

    path: str
    agent: str
    offset: int
    size: int
    mtime_ns: int
    head_hash: str
    state: Mapping[str, Any] = field(default_factory=dict)
    # Titles the reader found in what was read (session id -> title): saved with the state, in
    # the same transaction (see ledger/session_tables.py). Not read back by import_state.
    titles: Mapping[str, SessionTitle] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AgentImports:
    """What the ledger holds from one agent's logs: the files read, and the calls whose source is the agent."""

    agent: str
    files: int = 0
    read_at: datetime | None = None     # the last time one of its files was read (and had changed)
    calls: int = 0
    last_call: datetime | None = None


@dataclass(slots=True)
class SessionSummary:
    """One session: when it ran, its totals, and the dimension rows (with tags) its calls used."""

    session: str
    first: datetime
    last: datetime
    totals: Totals
    dims: Sequence[tuple[Mapping[str, str], Mapping[str, str]]] = ()


@dataclass(frozen=True, slots=True)
class VirtualKey:
    """A proxy virtual key. The key itself is never stored: only its SHA-256 (hex) and a short prefix."""

    key_id: str                     # what events carry as ``key``
    name: str
    key_hash: str
    prefix: str                     # the first characters of the key, to recognise it in a list
    tags: Mapping[str, str] = field(default_factory=dict)
    budget: str | None = None       # the budget made for this key, if any
    created_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


# Given an events' dimensions and tags, the tags it should have now (None: leave it).
TagChange = Callable[[Mapping[str, str], Mapping[str, str]], Mapping[str, str] | None]


class Store(Protocol):
    url: str

    def record(self, events: Iterable[PricedEvent]) -> RecordResult: ...

    # Bulk import: files' compact events (ImportPart) each with the file's import state, all in
    # one transaction, taken from ``files`` as they come; the same idempotency as record (the
    # first copy wins), and revised copies applied as the contract says.
    def record_import(self, files: Iterable[tuple[ImportPart, ImportState]]) -> RecordResult: ...

    # Totals per group; ``fields``: sum only these totals (TOTAL_FIELDS names), the rest read 0.
    def aggregate(self, filters: Filters, by: Sequence[str] = (), tz: ZoneInfo | None = None, *,
                  fields: Sequence[str] | None = None) -> list[Aggregate]: ...

    def events(self, filters: Filters, *, limit: int | None = None) -> Iterator[PricedEvent]: ...

    # The events ``events`` gives that are unusual (ledger/unusual_tables.py: unpriced, a prompt
    # above LONG_PROMPT tokens, or a service tier, speed or region modifier), read through
    # their index: every other event in the range is priced like a plain call of its model.
    def unusual_events(self, filters: Filters) -> list[PricedEvent]: ...

    # The events ``events`` gives (cost bounds inclusive), as EVENT_ROW_COLUMNS tuples in batches of
    # at most ``batch``, streamed: a reader holds one batch at a time.
    def event_rows(self, filters: Filters, *, min_cost: int | None = None, max_cost: int | None = None,
                   batch: int = 2000) -> Iterator[list[tuple[Any, ...]]]: ...

    # The dimensions (query.DIMENSIONS, "" for absent) and tags of a dims row an event row names.
    def event_dims(self, dim_id: int) -> tuple[Mapping[str, str], Mapping[str, str]]: ...

    # Spend (pico-USD, every call) in [since, until) per dims row: what a guard sums per budget
    # with one read per period rather than a query per budget.
    def spend_by_dims(self, since: datetime | None, until: datetime | None) -> dict[int, int]: ...

    def price_ref(self, price_id: int | None) -> PriceRef | None: ...

    # A page of events for a history table: sorted by ``order`` (EVENT_ORDERS), cost bounds inclusive.
    def event_page(self, filters: Filters, *, order: str = "-ts", offset: int = 0, limit: int = 50,
                   min_cost: int | None = None, max_cost: int | None = None) -> EventPage: ...

    def get_event(self, event_id: str) -> PricedEvent | None: ...

    # Which of these event ids the ledger holds.
    def recorded(self, event_ids: Sequence[str]) -> set[str]: ...

    # Sessions passing the filters, most recently active first (or the costliest with by_cost);
    # cost bounds (inclusive) apply to the session's filtered total, ``offset`` skips that many.
    # ``totals``: the filters' per-session totals when the caller already has them (its
    # ``aggregate(filters, ["session"])``), so they are not summed twice.
    def sessions(self, filters: Filters, *, limit: int | None = None, offset: int = 0, min_cost: int = 0,
                 max_cost: int | None = None, by_cost: bool = False,
                 totals: Mapping[str, Totals] | None = None) -> list[SessionSummary]: ...

    # How many sessions (not '') ``sessions`` would list without bounds, and each one's cost under the filters.
    def session_count(self, filters: Filters) -> int: ...

    def session_costs(self, filters: Filters) -> dict[str, int]: ...

    def event_times(self, filters: Filters) -> list[int]:
        """The times (µs since the epoch) of the events that pass ``filters``, in order."""
        ...

    # Session titles (session_tables.py): an agent's own title replaces what a session had; a first
    # prompt's words are kept only when it has none. ``session_titles`` gives those it knows.
    def save_session_titles(self, titles: Mapping[str, SessionTitle]) -> None: ...

    def session_titles(self, sessions: Sequence[str]) -> dict[str, str]: ...

    def session_ids(self, prefix: str, *, limit: int = 10) -> list[str]:
        """Recorded session ids that start with ``prefix``, in order, at most ``limit``."""
        ...

    def tag_keys(self, filters: Filters) -> list[str]: ...

    # The dimension and tag values of every call in the ledger (time not considered): what a
    # filter may name, so one that names something else can be told it and offered the nearest.
    def vocabulary(self) -> Vocabulary: ...

    def count(self) -> int: ...

    def time_span(self) -> tuple[datetime, datetime] | None: ...

    def models(self) -> list[ModelUse]: ...

    # Unpriced calls per model, modifiers and reason, with the buckets they used (prices check).
    def unpriced(self) -> list[UnpricedUse]: ...

    def add_price_override(self, override: PriceOverride) -> int: ...

    def price_overrides(self) -> list[PriceOverride]: ...

    def remove_price_override(self, override_id: int) -> bool: ...

    # Attribution after the fact: moves matching events to new tags (usage and cost unchanged).
    def retag(self, filters: Filters, change: TagChange, what: str) -> int: ...

    # Delete the demo's sample calls (DEMO_SOURCE, ids DEMO_ID_PREFIX...), their revisions and their
    # share of the rollups; returns how many were removed (0 when there are none: running it again),
    # or with ``dry_run`` how many would be.
    def remove_demo_events(self, *, dry_run: bool = False) -> int: ...

    # New costs for events already recorded (reprice): the previous cost of each is kept as a
    # revision; returns how many events changed.
    def revise(self, priced: Iterable[PricedEvent], reason: str) -> int: ...

    def revisions(self, event_id: str) -> list[PricedEvent]: ...

    # The same earlier costs with their number, reason and when each was replaced.
    def cost_revisions(self, event_id: str) -> list[CostRevision]: ...

    def save_budget(self, name: str, definition: Mapping[str, Any]) -> None: ...

    def budgets(self) -> dict[str, dict[str, Any]]: ...

    def remove_budget(self, name: str) -> bool: ...

    def add_alert(self, alert: AlertRecord) -> bool: ...

    def alerts(self, *, since: datetime | None = None, limit: int | None = None) -> list[AlertRecord]: ...

    def add_delivery(self, delivery: Delivery) -> None: ...

    def deliveries(self, alert_id: str) -> list[Delivery]: ...

    def import_state(self, path: str) -> ImportState | None: ...

    # (size, mtime_ns, offset) of every file imported so far: the unchanged-file check, in one read.
    def import_summaries(self) -> dict[str, tuple[int, int, int]]: ...

    def agent_imports(self, agents: Sequence[str]) -> dict[str, AgentImports]:
        """Per agent name: its files read and the calls recorded with that source (every name, 0 when none)."""
        ...

    def save_import_state(self, state: ImportState) -> None: ...

    def save_import_states(self, states: Sequence[ImportState]) -> None: ...

    # Virtual keys (proxy). add_key refuses a second active key with the same name.
    def add_key(self, key: VirtualKey) -> None: ...

    def key_by_hash(self, key_hash: str) -> VirtualKey | None: ...

    def keys(self, *, include_revoked: bool = False) -> list[VirtualKey]: ...

    # Revoke the active key with this id or name; the revoked key, or None if there was none.
    def revoke_key(self, id_or_name: str, at: datetime) -> VirtualKey | None: ...

    # Budget reservations of running proxies: each holder replaces its own rows; holds
    # older than ``since`` are stale (a proxy that died) and not counted.
    def save_holds(self, holder: str, holds: Mapping[str, int], at: datetime) -> None: ...

    def holds(self, since: datetime, *, exclude: str | None = None) -> dict[str, int]: ...

    # Issued invoices, kept as the documents they were (numbers taken in the same transaction).
    def issue_invoice(self, prefix: str, year: int, client: str, period: str, issued_at: str,
                      render: Render, *, scheme: str = DEFAULT_SCHEME, currency: str = "USD",
                      due_on: str = "") -> IssuedInvoice: ...

    def issued_invoice(self, number: str) -> IssuedInvoice | None: ...

    def issued_invoices(self, client: str | None = None) -> list[IssuedInvoice]: ...

    def issued_numbers(self, client: str, period: str) -> list[str]: ...

    # Billing details saved from the dashboard and invoice status marks (billing_tables.py): append-only.
    def save_billing_settings(self, scope: str, fields: Mapping[str, str], by: str, at: datetime) -> None: ...

    def billing_settings(self) -> dict[str, dict[str, str]]: ...

    def billing_setting_changes(self, scope: str | None = None) -> list[SettingChange]: ...

    def mark_invoice(self, number: str, status: str, by: str, at: datetime, check: StatusCheck) -> StatusMark: ...

    def invoice_marks(self, number: str) -> list[StatusMark]: ...

    # Credits owed to clients (credit_tables.py): recorded once per id, never events, never edited.
    def add_credit(self, credit: Credit) -> bool: ...

    def credit(self, credit_id: str) -> Credit | None: ...

    def credits(self, client: str | None = None, *, until: datetime | None = None) -> list[Credit]: ...

    # Budget reservations shared by proxy replicas (reservation_tables.py): check and insert
    # atomically; release once the call's event is committed; extend a holder's while it lives.
    def reserve(self, hold_id: str, holder: str, amount: int, checks: Sequence[BudgetCheck], now: datetime,
                expires_at: datetime) -> ReserveOutcome: ...

    def release_reservations(self, hold_ids: Sequence[str]) -> None: ...

    def extend_reservations(self, holder: str, expires_at: datetime) -> None: ...

    def reservations(self, now: datetime) -> dict[str, int]: ...

    # Dashboard access tokens (stored hashed); add_access_token refuses a second active one with the same name.
    def add_access_token(self, token: AccessToken) -> None: ...

    def access_token_by_hash(self, token_hash: str) -> AccessToken | None: ...

    def access_tokens(self, *, include_revoked: bool = False) -> list[AccessToken]: ...

    def revoke_access_token(self, id_or_name: str, at: datetime) -> AccessToken | None: ...

    # Changes made from the dashboard (who, when, what), newest first; only ever added to.
    def add_audit(self, entry: AuditEntry) -> None: ...

    def audit_log(self, *, limit: int | None = None, offset: int = 0) -> list[AuditEntry]: ...

    # Attribution rules made from the dashboard, after the config file's (oldest first).
    def add_attribution_rule(self, rule: StoredRule) -> None: ...

    def attribution_rules(self) -> list[StoredRule]: ...

    def remove_attribution_rule(self, rule_id: str, at: datetime | None = None) -> StoredRule | None: ...

    # A value that changes whenever another connection (any process) commits to the ledger, for a
    # guard to read the ledger again only then; None where no such value is cheap (read on a timer).
    def change_token(self) -> int | None: ...

    def refuse_writes(self) -> None:
        """From now on this connection refuses every write (the database raises): for readers that must never
        change the ledger, such as ``spendtag mcp``."""
        ...

    def close(self) -> None: ...
