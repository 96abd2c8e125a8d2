"""Reading a table (CSV or Parquet) into text cells, each row with the number messages use.

Both formats come out the same: a header and rows of strings, so one set of column rules
(:mod:`dlcli.data.table_columns`) serves both and a Parquet file reads exactly as the CSV
with the same values. CSV rows are numbered by their line in the file (the header is line
1), as editors show them; Parquet rows by their position (the first data row is row 1).
Missing Parquet values become empty cells. No TensorFlow or NumPy here.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from dlcli.errors import DataError, Problem

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
TABLE_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES
MAX_PROBLEMS = 20


@dataclass
class Table:
    """``rows[i]`` is the row numbered ``numbers[i]`` (CSV line or Parquet row)."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    numbers: list[int]

    def source(self, i: int) -> str:
        """``file:N``: where row ``i`` is, for skipped-file lists and predictions."""
        return f"{self.path}:{self.numbers[i]}"

    def column(self, name: str) -> int:
        return self.header.index(name)


def is_table(path: str | Path) -> bool:
    return Path(path).suffix.lower() in TABLE_SUFFIXES


def _check_path(path: Path) -> None:
    if not path.exists():
        raise DataError("table not found", file=path, expected="a .csv or .parquet file")
    if path.is_dir():
        raise DataError("expected a table file, got a folder", file=path)
    if not is_table(path):
        raise DataError(
            "not a table file",
            file=path,
            expected=f"a file ending in {' or '.join(TABLE_SUFFIXES)}",
            received=path.name,
        )


def _check_header(path: Path, header: list[str]) -> list[str]:
    header = [h.strip() for h in header]
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise DataError(
            f"repeated column name(s) in the header: {repeated}",
            file=path,
            line=1,
            expected="one column per name",
        )
    if not header or not any(header):
        raise DataError("the table has no column names", file=path, line=1)
    return header


def read_header(path: str | Path) -> list[str]:
    """The column names only (a CSV's first line; a Parquet file's schema)."""
    path = Path(path)
    _check_path(path)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return _check_header(path, list(_parquet_file(path).schema_arrow.names))
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            row = next(csv.reader(fh), None)
    except OSError as exc:
        raise DataError(f"cannot read the table ({exc.strerror})", file=path) from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError("not a readable CSV file", file=path, hint=str(exc)) from None
    if row is None:
        raise DataError("the table is empty", file=path, expected="a header row")
    return _check_header(path, row)


def read_table(path: str | Path, *, limit: int | None = None) -> Table:
    """The whole table (or its first ``limit`` rows); blank CSV lines are left out."""
    path = Path(path)
    _check_path(path)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return _read_parquet(path, limit)
    return _read_csv(path, limit)


def _read_csv(path: Path, limit: int | None) -> Table:
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"cannot read the table ({exc.strerror})", file=path) from None
    problems: list[Problem] = []
    rows: list[list[str]] = []
    numbers: list[int] = []
    with fh:
        reader = csv.reader(fh)
        try:
            header = _check_header(path, next(reader))
        except StopIteration:
            raise DataError("the table is empty", file=path, expected="a header row") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataError(f"not a readable CSV file: {exc}", file=path, line=1) from None
        try:
            for row in reader:
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != len(header):
                    problems.append(
                        Problem(
                            f"row has {len(row)} cells",
                            file=path,
                            line=reader.line_num,
                            expected=f"{len(header)} cells like the header",
                        )
                    )
                    if len(problems) >= MAX_PROBLEMS:
                        break
                    continue
                rows.append(row)
                numbers.append(reader.line_num)
                if limit is not None and len(rows) >= limit:
                    break
        except csv.Error as exc:
            problems.append(Problem(f"malformed CSV: {exc}", file=path, line=reader.line_num))
        except UnicodeDecodeError:
            problems.append(Problem("not UTF-8 text", file=path, line=reader.line_num))
    if problems:
        raise DataError(problems=problems)
    return Table(path, header, rows, numbers)


def _parquet_file(path: Path) -> object:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for a bad file
        raise DataError(f"not a readable Parquet file ({exc})", file=path) from None


def _cell(value: object) -> str:
    """A Parquet value as the text a CSV would hold (floats round-trip through repr)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _read_parquet(path: Path, limit: int | None) -> Table:
    parquet = _parquet_file(path)
    try:
        data = parquet.read()  # type: ignore[attr-defined]
    except Exception as exc:
        raise DataError(f"cannot read the Parquet file ({exc})", file=path) from None
    header = _check_header(path, list(data.column_names))
    if limit is not None:
        data = data.slice(0, limit)
    columns = [[_cell(v) for v in data.column(i).to_pylist()] for i in range(len(header))]
    rows = [list(cells) for cells in zip(*columns, strict=True)] if columns else []
    return Table(path, header, rows, list(range(1, len(rows) + 1)))
