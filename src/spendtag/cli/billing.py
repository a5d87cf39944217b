"""``spendtag invoice`` (and ``show``, ``list``, ``mark``), ``record-cost``, ``reprice`` and ``prices diff``."""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from spendtag.bill import build, issuing, profile, render, repricing
from spendtag.bill import document as client_document
from spendtag.bill import status as invoice_status
from spendtag.bill.config import BillingConfig
from spendtag.bill.fixed_costs import DEFAULT_KIND, fixed_cost
from spendtag.bill.model import Invoice, from_json, money, round_cents, usd
from spendtag.bill.price_diff import diff, load
from spendtag.bill.rates import from_sections as rates_from_sections
from spendtag.bill.store import IssuedInvoices
from spendtag.bill.terms import BillingError, from_flags
from spendtag.cli.app import App
from spendtag.cli.catalog import HelpGroup
from spendtag.cli.options import filter_options, selection
from spendtag.cli.render import cost_text
from spendtag.cli.target import open_new, output_path
from spendtag.ledger.query import Filters
from spendtag.money import format_usd, screen
from spendtag.periods import parse_instant, zone
from spendtag.report import matching
from spendtag.tags import Selector, parse_pairs


def _config(app: App) -> BillingConfig:
    return BillingConfig.from_sections(app.settings.sections, client_key=app.settings["client_key"],
                                       path=str(app.settings.config_path))


def _profile(app: App) -> profile.Profile:
    return profile.load(app.settings, app.store)


def _width(app: App) -> int:
    """The invoice's text fits 80 columns, or the terminal when it is narrower."""
    return min(render.TEXT_WIDTH, app.console.width)


def _write(path: Path, data: str | bytes) -> None:
    with os.fdopen(open_new(path), "wb") as handle:
        handle.write(data if isinstance(data, bytes) else data.encode("utf-8"))


def _warn_unpriced(inv: Invoice) -> None:
    if inv.unpriced:
        names = ", ".join(f"{p}/{m} ({n:,})" for p, m, n in inv.unpriced)
        click.echo(f"warning: {inv.client}: {sum(n for _, _, n in inv.unpriced):,} calls could not be priced and "
                   f"are not billed: {names}; add a price with `spendtag prices override`, then `spendtag reprice` "
                   "(see `spendtag prices check`)", err=True)


def _due(inv: Invoice) -> str:
    doc = client_document.of(inv)
    return money(doc.total, doc.currency)


def _cost(inv: Invoice) -> str:
    """What the client's calls cost the agency; calls nobody could price are counted beside it, never $0."""
    unpriced = sum(n for _, _, n in inv.unpriced)
    if not unpriced:
        return usd(round_cents(inv.net_cost))
    if unpriced == len(inv.events):
        return f"— ({unpriced:,} unpriced)"
    return f"{usd(round_cents(inv.net_cost))} + {unpriced:,} unpriced"


def _emit(inv: Invoice, fmt: str, output: Path | None, width: int = render.TEXT_WIDTH) -> None:
    """The invoice to ``output`` (a message on stdout) or to stdout itself, exactly as rendered."""
    _warn_unpriced(inv)
    if output is None and fmt == "pdf":
        raise click.UsageError("--format pdf needs --output FILE")
    if not client_document.of(inv).seller.name:
        click.echo("note: the invoice names no seller: set [business] name (and address, tax_id, payment) in "
                   "the config, or from the dashboard", err=True)
    data: str | bytes = render.as_pdf(inv) if fmt == "pdf" else render.render(inv, fmt, width)
    if output is None:
        click.echo(data, nl=False)
        if fmt == "table":
            click.echo(f"cost {_cost(inv)} · billed {usd(inv.total_due)} before tax (USD); "
                       "exact amounts and prices used: --format csv or json", err=True)
        return
    _write(output, data)
    click.echo(f"wrote {inv.number or 'draft'} · {inv.client} · {inv.period} · total due {_due(inv)} to {output}")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "client"


def _issue(app: App, config: BillingConfig, who: profile.Profile, invoices: list[Invoice], on: date,
           reissue: bool) -> list[Invoice]:
    def told(inv: Invoice) -> None:
        doc = client_document.of(inv)
        click.echo(f"issued {inv.number} · {inv.client} · {inv.period} · total due "
                   f"{money(doc.total, doc.currency)} · due {doc.due_date}", err=True)

    return issuing.issue(app.store, config, invoices, on, profile=who, reissue=reissue, told=told)


