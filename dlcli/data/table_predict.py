"""Rows of tables as model inputs for ``predict``, ``evaluate`` and the export parity check.

Every row is read with the run's columns (labels.json: vocabularies, image size, audio
length), exactly as training read it; file columns are decoded by the images and audio
kinds' decoders. A row that cannot be used (a bad cell, a missing or unreadable file) is
passed over with its reason, never stopping the others. Inputs are whole tables or single
rows named ``TABLE:ROW`` (the row numbers predictions and skipped lists show), so evaluate
streams its labelled rows through the same reader as predict.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.data.decode import DecodedBatch
from dlcli.data.kinds.base import (
    LabelledArrays,
    LabelledFiles,
    SampleInputs,
    class_index,
    recorded_data,
)
from dlcli.data.kinds.table_kind import TablePreprocessing
from dlcli.data.listing import SkippedFile
from dlcli.data.table_encode import EncodedRows, Group, encode_rows
from dlcli.data.table_read import Table, is_table, read_table
from dlcli.data.table_stream import pack
from dlcli.errors import DataError, UsageError
from dlcli.targets import TargetRecord

_ROW = re.compile(r"^(?P<path>.+):(?P<row>\d+)$")


def find_tables(sources: Iterable[str], recursive: bool) -> tuple[list[str], list[SkippedFile]]:
    """Tables, ``TABLE:ROW`` references and globs; other files are passed over."""
    found: list[str] = []
    skipped: list[SkippedFile] = []
    for src in sources:
        matches = sorted(glob.glob(src)) if glob.has_magic(src) else [src]
        if not matches:
            skipped.append(SkippedFile(src, "no file matches the pattern"))
        for match in matches:
            if _readable(match):
                found.append(match)
            elif not Path(match).exists():
                skipped.append(SkippedFile(match, "not found"))
            else:
                skipped.append(SkippedFile(match, "not a .csv or .parquet table", ignored=True))
    return found, skipped


def _readable(item: str) -> bool:
    """A table file, or ``TABLE:ROW`` of one."""
    ref = _ROW.match(item)
    if is_table(item) and Path(item).is_file():
        return True
    return bool(ref and is_table(ref["path"]) and Path(ref["path"]).is_file())


def _selections(paths: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[str, list[int] | None]]:
    """(table, row numbers or None for every row), consecutive references merged."""
    current: str | None = None
    rows: list[int] = []
    for item in map(os.fspath, paths):
        ref = _ROW.match(item)
        if ref and not (is_table(item) and Path(item).is_file()):
            if current is not None and current != ref["path"]:
                yield current, rows
                rows = []
            current = ref["path"]
            rows.append(int(ref["row"]))
            continue
        if current is not None:
            yield current, rows
            current, rows = None, []
        yield item, None
    if current is not None:
        yield current, rows


def _rows_of(table: Table, numbers: list[int] | None) -> tuple[Table, list[SkippedFile]]:
    if numbers is None:
        return table, []
    at = {n: i for i, n in enumerate(table.numbers)}
    chosen = [at[n] for n in numbers if n in at]
    missing = [SkippedFile(f"{table.path}:{n}", "no such row") for n in numbers if n not in at]
    picked = Table(
        table.path,
        table.header,
        [table.rows[i] for i in chosen],
        [table.numbers[i] for i in chosen],
    )
    return picked, missing


def groups_of(prep: TablePreprocessing) -> list[Group]:
    from dlcli.data.table_dataset import groups_of as groups

    return groups(prep)


def decode_files(
    encoded: EncodedRows, groups: list[Group], rows: np.ndarray
) -> tuple[Any, list[str], list[SkippedFile], np.ndarray]:
    """``x`` for ``rows`` of ``encoded`` (files decoded as float32), their sources, the
    rows whose files could not be read, and which of ``rows`` are in ``x`` (a mask)."""
    from dlcli.data.audio_read import AudioFormat, decode_audio
    from dlcli.data.decode import decode_image

    keep = np.ones(len(rows), dtype=bool)
    errors: list[SkippedFile] = []
    values: dict[str, Any] = {}
    for g in groups:
        column = encoded.arrays[g.name][rows]
        if g.feed in ("vector", "text"):
            values[g.name] = column
            continue
        col = g.columns[0]
        out = np.zeros((len(rows), *g.shape()), dtype=np.float32)
        for i, path in enumerate(column):
            if g.feed == "image":
                assert col.image_size is not None and col.color_mode is not None
                got = decode_image(str(path), col.image_size, col.color_mode)
            else:
                assert col.sample_rate is not None and col.samples is not None
                clip = decode_audio(str(path), AudioFormat(col.sample_rate, col.samples), "center")
                got = clip if isinstance(clip, SkippedFile) else clip.audio
            if isinstance(got, SkippedFile):
                if keep[i]:
                    source = encoded.sources[int(rows[i])]
                    errors.append(SkippedFile(source, f"column {col.name!r}: {got.reason}"))
                keep[i] = False
            else:
                out[i] = got
        values[g.name] = out
    values = {name: v[keep] for name, v in values.items()}
    sources = [encoded.sources[int(r)] for r in rows[keep]]
    return pack(values, groups), sources, errors, keep


def table_batches(
    prep: TablePreprocessing, paths: Iterable[str | os.PathLike[str]], batch_size: int
) -> Iterator[DecodedBatch]:
    """Batches of model inputs, in row order; rows that cannot be used in ``errors``."""
    groups = groups_of(prep)
    for path, numbers in _selections(paths):
        table, missing = _rows_of(read_table(path), numbers)
        encoded = encode_rows(table, groups, None, lenient=True)
        errors = missing + encoded.skipped
        for start in range(0, len(encoded), batch_size):
            rows = np.arange(start, min(start + batch_size, len(encoded)))
            x, sources, bad, _ = decode_files(encoded, groups, rows)
            yield DecodedBatch(images=x, paths=sources, errors=errors + bad)
            errors = []
        if errors:
            yield DecodedBatch(images=np.zeros((0,)), paths=[], errors=errors)


def labelled_rows(path: Path, prep: TablePreprocessing, class_names: list[str]) -> LabelledFiles:
    """``evaluate --data TABLE``: every usable row (as ``TABLE:ROW``) and its class."""
    if not path.is_file():
        raise DataError(
            "--data not found" if not path.exists() else "--data must be a table file",
            file=path,
            expected="a .csv or .parquet table with the model's columns and its label column",
        )
    table = read_table(path)
    encoded = encode_rows(table, groups_of(prep), prep.label_column, lenient=True)
    index = class_index(class_names, sorted(set(encoded.labels)), path)
    label_of = {s: index[v] for s, v in zip(encoded.sources, encoded.labels, strict=True)}
    return LabelledFiles(str(path), list(encoded.sources), label_of, list(encoded.skipped))


def labelled_target_rows(
    path: Path, prep: TablePreprocessing, record: TargetRecord
) -> LabelledArrays:
    """``evaluate --data TABLE`` for a multi-label or regression model: every usable row's
    ``y`` encoded by the run's target record, its files decoded one batch at a time (a row
    whose file cannot be read leaves its batch and is listed as skipped)."""
    from dlcli.targets import TargetColumns, target_of
    from dlcli.targets.reading import encode_target

    if not path.is_file():
        raise DataError("--data must be a table file", file=path, expected="a .csv or .parquet")
    table = read_table(path)
    labels = target_of(record).label_names(record, prep.label_column)
    groups = groups_of(prep)
    encoded = encode_rows(table, groups, None, lenient=True)
    absent = [n for n in labels if n not in table.header]
    if absent:
        raise DataError(
            f"label column(s) missing from the table: {absent}",
            file=path,
            line=1,
            expected=f"the model's target columns: {labels}",
        )
    rows = encoded.rows
    columns = TargetColumns.from_rows(
        path, table.header, [table.rows[i] for i in rows], [table.numbers[i] for i in rows], labels
    )
    y = encode_target(record, record, columns, path)
    skipped = list(encoded.skipped)

    def decode(batch: np.ndarray) -> tuple[Any, np.ndarray]:
        x, _, bad, keep = decode_files(encoded, groups, batch)
        skipped.extend(bad)
        return x, keep

    return LabelledArrays.streamed(str(path), y, decode, skipped)


def sample_rows(
    prep: TablePreprocessing,
    sample: Path | None,
    run_data: dict[str, Any] | None,
    limit: int,
    source: Path,
) -> SampleInputs:
    """Up to ``limit`` usable rows of ``--sample`` or the run's own table."""
    from dlcli.data.kinds.image_samples import spread

    path = sample or next((p for p in recorded_data(run_data) if p.is_file()), None)
    if path is None:
        raise UsageError(
            "no sample rows for the parity check",
            file=source,
            hint="pass --sample TABLE with the model's columns",
        )
    groups = groups_of(prep)
    encoded = encode_rows(read_table(path), groups, None, lenient=True)
    rows = np.asarray(spread(list(range(len(encoded))), limit), dtype=np.int64)
    x, sources, _, _ = decode_files(encoded, groups, rows)
    if not sources:
        raise DataError("no usable rows for the parity check", file=path)
    return SampleInputs(x, f"{len(sources)} row(s) from {path}")


def serving_description(prep: TablePreprocessing, shape: list[int | None]) -> dict[str, Any]:
    groups = groups_of(prep)
    parts = []
    for g in groups:
        names = ", ".join(f"{c.name} ({c.type})" for c in g.columns)
        parts.append(f"{g.name}: {names}")
    return {
        "shape": shape,
        "dtype": groups[0].dtype if len(groups) == 1 else {g.name: g.dtype for g in groups},
        "layout": "table",
        "value_range": None,
        "note": "feed each input as training built it from the table's columns: numbers "
        "as they are, categories one-hot (or index+1, 0 unknown) in the order of their "
        "vocabulary in columns, images as 0..255 pixels, audio as -1..1 samples; "
        + "; ".join(parts),
    }
