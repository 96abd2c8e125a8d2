"""Table rows -> model inputs: number cells parsed, categories encoded with their
vocabulary, text kept as strings, file paths resolved against the table's folder.

Every cell problem names ``file:row:column`` (CSV rows by line, Parquet rows by position).
In training (``lenient=False``) a bad cell is an error (exit 2), as in the ``csv`` kind; in
``predict`` and ``evaluate`` that row is passed over with its reason instead. A path to a
file that does not exist skips its row with the reason, unless most rows' files are
missing: then the paths are wrong as a whole (another base folder?) and that is an error.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlcli.data.listing import SkippedFile
from dlcli.data.table_columns import MISSING, Feed, TableColumn, group_feed
from dlcli.data.table_read import Table
from dlcli.errors import DataError, Problem

MAX_PROBLEMS = 20
SINGLE = "input"  # the one group's name when the model has a single input


@dataclass(frozen=True)
class Group:
    """One model input: its name and the columns that feed it."""

    name: str
    columns: tuple[TableColumn, ...]
    feed: Feed

    def shape(self) -> tuple[int, ...]:
        if self.feed == "vector":
            return (sum(c.width for c in self.columns),)
        return self.columns[0].shape()

    @property
    def dtype(self) -> str:
        return "string" if self.feed == "text" else "float32"


def make_groups(
    columns: Sequence[TableColumn], inputs: dict[str, list[str]] | None, where: Path | None
) -> list[Group]:
    """The model inputs: ``inputs`` (name -> columns), else one group of every column."""
    by_name = {c.name: c for c in columns}
    if inputs is None:
        return [Group(SINGLE, tuple(columns), group_feed(SINGLE, columns, "data.columns"))]
    groups = []
    for name, names in inputs.items():
        field_path = f"model.inputs.{name}.columns"
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise DataError(
                f"input {name!r} names column(s) that are not feature columns: {unknown}",
                file=where,
                line=1 if where else None,
                field=field_path,
                expected=f"feature columns of the table: {list(by_name)}",
                hint="a column the table has but dlcli left out (an identifier?) can be "
                "declared in data.columns",
            )
        chosen = tuple(by_name[n] for n in names)
        groups.append(Group(name, chosen, group_feed(name, chosen, field_path)))
    return groups


@dataclass
class EncodedRows:
    """The usable rows of a table: per group a float32 matrix (vector), strings (text) or
    absolute file paths (image, audio); ``labels`` raw, when the table has them."""

    sources: list[str]
    labels: list[str]
    arrays: dict[str, np.ndarray]
    skipped: list[SkippedFile] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # each kept row's index in the table

    def __len__(self) -> int:
        return len(self.sources)


class _RowError(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


def _number(text: str, col: TableColumn, where: tuple[Path, int, int]) -> float:
    cell = text.strip()
    path, line, column = where
    if cell.lower() in MISSING:
        raise _RowError(
            Problem(
                f"missing value in number column {col.name!r}",
                file=path,
                line=line,
                column=column,
                expected="a number",
                hint="fill or drop missing values, or declare the column another type in "
                "data.columns",
            )
        )
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise _RowError(
            Problem(
                f"not a number in number column {col.name!r}",
                file=path,
                line=line,
                column=column,
                expected="a finite number",
                received=cell,
                has_received=True,
                hint="declare the column's type in data.columns if it is not a number",
            )
        )
    return value


def _vector(
    row: list[str], cols: tuple[TableColumn, ...], at: dict[str, int], table: Table, i: int
) -> list[float]:
    values: list[float] = []
    for col in cols:
        j = at[col.name]
        if col.type == "number":
            values.append(_number(row[j], col, (table.path, table.numbers[i], j + 1)))
            continue
        index = _lookup(col).get(row[j].strip(), -1)  # unknown or missing: -1
        if col.encode == "index":
            values.append(float(index + 1))  # 0 is the unknown value's index
        else:
            onehot = [0.0] * col.width
            if index >= 0:
                onehot[index] = 1.0
            values.extend(onehot)
    return values


_LOOKUPS: dict[tuple[str, ...], dict[str, int]] = {}


def _lookup(col: TableColumn) -> dict[str, int]:
    """A category's value -> position in its vocabulary (kept per vocabulary)."""
    key = tuple(col.vocabulary or ())
    found = _LOOKUPS.get(key)
    if found is None:
        found = _LOOKUPS[key] = {v: k for k, v in enumerate(key)}
    return found


def _file(row: list[str], col: TableColumn, j: int, table: Table, i: int) -> str:
    cell = row[j].strip()
    if not cell:
        raise _RowError(
            Problem(
                f"no file path in {col.type} column {col.name!r}",
                file=table.path,
                line=table.numbers[i],
                column=j + 1,
                expected=f"a path to an {col.type} file, relative to the table's folder",
            )
        )
    return os.path.normpath(table.path.parent / os.path.expanduser(cell))