@click.group(cls=HelpGroup, invoke_without_command=True)
@click.option("--client", help="The client: a value of the client tag (setting client_key, default 'client').")
@click.option("--all", "all_clients", is_flag=True, help="Every client with spend in the period (needs --output-dir).")
@click.option("--period", help="The period billed: 2026-03, 2026-W11, 2026-03-14 or 2026.")
@click.option("--tz", "tz_name", help="Time zone of the period [env SPENDTAG_TZ; default UTC].")
@click.option("--by", help="Line items by model (default), project, agent, provider or any tag key.")
@click.option("--markup", metavar="PERCENT", help="Cost plus this markup, e.g. 30%.")
@click.option("--pass-through", is_flag=True, help="Bill at cost.")
@click.option("--fixed-fee", metavar="USD", help="A fixed fee covering usage up to --usage-cap.")
@click.option("--usage-cap", metavar="USD", help="Usage the fixed fee covers; above it is its own line.")
@click.option("--absorb-overage", is_flag=True, help="Show usage above the cap but do not bill it.")
@click.option("--per-unit", metavar="TAGKEY=USD", help="A price per distinct value of a tag, e.g. ticket=2.50.")
@click.option("--allocate", metavar="POLICY",
              help="Shared (untagged) cost: overhead (left out), proportional, even or fixed:acme=60,globex=40.")
@click.option("--rate", "rates", multiple=True, metavar="CUR=RATE",
              help="Exchange rate for clients invoiced in another currency: units per 1 USD, e.g. EUR=0.92 "
                   "(EUR=0.92@2026-03-31 states its date). Repeatable; over [billing.rates].")
@click.option("--format", "fmt", type=click.Choice(render.FORMATS), default="table", show_default=True,
              help="table (text), csv, json (the stored document), html (printable) or pdf.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file.")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path),
              help="With --all: one file per client plus summary.txt and summary.csv.")
@click.option("--issue", is_flag=True, help="Give it a number and store it exactly as printed.")
@click.option("--reissue", is_flag=True, help="Issue again for a client and period already issued.")
@click.option("--issued-on", metavar="DATE",
              help="The invoice's date (default: today in --tz): the due date follows; its year starts the number.")
@click.pass_context
def invoice(ctx: click.Context, client: str | None, all_clients: bool, period: str | None, tz_name: str | None,
            by: str | None, markup: str | None, pass_through: bool, fixed_fee: str | None, usage_cap: str | None,
            absorb_overage: bool, per_unit: str | None, allocate: str | None, rates: tuple[str, ...], fmt: str,
            output: Path | None,
            output_dir: Path | None, issue: bool, reissue: bool, issued_on: str | None) -> None:
    """Invoice a client for a period: the document you send, with seller, bill-to, items, tax, total due.

    Terms come from [billing.clients.NAME] in the config unless a pricing flag is given; your
    details from [business], the client's beside its terms. Items are whole cents that add up
    to the subtotal exactly; --format csv or json keeps every exact amount and the prices used.
    """
    if ctx.invoked_subcommand is not None:
        return
    app: App = ctx.obj
    if bool(client) == all_clients:
        raise click.UsageError("give --client NAME or --all")
    if not period:
        raise click.UsageError("give the period to bill, e.g. --period 2026-03")
    if all_clients and output is not None:
        raise click.UsageError("--all writes one file per client: use --output-dir DIR, not --output")
    if client and output_dir is not None:
        raise click.UsageError("--output-dir goes with --all; for one client use --output FILE")
    if output is not None:
        output_path(output)     # before anything is issued: a file that cannot be written is said now
    config = _config(app)
    who = _profile(app)
    tz = zone(tz_name) if tz_name else zone(who.business.timezone) if who.business.timezone else app.tz
    on = parse_instant(issued_on, tz).astimezone(tz).date() if issued_on else datetime.now(tz).date()
    req = issuing.request(config, period, tz, by=by, allocate=allocate,
                          terms=from_flags(markup=markup, pass_through=pass_through, fixed_fee=fixed_fee,
                                           usage_cap=usage_cap, absorb_overage=absorb_overage, per_unit=per_unit),
                          profile=who, on=on,
                          rates=rates_from_sections(app.settings.sections,
                                                    path=str(app.settings.config_path)).with_given(rates))
    for note in issuing.check_names(app.store, req, client):
        click.echo(f"note: {note}", err=True)
    if client:
        invoices = [issuing.draft(app.store, req, client)]
        if issue:
            invoices = _issue(app, config, who, invoices, on, reissue)
        _emit(invoices[0], fmt, output, _width(app))
        return
    if output_dir is None:
        raise click.UsageError("--all writes one file per client: give --output-dir DIR")
    if output_dir.exists() and not output_dir.is_dir():
        raise click.UsageError(f"--output-dir {str(output_dir)[:300]} is not a folder")
    run = build.run_all(app.store, req)
    if not run.invoices:
        everyone = Filters(since=req.range.since, until=req.range.until,
                           tags=(Selector(config.client_key, "present"),))
        raise matching.explain_empty(app.store, everyone, req.range, tz)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.UsageError(f"cannot make the folder {str(output_dir)[:300]}: {exc.strerror or exc}") from None
    invoices = _issue(app, config, who, run.invoices, on, reissue) if issue else run.invoices
    for inv in invoices:
        stem = f"{inv.number}-{_safe(inv.client)}" if inv.number else f"{_safe(inv.client)}-{_safe(period)}"
        target = output_dir / f"{stem}.{render.EXTENSIONS[fmt]}"
        _warn_unpriced(inv)
        _write(target, render.as_pdf(inv) if fmt == "pdf" else render.render(inv, fmt))
    summary = render.summary_text(run, period, req.allocation.describe())
    _write(output_dir / "summary.txt", summary)
    _write(output_dir / "summary.csv", render.summary_csv(run))
    click.echo(summary, nl=False)
    click.echo(f"wrote {len(invoices)} invoices, summary.txt and summary.csv to {output_dir}")


