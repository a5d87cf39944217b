"""``spendtag rules``: the attribution rules (path pattern -> tags) of the config file and the ledger."""

from __future__ import annotations

import json

import click

from spendtag.cli.app import App
from spendtag.cli.catalog import HelpGroup
from spendtag.tags import parse_pairs


@click.group(cls=HelpGroup)
def rules() -> None:
    """Attribution rules (project path -> tags): list them, add one to the ledger, remove one."""


@rules.command("list")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
@click.pass_obj
def list_(app: App, as_json: bool) -> None:
    """Every rule in the order it applies: the config file's [attribution], then the ledger's."""
    from spendtag.attribution import Rules

    config = Rules.from_config(app.settings.sections.get("attribution"), path=str(app.settings.config_path)).rules
    stored = app.store.attribution_rules()
    if as_json:
        click.echo(json.dumps([{"source": "config", "pattern": r.pattern, "tags": dict(r.tags)} for r in config]
                              + [{"source": "ledger", "id": r.rule_id, "pattern": r.pattern, "tags": dict(r.tags),
                                  "created_at": r.created_at.isoformat()} for r in stored], indent=2))
        return
    if not config and not stored:
        click.echo("no attribution rules (add one: spendtag rules add '~/clients/acme/**' client=acme)")
        return
    for r in config:
        click.echo(f"config       {r.pattern} -> {_tags(r.tags)}")
    for s in stored:
        click.echo(f"{s.rule_id:<12} {s.pattern} -> {_tags(s.tags)}")


@rules.command("add")
@click.argument("pattern")
@click.argument("tags", nargs=-1, required=True, metavar="KEY=VALUE...")
@click.pass_obj
def add(app: App, pattern: str, tags: tuple[str, ...]) -> None:
    """Add a rule to the ledger: calls whose project matches PATTERN get TAGS (after the config file's rules).

    It applies to calls imported from now on; `spendtag retag` applies it to calls already recorded.
    """
    from spendtag.attribution import add_rule

    made = add_rule(app.store, pattern, parse_pairs(tags))
    click.echo(f"added {made.rule_id}: {made.pattern} -> {_tags(made.tags)}")


@rules.command("remove")
@click.argument("rule_id")
@click.pass_obj
def remove(app: App, rule_id: str) -> None:
    """Stop using a ledger rule (its id from `spendtag rules list`); rules in the config file are removed there."""
    from spendtag.attribution import remove_rule

    found = remove_rule(app.store, rule_id)
    click.echo(f"removed {found.rule_id}: {found.pattern}")


def _tags(tags: object) -> str:
    return ", ".join(f"{k}={v}" for k, v in dict(tags).items())  # type: ignore[call-overload]


COMMANDS = [rules]
