"""Terminal tables that fit: money columns stay whole at any width from 60 columns up.

A table is laid out before rich draws it. When it is wider than the terminal, it gives
way in this order, as ccusage's compact mode does: long headers take their short form,
the least important columns are dropped (the lowest ``keep`` first), and the label columns
(``shrink``) are cut with an ellipsis down to their ``least`` width. Money columns are
never dropped nor cut, and neither is a column with ``keep=None``. Every column then gets
an exact width, so rich neither wraps a row nor cuts an amount (``$42…``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

# What the rich table (its default box, one space of padding each side) adds to its columns:
# three characters per column (two spaces and a rule) and one for the last rule.
PER_COLUMN, BORDER = 3, 1


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    justify: Literal["left", "right"] = "left"
    money: bool = False        # never dropped nor cut
    keep: int | None = 0       # dropped lowest first when the table is too wide; None: never dropped
    short: str | None = None   # the header when space is short
    shrink: bool = False       # may be cut with an ellipsis down to ``least`` characters
    least: int = 8


def layout(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> tuple[list[int], list[int],
                                                                                       list[str]]:
    """The columns kept (their indexes), their widths, and their headers, for ``width`` characters."""
    from rich.cells import cell_len

    kept = list(range(len(columns)))
    headers = [c.header for c in columns]

    def natural(i: int) -> int:
        return max([cell_len(headers[i]), *(cell_len(r[i]) for r in rows)])

    def needed(at_least: bool) -> int:
        total = BORDER + PER_COLUMN * len(kept)
        for i in kept:
            total += min(natural(i), max(columns[i].least, cell_len(headers[i]))) if at_least and columns[
                i].shrink else natural(i)
        return total

    if needed(False) > width:
        headers = [c.short or c.header for c in columns]
    droppable = sorted((c.keep, -i) for i, c in enumerate(columns) if c.keep is not None and not c.money)
    for _, minus_i in droppable:
        if needed(True) <= width:
            break
        kept.remove(-minus_i)
    widths = [natural(i) for i in kept]
    excess = BORDER + PER_COLUMN * len(kept) + sum(widths) - width
    # Cut the shrinkable columns, widest first, one character at a time.
    while excess > 0:
        candidates = [(widths[n], n) for n, i in enumerate(kept)
                      if columns[i].shrink and widths[n] > max(columns[i].least, cell_len(headers[i]))]
        if not candidates:
            break
        _, n = max(candidates)
        widths[n] -= 1
        excess -= 1
    return kept, widths, [headers[i] for i in kept]


def build(console: Console, columns: Sequence[Column], rows: Sequence[Sequence[str] | None], *,
          title: str | None = None, total: Sequence[str] | None = None) -> Table:
    """A rich table of ``rows`` (None: a rule between sections), and a bold ``total`` row after a
    rule, that fits ``console``'s width."""
    from rich.table import Table

    every = [r for r in [*rows, total] if r is not None]
    kept, widths, headers = layout(columns, every, console.width)
    table = Table(title=title, title_justify="left")
    for i, w, header in zip(kept, widths, headers, strict=True):
        c = columns[i]
        table.add_column(header, justify=c.justify, width=w, no_wrap=True,
                         overflow="ellipsis" if c.shrink else "fold")
    for row in rows:
        if row is None:
            table.add_section()
        else:
            table.add_row(*(row[i] for i in kept))
    if total is not None:
        table.add_section()
        table.add_row(*(total[i] for i in kept), style="bold")
    return table