@invoice.command("show")
@click.argument("number")
@click.option("--format", "fmt", type=click.Choice(render.FORMATS), default="table", show_default=True,
              help="table (text), csv, json (the stored document), html (printable) or pdf.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file.")
@click.pass_obj
def show(app: App, number: str, fmt: str, output: Path | None) -> None:
    """Print issued invoice NUMBER exactly as it was issued (later price changes do not touch it)."""
    issued = IssuedInvoices.for_store(app.store)
    try:
        record = issued.get(number)
    finally:
        issued.close()
    if record is None:
        raise BillingError(f"no issued invoice {number!r}; see `spendtag invoice list`")
    narrow = _width(app) < render.TEXT_WIDTH
    if fmt == "json" or (fmt == "table" and not narrow):
        text = record.rendered_text if fmt == "table" else record.document
        if output is None:
            click.echo(text, nl=False)
        else:
            _write(output, text)
            click.echo(f"wrote {record.number} to {output}")
        return
    _emit(from_json(record.document), fmt, output, _width(app))


@invoice.command("credits")
@click.option("--client", help="Only this client's credits.")
@click.pass_obj
def credits_(app: App, client: str | None) -> None:
    """Credits owed to clients (`record-cost --credit`): what issued invoices used, and what is left."""
    from spendtag.bill.credits import balances
    from spendtag.money import to_decimal

    found = balances(app.store, client)
    if not found:
        click.echo("no credits recorded: record one with `spendtag record-cost --credit 20 --tag client=NAME`")
        return
    rows = [[b.credit.day, b.credit.client, usd(to_decimal(b.credit.amount)), usd(to_decimal(b.used)),
             usd(to_decimal(b.left)), b.credit.note, b.credit.credit_id] for b in found]
    total = [sum(b.credit.amount for b in found), sum(b.used for b in found), sum(b.left for b in found)]
    rows.append(["total", "", *(usd(to_decimal(t)) for t in total), "", ""])
    click.echo("\n".join(render.text_table(["date", "client", "credit", "used", "left", "note", "id"], rows,
                                           [False, False, True, True, True, False, False])))


@invoice.command("list")
@click.option("--client", help="Only this client's invoices.")
@click.pass_obj
def list_(app: App, client: str | None) -> None:
    """Issued invoices, oldest first, with their status (overdue once the due date has passed)."""
    issued = IssuedInvoices.for_store(app.store)
    try:
        records = issued.index(client)
    finally:
        issued.close()
    if not records:
        click.echo("no invoices issued yet: issue one with `spendtag invoice --client NAME --period P --issue`")
        return
    today = datetime.now(app.tz).date()
    rows = [[r.number, _short(r.client), r.period, r.due_on or "—", invoice_status.current(r, today),
             money(Decimal(r.total_due), r.currency)] for r in records]
    click.echo("\n".join(render.text_table(["number", "client", "period", "due", "status", "total due"], rows,
                                           [False, False, False, False, False, True])))


def _short(name: str, most: int = 16) -> str:
    return name if len(name) <= most else name[:most - 1] + "…"


