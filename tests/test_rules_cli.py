"""``spendtag rules``: the rules the dashboard keeps in the ledger, from the command line, with the same effect."""

from __future__ import annotations

import json

from test_cli import run

from spendtag.attribution import Rules
from spendtag.ledger import open_store


def test_add_list_apply_and_remove_a_rule(tmp_path) -> None:
    db = str(tmp_path / "l.db")
    assert "no attribution rules" in run("--db", db, "rules", "list")
    added = run("--db", db, "rules", "add", "/work/clients/acme/**", "client=acme", "team=web")
    rule_id = added.split()[1].rstrip(":")
    listed = json.loads(run("--db", db, "rules", "list", "--json"))
    assert [(r["source"], r["id"], r["pattern"], r["tags"]) for r in listed] == [
        ("ledger", rule_id, "/work/clients/acme/**", {"client": "acme", "team": "web"})]
    # The same rules as the dashboard's: loaded with the config file's, and applied to a call's project.
    with open_store(f"sqlite:///{db}") as store:
        rules = Rules.load(store, None)
    assert rules.apply("/work/clients/acme/site", {}) == {"client": "acme", "team": "web"}
    assert rules.apply("/work/clients/globex", {}) == {}
    assert f"removed {rule_id}" in run("--db", db, "rules", "remove", rule_id)
    assert json.loads(run("--db", db, "rules", "list", "--json")) == []


def test_mistakes_are_errors_not_tracebacks(tmp_path) -> None:
    db = str(tmp_path / "l.db")
    out = run("--db", db, "rules", "remove", "ar_nope", ok=False)
    assert "no attribution rule 'ar_nope'" in out
    out = run("--db", db, "rules", "add", "x/**", "noequals", ok=False)
    assert "has no '='" in out and "Traceback" not in out
