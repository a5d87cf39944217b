"""The shapes ``/api/v1`` answers, for its OpenAPI document (``/api/v1/openapi.json``, read at ``/api/v1/docs``).

They describe what :mod:`.views` returns; tests check every answer against them (schemathesis
fuzzes each operation with response-schema conformance on). Money is an exact decimal string of
USD, never a number; ``null`` where an amount is unknown (every call unpriced). Objects may carry
more fields than listed (``additionalProperties``): a client reads the ones it knows.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

USD = str          # an exact decimal string of USD, e.g. "12.345678"


class Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


class Period(Shape):
    since: str | None = Field(description="Start (inclusive), ISO 8601 UTC; null when open.")
    until: str | None = Field(description="End (exclusive), ISO 8601 UTC; null when open.")
    tz: str = Field(description="IANA time zone of the period's labels.")
    label: str | None = None


class Tokens(Shape):
    input_tokens: int
    cache_read_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    output_tokens: int
    reasoning_tokens: int
    input_audio_tokens: int
    output_audio_tokens: int


class Totals(Shape):
    requests: int
    unpriced_requests: int = Field(description="Calls with no price: not in cost_usd, never counted as $0.")
    tokens: Tokens
    web_search_requests: int
    cost_usd: USD | None = Field(description="Priced calls' cost; null when every call is unpriced.")
    cost_components_usd: dict[str, USD]


class Row(Totals):
    value: str | None = Field(description="The group's value; null for calls without it (untagged).")
    label: str
    share_percent: str
    detail: str | None = Field(None, description="A family's ids (a model's dated ids, an agent's sub-agents).")
    members: list[str] | None = Field(None, description="The ids a family row sums.")


class UnpricedModel(Shape):
    provider: str
    model: str
    requests: int


class Change(Shape):
    kind: Literal["percent", "amount", "new", "none"] = Field(
        description="percent; amount when the base is under $1 or under 1% of the total (no percentage on a "
                    "tiny base); new when there was nothing before; none when nothing either time.")
    percent: str | None
    delta_usd: USD


class Previous(Period):
    cost_usd: USD | None
    requests: int
    unpriced_requests: int
    like_for_like: bool = Field(description="The period is running: only its part up to the same point "
                                            "(the same days of the month, hours of the week...).")


class Forecast(Shape):
    projected_usd: USD
    low_usd: USD
    high_usd: USD
    method: str
    period_end: str


class Series(Shape):
    name: str
    cost_usd: list[USD | None]
    total_usd: USD | None
    requests: list[int]
    unpriced_requests: list[int]


class Chart(Shape):
    group: str = Field(description="hour, day or month: what a bucket is.")
    buckets: list[str]
    series: list[Series]
    others: list[str] = Field(description="The values summed as the (other) series.")


class Threshold(Shape):
    label: str
    amount_usd: USD
    stop: bool
    default: bool
    crossed: bool


class BudgetState(Shape):
    name: str
    scope: str
    period: str
    period_kind: str
    limit_usd: USD
    spent_usd: USD
    percent: str
    state: str
    phase: str
    enforce: str
    projected_usd: USD | None
    low_usd: USD | None
    high_usd: USD | None
    run_out: str | None
    days_left: str | None
    forecast_over: bool = Field(description="The forecast to the period's end is over the limit.")
    forecast_over_by_usd: USD | None
    thresholds: list[Threshold]
    origin: str = Field(description="Where the budget is kept: ledger (made from the CLI or the dashboard) or config.")


class InvoiceEntry(Shape):
    number: str
    client: str
    period: str
    issued_at: str
    total_due: str = Field(description="The total due in the invoice's currency, as a decimal string (2 places).")
    currency: str = Field(description="ISO 4217 code of the invoice's currency.")
    due_on: str | None
    status: str = Field(description="issued, sent, paid, void or overdue (derived from the due date).")
    status_by: str | None
    status_at: str | None


class Untagged(Shape):
    key: str
    requests: int
    unpriced_requests: int
    cost_usd: USD | None
    share_percent: str


class Unpriced(Shape):
    requests: int
    models: list[UnpricedModel]


class Anomaly(Shape):
    hour: str | None
    bucket: str
    kind: str
    scope: str | None
    message: str


class PreviousTotals(Shape):
    cost_usd: USD | None
    requests: int
    unpriced_requests: int


class ClientRow(Row):
    previous: PreviousTotals
    change: Change
    budget: BudgetState | None = Field(description="The client's own budget nearest its limit, in its current period.")
    billable_usd: USD | None = Field(description="What an invoice for the period would total with the configured "
                                                 "terms (`spendtag invoice`), in cents; null for untagged calls.")
    invoices: list[str] = Field(description="Numbers of the invoices issued for this client and period.")


class ClientTable(Shape):
    key: str
    period: str | None = Field(description="The period as invoices name it (2026-03); null for another range.")
    billing: bool
    note: str | None
    rows: list[ClientRow]


class Overview(Shape):
    period: Period
    stack: str
    total: Totals
    previous: Previous | None
    change_percent: str | None = Field(description="Kept for older clients: change.percent.")
    change: Change | None
    forecast: Forecast | None
    untagged: Untagged
    unpriced: Unpriced
    chart: Chart
    by_model: list[Row]
    by_provider: list[Row]
    by_agent: list[Row]
    anomalies: list[Anomaly]
    budgets: list[BudgetState]
    clients: ClientTable | None = None


class Me(Shape):
    role: Literal["admin", "read", "client"]
    name: str
    scope: dict[str, str] | None


class ReportPeriod(Shape):
    since: str | None
    until: str | None
    tz: str


class Report(Shape):
    by: list[str]
    period: ReportPeriod
    rows: list[dict[str, Any]] = Field(description="One object per group: a field per --by key (null: untagged), "
                                                   "then the totals (requests, tokens, cost_usd...) and share_percent.")
    total: Totals
    unpriced: list[UnpricedModel]


class EventTokens(Shape):
    input: int
    cache_read: int
    cache_write: int
    output: int
    reasoning: int


class Price(Shape):
    provider: str
    model: str
    date: str | None
    source: str
    note: str | None
    rates: dict[str, Any]


class Event(Shape):
    event_id: str
    time: str
    provider: str
    model: str
    project: str | None
    session: str | None
    agent: str | None
    key: str | None
    user: str | None
    source: str
    status: str
    tags: dict[str, str]
    tokens: EventTokens
    priced: bool
    estimated: bool
    cost_usd: USD | None
    cost_components_usd: dict[str, USD]
    price: Price | None


class Revision(Shape):
    revision: int
    priced: bool
    cost_usd: USD | None
    cost_components_usd: dict[str, USD]
    price: Price | None
    reason: str
    replaced_at: str | None


class EventDetail(Event):
    revisions: list[Revision]


class Pages(Shape):
    period: Period
    page: int
    per_page: int
    total: int
    pages: int


class EventsPage(Pages):
    order: str
    events: list[Event]


class Session(Totals):
    session: str
    title: str | None = Field(description="The agent's summary, or the first prompt's opening words; null when off.")
    project: str | None
    start: str | None
    end: str | None
    duration_seconds: int
    projects: list[str]
    agents: list[str]
    agent_labels: list[str] = Field(description="Agents with their sub-agents counted under them.")
    models: list[str]
    tags: dict[str, str]


class SessionsPage(Pages):
    sort: str
    sessions: list[Session]


class SessionDetail(Session):
    by_model: list[Row]
    calls: list[Event]
    calls_total: int


class Summary(Shape):
    key: str
    value: str
    period: Period
    total: Totals
    previous: Previous | None
    change_percent: str | None
    change: Change | None
    forecast: Forecast | None
    unpriced: Unpriced
    chart: Chart
    by_model: list[Row]
    budgets: list[BudgetState]
    invoices: list[InvoiceEntry]
    by_agent: list[Row] | None = Field(None, description="Staff only, as sessions and top_calls.")
    sessions: list[Session] | None = None
    top_calls: list[Event] | None = None


class BilledTax(Shape):
    label: str = Field(description="As the invoice names it: VAT 20%, VAT (reverse charge).")
    amount: str


class BilledItem(Shape):
    description: str
    detail: str
    amount: str = Field(description="In the client's currency, 2 decimals; the items add up to the subtotal.")


class BilledTotals(Shape):
    currency: str = Field(description="ISO 4217 code of the client's invoices.")
    subtotal: str
    taxes: list[BilledTax]
    tax: str = Field(description="The taxes' sum.")
    total: str = Field(description="What an invoice drafted now for this period would bill.")
    unbilled_requests: int = Field(description="The client's calls with no price yet: not billed, never as 0.")


class Billed(BilledTotals):
    items: list[BilledItem] = Field(description="The invoice document's line items.")


class ClientPrevious(Period):
    requests: int
    like_for_like: bool
    billed: BilledTotals | None


class ClientUsage(Shape):
    requests: int
    unpriced_requests: int = Field(description="Calls with no price yet, not billed.")
    tokens: Tokens
    tokens_total: int


class ClientModel(Shape):
    value: str
    label: str
    detail: str | None
    requests: int
    unpriced_requests: int
    tokens: int


class CountSeries(Shape):
    name: str
    tokens: list[int]
    requests: list[int]


class CountChart(Shape):
    group: str
    buckets: list[str]
    series: list[CountSeries]


class ClientBudget(Shape):
    name: str
    period: str
    period_kind: str
    percent: str = Field(description="Percent of the budget used (budgets are in cost: no amount is shown).")
    state: str
    forecast_over: bool


class ClientView(Shape):
    """A client's period as billed: never the agency's cost or margin unless ``show_cost`` is on for it."""

    key: str
    value: str
    period: Period
    invoice_period: str | None = Field(description="The period as an invoice names it (2026-03).")
    billed: Billed | None = Field(description="The invoice draft for the period, as its document states it; "
                                              "null when it cannot be worked out (see billed_note).")
    billed_note: str | None
    previous: ClientPrevious | None
    usage: ClientUsage
    by_model: list[ClientModel]
    chart: CountChart
    unpriced: Unpriced
    budgets: list[ClientBudget]
    invoices: list[InvoiceEntry]
    show_cost: bool = Field(description="The agency shows this client its raw cost (billing details show_cost).")
    cost: Summary | None = Field(description="The cost summary, only when show_cost is on.")


class Recommendation(Shape):
    kind: str
    subject: str
    provider: str | None
    model: str | None
    agent: str | None
    calls: int
    cost_usd: USD
    share_percent: str
    alternative: str | None
    alternative_cost_usd: USD | None
    savings_usd: USD | None
    basis: str
    text: str


class Recommendations(Shape):
    period: ReportPeriod
    total_cost_usd: USD
    savings_usd: USD
    recommendations: list[Recommendation]


class Alert(Shape):
    alert_id: str
    kind: str
    budget: str | None
    period: str
    threshold: str
    spent_usd: USD
    limit_usd: USD | None
    fired_at: str | None
    message: str
    scope: str | None


class InvoiceDetail(InvoiceEntry):
    document: dict[str, Any] = Field(description="The invoice as issued (`spendtag invoice --format json`).")


class Key(Shape):
    key_id: str
    name: str
    prefix: str
    tags: dict[str, str]
    budget: str | None
    created_at: str | None
    revoked_at: str | None
    active: bool


def export_row() -> dict[str, Any]:
    """The JSON schema of one exported event (``spendtag export --format json``): its columns, and a
    ``tag:KEY`` column per tag key of the export."""
    from spendtag.report.exports import BASE_COLUMNS, columns
    from spendtag.usage import COST_COMPONENTS, TOKEN_BUCKETS

    money = {f"cost_{c}" for c in COST_COMPONENTS} | {"cost_usd"}
    props: dict[str, Any] = {}
    for name in columns(()):
        if name in BASE_COLUMNS:
            props[name] = {"type": "string"}
        elif name in TOKEN_BUCKETS:
            props[name] = {"type": "integer"}
        elif name in money:
            props[name] = {"type": ["string", "null"], "description": "exact USD"}
        elif name in ("priced", "estimated"):
            props[name] = {"type": "boolean"}
        else:
            props[name] = {}
    return {"type": "object", "properties": props,
            "patternProperties": {"^tag:": {"type": "string", "description": "the event's value of the tag, or empty"}}}