@invoice.command("mark")
@click.argument("number")
@click.argument("status", type=click.Choice(invoice_status.MARKS))
@click.option("--by", "by", help="Who marks it (default: your user name).")
@click.option("--at", "at", metavar="TIME", help="When it happened, e.g. 2026-04-03 (default: now).")
@click.pass_obj
def mark(app: App, number: str, status: str, by: str | None, at: str | None) -> None:
    """Mark issued invoice NUMBER sent, paid or void (recorded with who and when)."""
    import getpass

    try:
        who = by or getpass.getuser()
    except (KeyError, OSError):
        who = "cli"
    when = parse_instant(at, app.tz) if at else None
    done = invoice_status.mark(app.store, number, status, who, when)
    click.echo(f"{done.number}: {done.status} · {done.at.astimezone(app.tz):%Y-%m-%d %H:%M} · by {done.by}")


# Unknown options are read as arguments, so that `record-cost --credit -20` says what is wrong with -20.
@click.command("record-cost", context_settings={"ignore_unknown_options": True})
@click.argument("amount")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag, e.g. client=acme. Repeatable.")
@click.option("--note", default="", help="What it is, e.g. \"tool seat, March\" (shown on invoices).")
@click.option("--date", "day", help="The day it applies to, e.g. 2026-03-01 (default: now).")
@click.option("--kind", help=f"A kind: subscription, tool, compute... [default: {DEFAULT_KIND}]")
@click.option("--credit", is_flag=True,
              help="AMOUNT is owed to the client (a refund, goodwill): a credit line on its invoice, not a cost.")
@click.option("--event-id", help="Idempotency key: recording the same id again changes nothing.")
@click.pass_obj
def record_cost(app: App, amount: str, tags: tuple[str, ...], note: str, day: str | None, kind: str | None,
                credit: bool, event_id: str | None) -> None:
    """Record a fixed AMOUNT in USD (a subscription, a tool fee, compute) against tags.

    With --credit, AMOUNT is a credit owed to the client its client tag names: it is taken off
    that client's next invoice (after any markup or fee) and is never counted as spend.
    """
    if credit:
        if kind is not None:
            raise BillingError("--kind is for costs; a credit has none (say what it is with --note)")
        _record_credit(app, amount, parse_pairs(tags), note, day, event_id)
        return
    priced = fixed_cost(amount, parse_pairs(tags), note=note, day=day, kind=kind or DEFAULT_KIND, event_id=event_id,
                        tz=app.tz)
    new = app.store.record([priced]).inserted == 1
    shown = priced if new else (app.store.get_event(priced.event.event_id) or priced)   # what the ledger holds
    labels = ",".join(f"{k}={v}" for k, v in sorted(shown.event.tags.items())) or "no tags"
    click.echo(f"{'recorded' if new else 'already recorded (unchanged)'}: {shown.event.event_id} · "
               f"{shown.event.model} {format_usd(shown.cost.total)} · {labels}")
    if new:
        app.fire_alerts()


def _record_credit(app: App, amount: str, tags: dict[str, str], note: str, day: str | None,
                   credit_id: str | None) -> None:
    from spendtag.bill import credits
    from spendtag.money import to_decimal

    client_key = app.settings["client_key"]
    done = credits.record(app.store, credits.new_credit(amount, tags, client_key=client_key, note=note, day=day,
                                                        credit_id=credit_id, tz=app.tz))
    c = done.credit
    click.echo(f"{'recorded credit' if done.new else 'already recorded (unchanged)'}: {c.credit_id} · "
               f"{usd(to_decimal(c.amount))} owed to {client_key}={c.client} from {c.day}"
               + (f" · {c.note}" if c.note else ""))
    if done.issued:
        click.echo(f"note: {', '.join(done.issued)} already billed that day's period; the credit goes on "
                   f"{c.client}'s next invoice (or on that period's with `invoice --reissue`)", err=True)


@click.command()
@filter_options
@click.option("--scope", multiple=True, metavar="SELECTOR", help="Only events whose tags match, e.g. client=acme.")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--reason", default="reprice with current prices", show_default=True,
              help="Kept with each revision.")