def encode_rows(
    table: Table,
    groups: Sequence[Group],
    label: str | None,
    *,
    lenient: bool = False,
    strict_files: bool = False,
) -> EncodedRows:
    """Encode every row of ``table`` for ``groups``; see the module docstring for errors."""
    at = {name: j for j, name in enumerate(table.header)}
    needed = [c.name for g in groups for c in g.columns] + ([label] if label else [])
    absent = [n for n in dict.fromkeys(needed) if n not in at]
    if absent:
        raise DataError(
            f"column(s) missing from the table: {absent}",
            file=table.path,
            line=1,
            expected=f"the model's columns: {list(dict.fromkeys(needed))}",
            received=table.header,
        )
    out = EncodedRows([], [], {g.name: [] for g in groups})  # type: ignore[dict-item]
    problems: list[Problem] = []
    missing: list[Problem] = []
    files_seen = 0
    for i, row in enumerate(table.rows):
        try:
            values, lab = _encode_row(row, groups, label, at, table, i)
        except _RowError as exc:
            if lenient:
                out.skipped.append(SkippedFile(table.source(i), exc.problem.format()))
                continue
            problems.append(exc.problem)
            if len(problems) >= MAX_PROBLEMS:
                break
            continue
        gone = _missing_file(values, groups, table, i, at)
        files_seen += any(g.feed in ("image", "audio") for g in groups)
        if gone is not None:
            missing.append(gone)
            out.skipped.append(SkippedFile(table.source(i), gone.message))
            continue
        out.sources.append(table.source(i))
        out.rows.append(i)
        out.labels.append(lab)
        for g in groups:
            out.arrays[g.name].append(values[g.name])  # type: ignore[attr-defined]
    if problems:
        raise DataError(problems=problems)
    _check_missing(missing, files_seen, table, strict_files)
    out.arrays = {g.name: _as_array(out.arrays[g.name], g) for g in groups}  # type: ignore[arg-type]
    return out


def _encode_row(
    row: list[str],
    groups: Sequence[Group],
    label: str | None,
    at: dict[str, int],
    table: Table,
    i: int,
) -> tuple[dict[str, object], str]:
    lab = ""
    if label is not None:
        lab = row[at[label]].strip()
        if not lab:
            raise _RowError(
                Problem(
                    f"missing label in column {label!r}",
                    file=table.path,
                    line=table.numbers[i],
                    column=at[label] + 1,
                    expected="a class name or integer",
                )
            )
    values: dict[str, object] = {}
    for g in groups:
        if g.feed == "vector":
            values[g.name] = _vector(row, g.columns, at, table, i)
        elif g.feed == "text":
            col = g.columns[0]
            text = row[at[col.name]]
            if not text.strip():
                raise _RowError(
                    Problem(
                        f"empty text in column {col.name!r}",
                        file=table.path,
                        line=table.numbers[i],
                        column=at[col.name] + 1,
                        expected="some text",
                    )
                )
            values[g.name] = text
        else:
            values[g.name] = _file(row, g.columns[0], at[g.columns[0].name], table, i)
    return values, lab


def _missing_file(
    values: dict[str, object], groups: Sequence[Group], table: Table, i: int, at: dict[str, int]
) -> Problem | None:
    for g in groups:
        if g.feed in ("image", "audio") and not os.path.isfile(str(values[g.name])):
            col = g.columns[0]
            return Problem(
                f"column {col.name!r}: file not found: {values[g.name]}",
                file=table.path,
                line=table.numbers[i],
                column=at[col.name] + 1,
            )
    return None


def _check_missing(missing: list[Problem], files_seen: int, table: Table, strict: bool) -> None:
    """A few missing files are skipped rows; most of them missing is a wrong manifest."""
    if not missing:
        return
    if strict or 2 * len(missing) > files_seen:
        share = f"{len(missing):,} of {files_seen:,} rows name a file that does not exist"
        first = missing[0]
        raise DataError(
            f"{share} (first: {first.message})",
            file=first.file,
            line=first.line,
            column=first.column,
            expected=f"paths of existing files, relative to the table's folder {table.path.parent}",
            hint="--strict is on: every listed file must exist"
            if strict
            else "check the path column and where the files are",
        )


def _as_array(values: list[object], group: Group) -> np.ndarray:
    if group.feed == "vector":
        width = group.shape()[0]
        return np.asarray(values, dtype=np.float32).reshape(len(values), width)
    return np.asarray(values, dtype=object).reshape(len(values))
