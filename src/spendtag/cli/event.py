"""``spendtag event ID``: one recorded call, its cost and price, and the costs reprice replaced."""

from __future__ import annotations

import json

import click

from spendtag.cli.app import App
from spendtag.errors import SpendtagError
from spendtag.ledger.store import CostRevision
from spendtag.usage import Cost, PriceRef


def _money(cost: Cost) -> str:
    """Exact, as people write it ($1,234.50, $0.0045); an unpriced cost says so, never $0."""
    from spendtag.bill.model import usd
    from spendtag.money import to_decimal

    return usd(to_decimal(cost.total)) if cost.priced else "unpriced"


def _price(ref: PriceRef | None) -> str:
    if ref is None:
        return "-"
    return f"{ref.provider}/{ref.model} as of {ref.price_date} ({ref.source}{'; ' + ref.note if ref.note else ''})"


@click.command()
@click.argument("event_id")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="json: as GET /api/v1/events/ID (money as exact decimal strings).")
@click.pass_obj
def event(app: App, event_id: str, fmt: str) -> None:
    """One recorded call: its dimensions, tags, tokens, cost and the price used, and every earlier cost.

    `spendtag reprice` keeps each cost it replaces as a revision; they are listed oldest first,
    with the price each used, when it was replaced and why. Event ids are in `spendtag export`
    and on the dashboard's events page.
    """
    from spendtag.bill.repricing import history

    found = history(app.store, event_id.strip())
    if found is None:
        raise SpendtagError(f"no event {event_id!r} in the ledger; event ids are in `spendtag export` "
                            "and on the dashboard's events page")
    if fmt == "json":
        from spendtag.server.dashboard.views import event_detail

        click.echo(json.dumps(event_detail(found), indent=2))
        return
    e, c = found.priced.event, found.priced.cost
    u = e.usage
    out = click.echo
    out(f"event {e.event_id} · {e.ts.astimezone(app.tz):%Y-%m-%d %H:%M:%S %Z}")
    dims = [f"{name} {value}" for name, value in (("project", e.project), ("session", e.session),
                                                  ("agent", e.agent), ("key", e.key), ("user", e.user)) if value]
    out(" · ".join([f"{e.provider} / {e.model}", *dims, f"source {e.source}", f"status {e.status}"]))
    if e.tags:
        out("tags: " + " ".join(f"{k}={v}" for k, v in sorted(e.tags.items())))
    tokens = [("input", u.input_tokens + u.input_audio_tokens), ("cache read", u.cache_read_tokens),
              ("cache write", u.cache_write_5m_tokens + u.cache_write_1h_tokens),
              ("output", u.output_tokens + u.output_audio_tokens), ("reasoning", u.reasoning_tokens)]
    out("tokens: " + (" · ".join(f"{name} {n:,}" for name, n in tokens if n) or "none")
        + (" (estimated)" if u.estimated else ""))
    out(f"cost {_money(c)} · price {_price(c.price)}")
    if not found.revisions:
        out("no earlier costs: this is the only cost recorded for this call")
        return
    out("")
    out(f"earlier costs ({len(found.revisions)}, oldest first; each replaced by `spendtag reprice`):")
    _revisions(app, found.revisions)


def _revisions(app: App, revisions: list[CostRevision]) -> None:
    from spendtag.bill.render import text_table

    rows = [[str(r.revision), _money(r.cost), _price(r.cost.price),
             f"{r.replaced_at.astimezone(app.tz):%Y-%m-%d %H:%M %Z}", r.reason] for r in revisions]
    for line in text_table(["revision", "cost", "price used", "replaced", "reason"], rows,
                           [False, True, False, False, False]):
        click.echo(line)


COMMANDS = [event]
