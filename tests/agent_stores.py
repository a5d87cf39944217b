"""Helpers for the tests of the agents whose stores are rewritten whole (SQLite, JSON documents).

``import_cli`` runs ``spendtag import``; ``recorded`` reads what the ledger holds, per call id;
``pico`` prices a count at a list price per million tokens, exactly, as the tests state them.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from spendtag.cli.main import cli
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters

AGENT_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "agents"


def pico(tokens: int, usd_per_million: str) -> int:
    """``tokens`` at ``usd_per_million`` USD per million tokens, in pico-USD (exact)."""
    value = Decimal(tokens) * Decimal(usd_per_million) * 10**6
    assert value == value.to_integral_value(), value
    return int(value)


def import_cli(*args: str, config: Path | None = None) -> str:
    env = {"COLUMNS": "200"}
    if config is not None:
        env["SPENDTAG_CONFIG"] = str(config)
    result = CliRunner().invoke(cli, ["import", *args], catch_exceptions=False, env=env)
    assert result.exit_code == 0, result.output
    return result.output


@dataclass(frozen=True)
class Call:
    provider: str
    model: str
    buckets: tuple[int, int, int, int, int]   # input, cache read, cache write 5m, output, reasoning
    cost: int                                  # pico-USD
    project: str | None
    session: str | None
    agent: str | None
    tags: tuple[tuple[str, str], ...] = ()


def recorded() -> dict[str, Call]:
    store = open_store(os.environ["SPENDTAG_DB"])
    try:
        out = {}
        for p in store.events(Filters()):
            e, u = p.event, p.event.usage
            out[e.event_id] = Call(e.provider, e.model, (u.input_tokens, u.cache_read_tokens, u.cache_write_5m_tokens,
                                                         u.output_tokens, u.reasoning_tokens),
                                   p.cost.total, e.project, e.session, e.agent, tuple(sorted(e.tags.items())))
        return out
    finally:
        store.close()


def build_db(sql: Path, db: Path) -> Path:
    """A SQLite database made from a committed ``.sql`` file (schema and rows)."""
    db.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(db)
    try:
        con.executescript(sql.read_text(encoding="utf-8"))
        con.commit()
    finally:
        con.close()
    return db


def copy_tree(name: str, dst: Path) -> Path:
    shutil.copytree(AGENT_FIXTURES / name, dst, dirs_exist_ok=True)
    return dst


def new_calls(output: str) -> int:
    head = output.split(" new calls")[0].rsplit(" ", 1)[-1]
    return int(head.replace(",", ""))


def malformed(output: str) -> int:
    head = output.split(" malformed")[0].rsplit(" ", 1)[-1]
    return int(head.replace(",", ""))


def acme_config(tmp: Path, pattern: str) -> Path:
    config = tmp / "spendtag.toml"
    config.write_text(f'[attribution]\n"{pattern}" = {{ client = "acme" }}\n', encoding="utf-8")
    return config