@click.pass_obj
def reprice(app: App, /, scope: tuple[str, ...], dry_run: bool, yes: bool, reason: str, **kwargs: Any) -> None:
    """Recompute recorded costs with the current list prices and overrides.

    Shows the difference per client and model; on confirmation each changed event gets a new
    cost revision (the previous cost stays). Issued invoices keep the prices they were issued with.
    `spendtag event ID` shows an event's earlier costs.
    """
    sel = selection(app.tz, kwargs, tuple(Selector.parse(s) for s in scope))
    if sel.range.since is None and sel.range.until is None:
        raise click.UsageError("give the events to reprice: --period 2026-03 or --since/--until")
    matching.check(app.store, sel.filters)
    client_key = app.settings["client_key"]
    plan = repricing.plan(app.store, app.pricer, sel.filters, client_key)
    if not plan.scanned:
        click.echo(f"nothing to reprice: {matching.explain_empty(app.store, sel.filters, sel.range, sel.tz)}")
        return
    if not plan.revised:
        fixed = f" ({plan.fixed_skipped} fixed costs are never repriced)" if plan.fixed_skipped else ""
        click.echo(f"nothing to reprice: {plan.scanned - plan.fixed_skipped} events already have current prices{fixed}")
        return
    # Unpriced events are counted beside the priced sums, never shown as $0.00; a difference
    # with events current prices cannot price is unknown ("—"), not a drop.
    rows = [[r.client or "(untagged)", r.model, f"{r.events:,}", cost_text(r.old, r.events, r.old_unpriced),
             cost_text(r.new, r.events, r.new_unpriced), "—" if r.new_unpriced else screen(r.delta),
             _reprice_note(r.newly_unpriced, r.newly_priced)] for r in plan.rows]
    events = len(plan.revised)
    rows.append(["total", "", f"{events:,}", cost_text(plan.old_total, events, plan.old_unpriced),
                 cost_text(plan.new_total, events, plan.new_unpriced),
                 "—" if plan.new_unpriced else screen(plan.new_total - plan.old_total),
                 _reprice_note(sum(r.newly_unpriced for r in plan.rows), sum(r.newly_priced for r in plan.rows))])
    click.echo("\n".join(render.text_table([client_key, "model", "events", "recorded", "current prices",
                                            "difference", ""], rows, [False, False, True, True, True, True, False])))
    if plan.new_unpriced:
        models = sorted({r.model for r in plan.rows if r.new_unpriced})
        click.echo(f"warning: {plan.new_unpriced:,} events cannot be priced at current prices ({', '.join(models)}) "
                   "and are not in these costs; add a price with `spendtag prices override`, see "
                   "`spendtag prices check`")
    if dry_run:
        click.echo(f"dry run: nothing written; {len(plan.revised)} events would get a new cost revision")
        return
    if not yes:
        click.confirm(f"Record new costs for {len(plan.revised)} events (previous costs are kept)?", abort=True)
    changed = repricing.apply(app.store, plan, reason)
    click.echo(f"revised {changed} events; previous costs kept as revisions. Issued invoices keep their prices.")


def _reprice_note(newly_unpriced: int, newly_priced: int) -> str:
    notes = [f"{newly_unpriced:,} now unpriced" if newly_unpriced else "",
             f"{newly_priced:,} newly priced" if newly_priced else ""]
    return ", ".join(n for n in notes if n)


@click.command("diff")
@click.option("--litellm", "litellm_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="LiteLLM's model_prices_and_context_window.json (a copy you downloaded).")
@click.option("--all", "all_models", is_flag=True, help="Every model in that file, not only those in the ledger.")
@click.option("--date", "when", help="Prices in force on this date (default: today).")
@click.option("--strict", is_flag=True, help="Exit with status 1 when any rate differs.")
@click.pass_obj
def prices_diff(app: App, litellm_file: Path, all_models: bool, when: str | None, strict: bool) -> None:
    """Where the bundled list prices disagree with LiteLLM's price map (USD per million tokens)."""
    from spendtag.pricing.pricer import Pricer

    ts = parse_instant(when, app.tz) if when else datetime.now(UTC)
    models = None if all_models else [(u.provider, u.model) for u in app.store.models() if u.provider != "manual"]
    result = diff(Pricer(), load(litellm_file), models, ts)

    def per_mtok(rate: Decimal) -> str:
        return format(rate.scaleb(6).normalize(), "f")

    if result.mismatches:
        rows = [[m.provider, m.model, m.bucket, per_mtok(m.ours), per_mtok(m.theirs)] for m in result.mismatches]
        click.echo("\n".join(render.text_table(["provider", "model", "bucket", "genai-prices", "litellm"], rows,
                                               [False, False, False, True, True])))
    models_off = len({(m.provider, m.model) for m in result.mismatches})
    click.echo(f"compared {result.compared} models: {len(result.mismatches)} rates differ in {models_off} models; "
               f"{len(result.not_in_litellm)} not in the LiteLLM file; {len(result.not_listed)} without a list price")
    if strict and result.mismatches:
        raise SystemExit(1)


COMMANDS = [invoice, record_cost, reprice]

__all__ = ["COMMANDS", "invoice", "prices_diff", "record_cost", "reprice"]
