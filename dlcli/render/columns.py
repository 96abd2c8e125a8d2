"""Tables that stay readable at any terminal width.

Rich squeezes every column of a table that is too wide, until each cell reads ``lr-swe…``
and rows that differ only at the end of a name look alike. Instead, these helpers keep
each column at its natural width and decide *which* columns are shown: lower-priority
columns are dropped (``fit_columns``), or spread over several tables that repeat the
first column (``pack_columns``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    console: Console,
    columns: Sequence[Column],
    priority: Sequence[str],
    *,
    width: int | None = None,
) -> tuple[list[Column], list[Column]]:
    """The columns that fit ``width`` (default: the console's; kept in their order) and
    those dropped.

    Columns are admitted by ``priority`` (headers, most important first; the first one is
    always shown); a column that does not fit is dropped, and a later, narrower one may
    still fit.
    """
    limit = console.width if width is None else width
    by_header = {c.header: c for c in columns}
    chosen: set[str] = set()
    for header in priority:
        if header not in by_header:
            continue
        trial = [c for c in columns if c.header in chosen | {header}]
        if not chosen or table_width(console, trial) <= limit:
            chosen.add(header)
    shown = [c for c in columns if c.header in chosen]
    return shown, [c for c in columns if c.header not in chosen]


def shorten_path(path: str, width: int) -> str:
    """``path`` in at most ``width`` characters: whole if it fits, else its first folder,
    ``…`` and as many of its last folders as fit (``runs/…/digits/20260126-104512``: where
    it starts and which run it is), else ``…/`` and the last folders."""
    if len(path) <= width:
        return path
    parts = path.replace("\\", "/").split("/")
    for head in (parts[0] + "/…/", "…/"):
        tail = parts[-1]
        for part in reversed(parts[1:-1]):
            if len(head + part + "/" + tail) > width:
                break
            tail = f"{part}/{tail}"
        if len(head + tail) <= width:
            return head + tail
    return "…" + path[-(width - 1) :]


def widest_fit(
    console: Console,
    columns: Sequence[Column],
    make: Callable[[int], Column],
    longest: int,
    shortest: int = 1,
) -> Column | None:
    """The widest column ``make(w)`` (``w`` from ``longest`` down to ``shortest``) that
    still fits the console beside ``columns``, found by binary search; None if none does."""
    lo, hi, best = min(shortest, longest), max(longest, 1), None
    while lo <= hi:
        mid = (lo + hi) // 2
        col = make(mid)
        if table_width(console, [*columns, col]) <= console.width:
            best, lo = col, mid + 1
        else:
            hi = mid - 1
    return best


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
