"""One look at a table for ``dlcli init``: its label column, what the labels are, and what
each other column holds (the table kind's own guesses, ``table_columns.infer_columns``).

The text and table starters both ask; the table is read once per path.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from dlcli.data.table_columns import LABEL_NAMES, ColumnSpec, find_labels, infer_columns
from dlcli.data.table_read import Table, read_table
from dlcli.errors import DataError
from dlcli.starter.base import Finding
from dlcli.starter.labels import TargetGuess, guess_target, tag_counts

FILE_TYPES = ("image", "audio")


@dataclass(frozen=True)
class TableLook:
    table: Table
    label: str
    target: TargetGuess
    columns: list[ColumnSpec]  # every column but the label, with its guessed type
    guessed: bool  # no column had a label name: the last one was taken

    def label_finding(self) -> Finding:
        """Which column holds the labels, what they are, and whether that was a guess."""
        if not self.guessed:
            return Finding("label column", self.label, self.target.why)
        why = (
            f"{self.target.why}; no column is named {', '.join(LABEL_NAMES)}, so the last "
            "one is taken (--label COLUMN chooses another)"
        )
        return Finding("label column", self.label, why, warning=True)

    @property
    def labels(self) -> list[str]:
        j = self.table.column(self.label)
        return [row[j].strip() for row in self.table.rows]

    @property
    def features(self) -> list[ColumnSpec]:
        return [c for c in self.columns if c.type != "ignore"]

    def counts(self) -> Counter[str]:
        """Examples per class (per tag for multi-label); empty for regression."""
        if self.target.tags and self.target.separator:
            return tag_counts(self.labels, self.target.separator)
        if self.target.classes:
            return Counter(v for v in self.labels if v)
        return Counter()

    def files(self, column: str) -> list[str]:
        """A file column's paths, resolved as the table kind resolves them (relative to
        the table's folder)."""
        j = self.table.column(column)
        base = self.table.path.parent
        return [str(base / row[j].strip()) for row in self.table.rows if row[j].strip()]


def look_at_table(path: Path, label: str | None) -> TableLook:
    resolved = Path(path).resolve()
    return _look(resolved, resolved.stat().st_mtime_ns, label)


@lru_cache(maxsize=4)
def _look(path: Path, mtime: int, label: str | None) -> TableLook:
    table = read_table(path)
    if not table.rows:
        raise DataError("the table has a header but no rows", file=path, line=2)
    guessed = False
    try:
        (column,) = find_labels(table.header, label, path)
    except DataError as exc:
        if label is not None or len(table.header) < 2:
            hint = "name the label column with --label COLUMN"
            raise DataError(problems=[replace(exc.problem, hint=hint)]) from None
        named = _target_label_column(table.header)
        column, guessed = (named, False) if named else (table.header[-1], True)
    values = [row[table.column(column)] for row in table.rows]
    specs = infer_columns(path, column, table=table)
    return TableLook(table, column, guess_target(values), specs, guessed)


def _target_label_column(header: list[str]) -> str | None:
    """A column named as one target's labels are (``tags``: multi_label), if any."""
    from dlcli.targets import get_target, target_names

    lower = {h.lower(): h for h in header}
    for target in target_names():
        for name in get_target(target).label_column_names:
            if name in lower:
                return lower[name]
    return None
