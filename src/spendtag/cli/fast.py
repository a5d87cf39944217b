"""`spendtag statusline` without the command-line machinery: Claude Code runs it constantly."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

# The status line's background import: at most this many rounds, this far apart.
SETTLE_ROUNDS = 40
SETTLE_PAUSE = 0.5


def statusline() -> None:
    from spendtag import settings
    from spendtag.attribution import Rules
    from spendtag.guard import budgets
    from spendtag.ledger import open_store
    from spendtag.periods import zone
    from spendtag.report.statusline import line

    try:
        payload = json.loads(sys.stdin.read() or "{}")
    except json.JSONDecodeError:
        payload = {}
    try:
        conf = settings.load()
        store = open_store(conf.db)
        try:
            found = budgets.load(store, conf.sections.get("budgets"), config_path=str(conf.config_path),
                                 channels=conf.alert_channels)
            rules = Rules.load(store, conf.sections.get("attribution"), path=str(conf.config_path))
            text = line(payload if isinstance(payload, dict) else {}, store, found, rules, zone(conf["tz"]),
                        client_key=conf["client_key"])
        finally:
            store.close()
    except Exception as exc:  # noqa: BLE001 - a status line must print something, never a traceback
        text = f"spendtag: {exc}"
    sys.stdout.write(text + "\n")


def import_until_settled(argv: list[str] | None = None) -> None:
    """``spendtag import claude-code TRANSCRIPT`` until the transcript stops growing; then remove LOCK.

    Started by the status line (``statusline.import_in_background``) with the transcript and
    its lock file. While it runs it keeps the lock fresh, so refreshes do not start another;
    lines written meanwhile are imported by its next round. The lock goes before the last
    look at the transcript, so a line written at the very end is seen either by that look or
    by the refresh that follows it (which then finds no lock).
    """
    from spendtag.cli.main import cli

    transcript, lock = (Path(a) for a in (argv or sys.argv[1:])[:2])
    for _ in range(SETTLE_ROUNDS):
        seen = _stat(transcript)
        lock.touch()
        try:
            cli.main(["import", "claude-code", str(transcript)], prog_name="spendtag", standalone_mode=False)
        except Exception:  # noqa: BLE001 - nobody sees a detached import's errors; a later refresh retries
            break
        if _stat(transcript) == seen:
            lock.unlink(missing_ok=True)
            if _stat(transcript) == seen:
                return
        time.sleep(SETTLE_PAUSE)
    lock.unlink(missing_ok=True)


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns
