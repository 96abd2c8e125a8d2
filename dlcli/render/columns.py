"""Tables that stay readable at any terminal width.

Rich squeezes every column of a table that is too wide, until each cell reads ``lr-swe…``
and rows that differ only at the end of a name look alike. Instead, these helpers keep
each column at its natural width and decide *which* columns are shown: lower-priority
columns are dropped (``fit_columns``), or spread over several tables that repeat the
first column (``pack_columns``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console, JustifyMethod
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


@dataclass
class Column:
    header: str
    cells: list[str | Text]
    justify: JustifyMethod = "left"


def make_table(
    columns: Sequence[Column],
    *,
    title: str | None = None,
    row_styles: Sequence[str | None] = (),
) -> Table:
    """A table of ``columns``; cells fold (never ``…``) if the console is still too narrow."""
    table = Table(title=title, box=box.SIMPLE_HEAD)  # no vertical rules: 1 column less each
    for col in columns:
        table.add_column(col.header, justify=col.justify, overflow="fold")
    rows = len(columns[0].cells) if columns else 0
    for r in range(rows):
        style = row_styles[r] if r < len(row_styles) else None
        table.add_row(*(col.cells[r] for col in columns), style=style)
    return table


def table_width(console: Console, columns: Sequence[Column]) -> int:
    """Columns needed to show ``columns`` without squeezing any cell."""
    unbounded = console.options.update(max_width=1_000_000)  # else clamped to the console
    return Measurement.get(console, unbounded, make_table(columns)).maximum


def fit_columns(
    console: Console, columns: Sequence[Column], priority: Sequence[str]
) -> tuple[list[Column], list[Column]]:
    """The columns that fit the console width (kept in their order) and those dropped.

    Columns are admitted by ``priority`` (headers, most important first; the first one is
    always shown); a column that does not fit is dropped, and a later, narrower one may
    still fit.
    """
    by_header = {c.header: c for c in columns}
    chosen: set[str] = set()
    for header in priority:
        if header not in by_header:
            continue
        trial = [c for c in columns if c.header in chosen | {header}]
        if not chosen or table_width(console, trial) <= console.width:
            chosen.add(header)
    shown = [c for c in columns if c.header in chosen]
    return shown, [c for c in columns if c.header not in chosen]


def pack_columns(console: Console, first: Column, columns: Sequence[Column]) -> list[list[Column]]:
    """``columns`` split into groups that each fit the width beside ``first``, in order.

    A column too wide even alone beside ``first`` gets a group of its own (it will fold).
    """
    groups: list[list[Column]] = []
    current: list[Column] = []
    for col in columns:
        if current and table_width(console, [first, *current, col]) > console.width:
            groups.append(current)
            current = []
        current.append(col)
    if current:
        groups.append(current)
    return [[first, *group] for group in groups] or [[first]]
