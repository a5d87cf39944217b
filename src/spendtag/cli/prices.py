"""``spendtag prices``: see list prices, override them, and find what cannot be priced."""

from __future__ import annotations

from datetime import UTC, date, datetime

import click
from rich.table import Table

from spendtag.cli.app import App
from spendtag.cli.catalog import HelpGroup
from spendtag.cli.params import DAY
from spendtag.errors import PricingError
from spendtag.periods import parse_instant
from spendtag.pricing.book import override_from_text
from spendtag.report import unpriced as unpriced_calls


@click.group(cls=HelpGroup)
def prices() -> None:
    """List prices (genai-prices, bundled), your overrides, and unpriced models."""


@prices.command("show")
@click.argument("model")
@click.option("--provider", help="Provider id (default: guessed from the model name).")
@click.option("--date", "when", help="Prices in force on this date (default: today).")
@click.pass_obj
def show(app: App, model: str, provider: str | None, when: str | None) -> None:
    """Rates for MODEL per million tokens, as spendtag will apply them."""
    ts = parse_instant(when, app.tz) if when else datetime.now(UTC)
    info = app.pricer.describe(provider, model, ts)
    if info is None:
        raise PricingError(f"no price known for {model!r}"
                           + (f" at {provider}" if provider else "")
                           + "; add one with `spendtag prices override`")
    t = Table(title=f"{info.get('provider')}/{info.get('model')} · prices on {ts.date().isoformat()}",
              title_justify="left")
    t.add_column("bucket")
    t.add_column("USD", justify="right")
    for bucket, rate in info.get("rates", {}).items():
        t.add_row(bucket, str(rate))
    app.console.print(t)
    for key in ("name", "source", "tiers", "variants", "overrides", "note"):
        if info.get(key):
            app.console.out(f"{key}: {info[key]}")


@prices.command("override")
@click.argument("model")
@click.option("--provider", help="Only for this provider.")
@click.option("--input", "input_", metavar="USD", help="Input, per million tokens.")
@click.option("--output", metavar="USD", help="Output, per million tokens.")
@click.option("--cache-read", metavar="USD", help="Cache reads, per million tokens.")
@click.option("--cache-write-5m", metavar="USD", help="5-minute cache writes, per million tokens.")
@click.option("--cache-write-1h", metavar="USD", help="1-hour cache writes, per million tokens.")
@click.option("--input-audio", metavar="USD", help="Audio input, per million tokens.")
@click.option("--output-audio", metavar="USD", help="Audio output, per million tokens.")
@click.option("--reasoning", metavar="USD", help="Reasoning tokens, per million (default: the output rate).")
@click.option("--web-search", metavar="USD", help="Web searches, per thousand.")
@click.option("--multiplier", metavar="FACTOR", help="Scale list prices instead, e.g. 0.85 for a 15% discount.")
@click.option("--from", "valid_from", type=DAY, help="First day it applies (UTC date, inclusive).")
@click.option("--until", "valid_until", type=DAY, help="Day it stops applying (UTC date, exclusive).")
@click.option("--scope", multiple=True, metavar="SELECTOR", help="Only for events whose tags match, e.g. client=acme.")
@click.option("--note", default="", help="Why (shown with every cost it produces).")
@click.option("--allow-new", is_flag=True, help="Accept a --scope tag value no call has yet, even if close to one.")
@click.pass_obj
def override(app: App, model: str, provider: str | None, input_: str | None, output: str | None,
             cache_read: str | None, cache_write_5m: str | None, cache_write_1h: str | None,
             input_audio: str | None, output_audio: str | None, reasoning: str | None,
             web_search: str | None, multiplier: str | None, valid_from: date | None, valid_until: date | None,
             scope: tuple[str, ...], note: str, allow_new: bool) -> None:
    """Give MODEL (a name or glob) your own rate card or a multiplier on list prices.

    Applies to calls recorded from now on whose time falls in --from/--until; costs already
    in the ledger keep the price they were recorded with.
    """
    given = {"input": input_, "output": output, "cache_read": cache_read, "cache_write_5m": cache_write_5m,
             "cache_write_1h": cache_write_1h, "input_audio": input_audio, "output_audio": output_audio,
             "reasoning": reasoning, "web_search": web_search}
    o = override_from_text(model, provider=provider, rates=given, multiplier=multiplier, valid_from=valid_from,
                           valid_until=valid_until, scope=scope, note=note,
                           label=lambda key: "--" + key.replace("_", "-"))
    if o.scope:
        from spendtag.ledger.query import Filters
        from spendtag.report import matching

        # A scope that names a typo (client=acmee) would never apply, silently.
        for found in matching.check_scope(app.store, Filters(tags=o.scope), allow_new=allow_new,
                                          fix="pass --allow-new if it is new"):
            click.echo(f"note: the override applies from the first such call: {found}", err=True)
    oid = app.store.add_price_override(o)
    app.console.out(f"override #{oid} saved for {model}")


