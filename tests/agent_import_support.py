"""What the import tests of Cline, Roo Code, Kilo Code, Qwen Code, Kimi CLI and Aider share.

Costs are computed by hand in the tests from list prices per million tokens (``RATES``,
copied from the providers' price pages as the bundled price data has them), in pico-USD.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from spendtag.cli.main import cli
from spendtag.ledger import open_store
from spendtag.ledger.query import Filters
from spendtag.usage import PricedEvent

FIXTURES = Path(__file__).parent / "fixtures" / "agents"

# USD per million tokens: (input, cache read, cache write 5m, output).
RATES: dict[str, tuple[str, str, str, str]] = {
    "claude-sonnet-4": ("3", "0.3", "3.75", "15"),
    "claude-sonnet-4.5": ("3", "0.3", "3.75", "15"),
    "gpt-4.1": ("2", "0.5", "2", "8"),
    "gemini-2.5-pro": ("1.25", "0.125", "1.25", "10"),
    "grok-code-fast-1": ("0.2", "0.02", "0.2", "1.5"),
    "kimi-k2-turbo-preview": ("1.15", "0.15", "1.15", "8"),
    "kimi-k2-0905-preview": ("0.6", "0.15", "0.6", "2.5"),
    "qwen/qwen3-coder": ("0.22", "0.22", "0.22", "1.8"),
    "claude-3.5-sonnet": ("3", "0.3", "3.75", "15"),
    "deepseek-chat": ("0.27", "0.07", "0.27", "1.1"),     # its standard (daytime UTC) rates
}


def pico(model: str, inp: int = 0, read: int = 0, write: int = 0, out: int = 0) -> int:
    """A call's list price in pico-USD (1e-12 USD): tokens x USD per million x 10^6."""
    rates = [Decimal(r) for r in RATES[model]]
    total = sum((n * r * 10**6 for n, r in zip((inp, read, write, out), rates, strict=True)), Decimal(0))
    assert total == total.to_integral_value()
    return int(total)


def run(db: Path, *args: str, config: Path | None = None) -> str:
    env = {"COLUMNS": "200", "SPENDTAG_DB": str(db)}
    if config is not None:
        env["SPENDTAG_CONFIG"] = str(config)
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output


def recorded(db: Path) -> dict[str, PricedEvent]:
    store = open_store(str(db))
    try:
        return {p.event.event_id: p for p in store.events(Filters())}
    finally:
        store.close()


def rules(tmp: Path, mapping: Mapping[str, str]) -> Path:
    """A config file whose [attribution] rules give ``client=<value>`` under each path glob."""
    path = tmp / "spendtag.toml"
    lines = ["[attribution]"] + [f'"{glob}" = {{ client = "{client}" }}' for glob, client in mapping.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def vscode_storage(home: Path, plat: str, editor: str = "Code") -> Path:
    """``globalStorage`` of a VS Code build under a fake home, where each platform keeps it."""
    if plat == "win32":
        base = home / "AppData" / "Roaming"
    elif plat == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = home / ".config"
    return base / editor / "User" / "globalStorage"


def copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def touch_later(path: Path, seconds: int = 5) -> None:
    """A new modification time, as an editor saving the same content again gives."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + seconds * 1_000_000_000))
