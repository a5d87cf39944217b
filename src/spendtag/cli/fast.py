"""`spendtag statusline` without the command-line machinery: Claude Code runs it constantly."""

from __future__ import annotations

import json
import sys


def statusline() -> None:
    from spendtag import budgets, settings
    from spendtag.attribution import Rules
    from spendtag.ledger import open_store
    from spendtag.periods import zone
    from spendtag.statusline import line

    try:
        payload = json.loads(sys.stdin.read() or "{}")
    except json.JSONDecodeError:
        payload = {}
    try:
        conf = settings.load()
        store = open_store(conf.db)
        try:
            found = budgets.load(store, conf.sections.get("budgets"), config_path=str(conf.config_path))
            rules = Rules.from_config(conf.sections.get("attribution"), path=str(conf.config_path))
            text = line(payload if isinstance(payload, dict) else {}, store, found, rules, zone(conf["tz"]),
                        client_key=conf["client_key"])
        finally:
            store.close()
    except Exception as exc:  # noqa: BLE001 - a status line must print something, never a traceback
        text = f"spendtag: {exc}"
    sys.stdout.write(text + "\n")