@prices.command("overrides")
@click.pass_obj
def overrides(app: App) -> None:
    """List your price overrides (config file ones first)."""
    t = Table(title="Price overrides", title_justify="left")
    for col in ("id", "model", "provider", "rates / multiplier", "valid", "scope", "note"):
        t.add_column(col)
    for o in app.book.overrides:
        rates = (", ".join(f"{k}={v}" for k, v in o.rates.items()) if o.rates else f"x{o.multiplier}")
        valid = f"{o.valid_from or '…'} – {o.valid_until or '…'}"
        t.add_row(str(o.id) if o.id is not None else "config", o.model, o.provider or "any", rates, valid,
                  " ".join(str(s) for s in o.scope), o.note)
    app.console.print(t)


@prices.command("remove")
@click.argument("override_id", type=click.IntRange(min=1, max=2**63 - 1))
@click.pass_obj
def remove(app: App, override_id: int) -> None:
    """Stop using override ID for new calls (it stays in the ledger's history)."""
    if not app.store.remove_price_override(override_id):
        raise PricingError(f"no active override #{override_id}; see `spendtag prices overrides`")
    app.console.out(f"override #{override_id} removed")


@prices.command("check")
@click.option("--strict", is_flag=True, help="Exit with status 1 when any recorded call is unpriced.")
@click.option("--toml", "as_toml", is_flag=True,
              help="Print only the suggested [[prices]] tables, to append to the config file.")
@click.pass_obj
def check(app: App, strict: bool, as_toml: bool) -> None:
    """Which recorded models could not be priced, and a complete rate card for each.

    Each card has a rate for every bucket the unpriced calls used; add it (config file or
    `prices override`), fill in any FILL-IN, then `spendtag reprice` the period.
    """
    uses = app.store.models()
    unpriced = [u for u in uses if u.unpriced_requests]
    if not unpriced:
        if not as_toml:
            app.console.out(f"all {sum(u.requests for u in uses):,} recorded calls are priced "
                            f"({len(uses)} models)")
        return
    suggestions = unpriced_calls.check(app.store, app.pricer)
    if as_toml:
        click.echo("\n\n".join(s.toml() for s in suggestions))
    else:
        t = Table(title="Unpriced models", title_justify="left")
        for col in ("provider", "model", "unpriced calls", "first", "last"):
            t.add_column(col)
        for u in unpriced:
            t.add_row(u.provider, u.model, f"{u.unpriced_requests:,}", f"{u.first:%Y-%m-%d}", f"{u.last:%Y-%m-%d}")
        app.console.print(t)
        app.console.out("Their cost is not in any total. A rate card for each, with every rate its calls need "
                        "(config file, or the command); replace any FILL-IN, then run "
                        "`spendtag reprice --since FIRST --until LAST`:")
        for s in suggestions:
            calls = "call" if s.requests == 1 else "calls"
            click.echo(f"\n# {s.provider}/{s.model}: {s.requests:,} unpriced {calls}, {s.first:%Y-%m-%d} to "
                       f"{s.last:%Y-%m-%d} ({'; '.join(s.reasons)})")
            if s.priced_requests:
                others = "call" if s.priced_requests == 1 else "calls"
                click.echo(f"# {s.priced_requests:,} other {others} of this model are priced: this card would replace "
                           "their price too (limit it with from/until or scope)")
            click.echo(s.toml())
            click.echo(s.command())
    if strict:
        raise SystemExit(1)


def _attach_diff() -> None:
    from spendtag.cli.billing import prices_diff

    prices.add_command(prices_diff)


_attach_diff()
COMMANDS = [prices]
