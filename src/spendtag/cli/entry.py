"""The `spendtag` executable. Kept tiny: the status line must not pay for importing the CLI."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["statusline"]:
        # Claude Code waits for its status line on every refresh: answer without click.
        from spendtag.cli.fast import statusline

        statusline()
        return
    from spendtag.cli.main import cli

    cli(prog_name="spendtag")
