"""``spendtag pull`` (provider usage and cost reports) and ``spendtag reconcile``."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import click

from spendtag.cli.app import App
from spendtag.cli.catalog import HelpGroup
from spendtag.cli.params import ROWS

if TYPE_CHECKING:
    from spendtag.ledger.provider_tables import ProviderStore
    from spendtag.providers_api.mapping import Rules
    from spendtag.providers_api.model import PullResult
    from spendtag.reconcile import Line, Reconciliation

_PROVIDERS = ("anthropic", "openai")


def provider_store(app: App) -> ProviderStore:
    from spendtag.errors import StoreError
    from spendtag.ledger.provider_tables import ProviderReports

    store = app.store
    if not isinstance(store, ProviderReports):   # both ledgers (SQLite and PostgreSQL) keep provider reports
        raise StoreError("this ledger cannot keep provider reports yet (no provider tables); upgrade spendtag")
    return store


def mapping_rules(app: App) -> Rules:
    from spendtag.providers_api.mapping import Rules

    return Rules.from_config(app.settings.sections.get("pull"), path=str(app.settings.config_path))


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r}: give a UTC day such as 2026-03-01", param_hint=name) from None


def _percent(text: str, name: str) -> Decimal:
    try:
        value = Decimal(text.strip().rstrip("%"))
    except InvalidOperation:
        raise click.BadParameter(f"{text!r}: give a percentage such as 5%", param_hint=name) from None
    if not value.is_finite() or value < 0:
        raise click.BadParameter(f"{text!r}: give a percentage such as 5%", param_hint=name)
    return value


def _days(app: App, since: str | None, until: str | None, period: str | None) -> tuple[date, date, str | None]:
    """UTC days [since, until) from --period or --since/--until (until defaults to tomorrow: today included)."""
    if period and (since or until):
        raise click.UsageError("give --period or --since/--until, not both")
    if period:
        from zoneinfo import ZoneInfo

        from spendtag.periods import parse_period

        rng = parse_period(period, ZoneInfo("UTC"))
        assert rng.since is not None and rng.until is not None
        return rng.since.date(), rng.until.date(), period
    if not since:
        raise click.UsageError("give --period (e.g. 2026-03) or --since (e.g. 2026-03-01)")
    start = _day(since, "--since")
    end = _day(until, "--until") if until else datetime.now(UTC).date() + timedelta(days=1)
    if end <= start:
        raise click.UsageError(f"--until ({end}) must be after --since ({start})")
    return start, end, None


def _base_url(app: App, provider: str, flag: str | None) -> str | None:
    from spendtag.config_table import is_http_url

    if flag:
        if not is_http_url(flag):
            raise click.BadParameter(f"{flag[:200]!r} is not an http(s) URL with a host", param_hint="'--base-url'")
        return flag
    mapping_rules(app)      # reads [pull] whole: a bad base URL there is an error with its line
    section = app.settings.sections.get("pull") or {}
    value = section.get(f"{provider}_base_url") if isinstance(section, dict) else None
    return value if isinstance(value, str) and value else None


def _report_line(result: PullResult) -> list[str]:
    lines = []
    for f in result.reports:
        text = (f"{result.provider} {f.report}: {len(f.days)} day(s) replaced, {len(f.rows)} row(s), "
                f"{f.pages} page(s)")
        if f.missing:
            shown = ", ".join(d.isoformat() for d in f.missing[:5]) + (" ..." if len(f.missing) > 5 else "")
            text += f"; INCOMPLETE {len(f.missing)} day(s) not pulled: {shown} ({f.error})"
        lines.append(text)
    return lines


def _pull_command(provider: str) -> click.Command:
    from spendtag.providers_api.pull import key_env

    @click.command(provider, help=f"""Read {provider}'s admin usage and cost reports into the ledger's provider tables.

    Needs an admin key in ${key_env(provider)}. Days are UTC. A re-run of a range replaces what
    that range held. With --every, runs until interrupted, each time pulling the last 2 days
    again (a cron line running the same pull is the alternative).

    \b
      spendtag pull {provider} --since 2026-03-01
      spendtag pull {provider} --since 2026-03-01 --until 2026-04-01
      spendtag pull {provider} --every 1h
    """)
    @click.option("--since", help="First UTC day: 2026-03-01 (with --every: where the first round starts).")
    @click.option("--until", help="First UTC day not pulled [default: tomorrow, so today is included].")
    @click.option("--every", "interval", metavar="INTERVAL",
                  help="Keep pulling the last 2 days every INTERVAL (30m, 1h, 1d) until interrupted.")
    @click.option("--base-url", help=f"API base URL [config: [pull] {provider}_base_url; "
                                     f"default: the provider's].")
    @click.pass_obj
    def command(app: App, since: str | None, until: str | None, interval: str | None, base_url: str | None) -> None:
        from spendtag.providers_api.pull import every, make_client, parse_interval, pull

        store = provider_store(app)
        api = make_client(provider, _base_url(app, provider, base_url))
        if interval is None:
            start, end, _ = _days(app, since, until, None)
            result = pull(store, provider, api, start, end)
            for line in _report_line(result):
                app.console.out(line)
            if not result.complete:
                app.err.print("error: some days were not pulled; run the same command again to complete them",
                              markup=False)
                raise SystemExit(1)
            return
        seconds = parse_interval(interval)
        first = (_day(since, "--since"), _days(app, since, until, None)[1]) if since else None
        try:
            for start, end in every(seconds):
                if first:
                    start, end = first[0], max(end, first[1])
                    first = None
                result = pull(store, provider, api, start, end)
                stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
                for line in _report_line(result):
                    app.console.out(f"{stamp} {line}")
        except KeyboardInterrupt:
            app.err.print("stopped", markup=False)

    return command


@click.group(cls=HelpGroup)
def pull() -> None:
    """Provider usage and cost reports (Anthropic, OpenAI admin APIs): pull, show, status.

    Pulled rows are the provider's own account, kept apart from spendtag's event ledger:
    `spendtag report` never counts them, `spendtag pull show` and `spendtag reconcile` read them.
    """


for _name in _PROVIDERS:
    pull.add_command(_pull_command(_name))


@pull.command("show")
@click.argument("provider", required=False, type=click.Choice(_PROVIDERS))
@click.option("--by", "by", default="day", show_default=True, metavar="GROUP",
              help="day, month, model, key, workspace, project, tier, context, or a tag key from [pull.mapping] "
                   "(client).")
@click.option("--since", help="First UTC day: 2026-03-01.")
@click.option("--until", help="First UTC day not shown.")
@click.option("--period", help="A UTC period: 2026-03, 2026-03-14, 2026.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.pass_obj
def show(app: App, provider: str | None, by: str, since: str | None, until: str | None, period: str | None,
         fmt: str) -> None:
    """Pulled usage and cost grouped by day, model, API key, workspace/project, tier or a mapped tag.

    The provider bills per workspace/project and bill line, not per API key: a day's bill lines
    are split over that day's usage rows in proportion to their tokens of the same kind, so
    every group's cost is a share of the real bill and the groups add up to it exactly.

    \b
      spendtag pull show anthropic --period 2026-03 --by model
      spendtag pull show --period 2026-03 --by client      # with [pull.mapping] rules
    """
    from spendtag.providers_api.attribute import attribute, group

    store = provider_store(app)
    if not since and not period:
        raise click.UsageError("give --period (e.g. 2026-03) or --since (e.g. 2026-03-01)")
    start, end, _ = _days(app, since, until, period)
    rules = mapping_rules(app)
    rows = []
    for name in (provider,) if provider else _PROVIDERS:
        rows += attribute(store.provider_usage(name, start, end), store.provider_costs(name, start, end), rules)
    groups, total = group(rows, by.strip())
    _print_groups(app, by.strip(), groups, total, fmt)


def _print_groups(app: App, by: str, groups: list[Any], total: Any, fmt: str) -> None:
    from spendtag.money import exact_str, format_usd
    from spendtag.providers_api.model import USAGE_COUNTS

    names = ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "output_tokens")
    if fmt == "json":
        app.console.out(json.dumps({"by": by, "groups": [
            {by: g.label, "requests": g.requests, **{n: g.counts[n] for n in USAGE_COUNTS},
             "cost_usd": exact_str(g.cost)} for g in [*groups, total]]}, indent=2))
        return
    if fmt == "csv":
        import io

        from spendtag.report.exports import CsvWriter, neutralise

        out = io.StringIO()
        writer = CsvWriter(out)
        writer.writerow([by, "requests", *USAGE_COUNTS, "cost_usd"])
        for g in [*groups, total]:
            writer.writerow([neutralise(g.label), "" if g.requests is None else g.requests,
                             *(g.counts[n] for n in USAGE_COUNTS), exact_str(g.cost)])
        app.console.out(out.getvalue(), end="")
        return
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=escape(f"Provider usage by {by}"), title_justify="left")
    for col in (by, "requests", "input", "cache read", "cache write", "output", "web searches", "cost"):
        t.add_column(escape(col), justify="left" if col == by else "right")
    for g in [*groups, total]:
        t.add_row(escape(g.label), "-" if g.requests is None else f"{g.requests:,}", f"{g.counts[names[0]]:,}",
                  f"{g.counts[names[1]]:,}", f"{g.counts[names[2]] + g.counts[names[3]]:,}", f"{g.counts[names[4]]:,}",
                  f"{g.counts['web_search_requests']:,}", format_usd(g.cost))
    app.console.print(t)


@pull.command("status")
@click.argument("provider", required=False, type=click.Choice(_PROVIDERS))
@click.option("--limit", type=ROWS, default=20, show_default=True, help="How many pulls to list.")
@click.pass_obj
def status(app: App, provider: str | None, limit: int) -> None:
    """The latest pulls: range, pages, complete days and days not pulled (with why)."""
    store = provider_store(app)
    for log in store.provider_pulls(provider, limit=limit):
        state = "complete" if log.complete else f"INCOMPLETE: {log.days_missing} day(s) missing ({log.error})"
        app.console.out(f"{log.at:%Y-%m-%d %H:%M:%SZ} {log.provider} {log.report} {log.since}..{log.until} "
                        f"{log.pages} page(s), {log.days_complete} day(s): {state}")


@click.command("reconcile")
@click.option("--provider", required=True, type=click.Choice(_PROVIDERS), help="Whose bill to compare with.")
@click.option("--period", help="A UTC period: 2026-03 (a month), 2026-03-14, 2026.")
@click.option("--since", help="First UTC day: 2026-03-01.")
@click.option("--until", help="First UTC day not compared.")
@click.option("--tolerance", default="0.5%", show_default=True,
              help="A line within this percent of the provider's cost counts as matching (no cause named).")
@click.option("--alert-over", metavar="PERCENT",
              help="Raise a drift alert (once per provider and period) through the alert channels when the "
                   "total differs by more than this, e.g. 5%.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_obj
def reconcile(app: App, provider: str, period: str | None, since: str | None, until: str | None, tolerance: str,
              alert_over: str | None, fmt: str) -> None:
    """The ledger's cost against the provider's cost report, per UTC day, model and API key, with likely causes.

    Pull the provider's reports first (`spendtag pull anthropic --since ...`).

    \b
      spendtag reconcile --provider anthropic --period 2026-03
      spendtag reconcile --provider openai --period 2026-03 --alert-over 5%
    """
    from spendtag import reconcile as rc

    store = provider_store(app)
    start, end, label = _days(app, since, until, period)
    rec = rc.reconcile(store, provider, start, end, period=label, rules=mapping_rules(app),
                       tolerance=_percent(tolerance, "--tolerance"))
    if fmt == "json":
        app.console.out(json.dumps(_rec_dict(rec), indent=2))
    else:
        _print_rec(app, rec)
    if alert_over is not None:
        alert = rc.drift_alert(store, rec, _percent(alert_over, "--alert-over"), app.channels)
        if alert is not None:
            app.err.print(f"alert: drift {rc.percent_text(rec.total.percent)} for {provider} in {rec.period}",
                          markup=False)


def _line_dict(line: Line, name: str) -> dict[str, Any]:
    from spendtag.money import exact_str
    from spendtag.reconcile import percent_text

    return {name: line.key, "ledger_usd": exact_str(line.ledger_cost), "provider_usd": exact_str(line.provider_cost),
            "difference_usd": exact_str(line.difference), "difference_percent": percent_text(line.percent),
            "ledger_tokens": line.ledger_tokens, "provider_tokens": line.provider_tokens, "pulled": line.pulled,
            "causes": [c.text for c in line.causes], **({"tags": line.tags} if line.tags else {})}


def _rec_dict(rec: Reconciliation) -> dict[str, Any]:
    return {"provider": rec.provider, "period": rec.period, "since": rec.since.isoformat(),
            "until": rec.until.isoformat(), "total": _line_dict(rec.total, "scope"),
            "days": [_line_dict(x, "day") for x in rec.days], "models": [_line_dict(x, "model") for x in rec.models],
            "keys": [_line_dict(x, "api_key") for x in rec.keys],
            "not_pulled": [d.isoformat() for d in rec.not_pulled], "future": [d.isoformat() for d in rec.future]}


def _print_rec(app: App, rec: Reconciliation) -> None:
    from rich.markup import escape
    from rich.table import Table

    from spendtag.money import format_usd
    from spendtag.reconcile import percent_text

    # Keys, tags, causes and the period are data (a cause names "[pull.mapping]"): never rich markup.
    def table(title: str, name: str, lines: list[Line], *, keys: bool = False) -> None:
        t = Table(title=escape(title), title_justify="left")
        for col in (name, "ledger", "provider", "difference", "%", "likely causes"):
            t.add_column(col, justify="left" if col in (name, "likely causes") else "right")
        for x in lines:
            ledger = format_usd(x.ledger_cost) if x.pulled and (x.tags or not keys) else "-"
            provider = format_usd(x.provider_cost) if x.pulled else "-"
            same = x.pulled and (x.tags or not keys)
            label = x.key + (f" ({', '.join(f'{k}={v}' for k, v in sorted(x.tags.items()))})" if x.tags else "")
            t.add_row(escape(label), ledger, provider, format_usd(x.difference) if same else "-",
                      percent_text(x.percent) if same else "-", escape("; ".join(c.text for c in x.causes)))
        app.console.print(t)

    table(f"{rec.provider} {rec.period}: by UTC day", "day", rec.days)
    table("by model", "model", rec.models)
    if rec.keys:
        table("by API key (provider cost split by tokens; ledger by the key's mapped tags)", "api key", rec.keys,
              keys=True)
    t = rec.total
    app.console.out(f"total (days pulled): ledger {format_usd(t.ledger_cost)}, provider {format_usd(t.provider_cost)}, "
                    f"difference {format_usd(t.difference)} ({percent_text(t.percent)})")
    if rec.not_pulled:
        days = ", ".join(d.isoformat() for d in rec.not_pulled[:5]) + (" ..." if len(rec.not_pulled) > 5 else "")
        app.console.out(f"not pulled ({len(rec.not_pulled)} day(s), left out of the totals): {days}; "
                        f"run `spendtag pull {rec.provider} --since {rec.not_pulled[0]}`")
    if rec.future:
        app.console.out(f"not begun yet (UTC): {_day_span(rec.future)}, not compared")


def _day_span(days: list[date]) -> str:
    if len(days) == 1:
        return days[0].isoformat()
    return f"{days[0].isoformat()} to {days[-1].isoformat()} ({len(days)} days)"


COMMANDS = [pull, reconcile]
