"""The ``table`` kind's training data: a table's columns settled, encoded and split.

Columns come from ``data.columns`` or are guessed from the values
(:func:`~dlcli.data.table_columns.infer_columns`); a category's vocabulary, an image
column's size and colour mode and an audio column's rate and length are fixed here from
the training table and recorded in the run's ``labels.json``, so predict reads new rows
exactly as training did.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from dlcli.data.audio_read import AudioFormat
from dlcli.data.bundle import DataBundle, DataNote, stratified_split
from dlcli.data.cache import plan_cache
from dlcli.data.kinds.table_kind import TablePreprocessing
from dlcli.data.streaming import PixelBank, SkipLog
from dlcli.data.table_columns import (
    MISSING,
    ColumnOptions,
    ColumnSpec,
    TableColumn,
    chosen_columns,
    find_label,
)
from dlcli.data.table_encode import EncodedRows, Group, encode_rows, make_groups
from dlcli.data.table_read import Table, read_table
from dlcli.data.table_stream import TableRows, TableSplit
from dlcli.errors import DataError

SIZE_SAMPLE = 200  # image headers read to choose an image column's size


def class_order(values: set[str]) -> list[str]:
    """Integers sort numerically (2 before 10); anything else sorts as text."""
    try:
        return sorted(values, key=int)
    except ValueError:
        return sorted(values)


def _options(section: Any, name: str) -> ColumnOptions | None:
    value = (section.columns or {}).get(name)
    return value if isinstance(value, ColumnOptions) else None


def settle_column(
    section: Any, spec: ColumnSpec, table: Table, notes: list[DataNote]
) -> TableColumn:
    """A column with what training fixes: vocabulary, image size, audio length."""
    opts = _options(section, spec.name)
    j = table.column(spec.name)
    if spec.type == "category":
        values = {row[j].strip() for row in table.rows} - {""}
        values = {v for v in values if v.lower() not in MISSING}
        return TableColumn(
            name=spec.name, type="category", encode=spec.encode, vocabulary=class_order(values)
        )
    if spec.type == "image":
        size = (opts and opts.image_size) or section.image_size
        mode = (opts and opts.color_mode) or section.color_mode
        if size is None:
            size = _infer_size(table, j, spec.name, notes)
        return TableColumn(name=spec.name, type="image", image_size=tuple(size), color_mode=mode)
    if spec.type == "audio":
        rate = (opts and opts.sample_rate) or section.sample_rate
        duration = (opts and opts.duration) or section.duration
        return TableColumn(
            name=spec.name,
            type="audio",
            sample_rate=rate,
            samples=max(1, round(rate * duration)),
        )
    return TableColumn(name=spec.name, type=spec.type)  # type: ignore[arg-type]


def _infer_size(table: Table, j: int, name: str, notes: list[DataNote]) -> tuple[int, int]:
    """The most common size among (up to ``SIZE_SAMPLE``) images of the column."""
    from dlcli.data.decode import peek_size

    step = max(1, len(table.rows) // SIZE_SAMPLE)
    paths = [table.path.parent / row[j].strip() for row in table.rows[::step] if row[j].strip()]
    sizes = [s for s in (peek_size(str(p)) for p in paths[:SIZE_SAMPLE]) if s is not None]
    if not sizes:
        raise DataError(
            f"no readable image in column {name!r} to take image_size from",
            file=table.path,
            field="data.image_size",
            hint="set data.image_size: [H, W], and check the paths (relative to the table)",
        )
    (size, count), *_ = Counter(sizes).most_common(1)
    notes.append(
        DataNote(
            f"image column {name!r}: image_size not set, using {size[0]}x{size[1]} (height x "
            f"width), the size of {count} of {len(sizes)} sampled images; set "
            "data.image_size: [H, W] to choose"
        )
    )
    return size


def load_table_bundle(
    section: Any, *, seed: int, strict: bool, inputs: dict[str, list[str]] | None
) -> DataBundle:
    table = read_table(section.train)
    label = find_label(table.header, section.label, table.path)
    specs, guessed = chosen_columns(section, table, label)
    notes = [DataNote(text) for text in guessed]
    columns = [settle_column(section, spec, table, notes) for spec in specs]
    if not columns:
        raise DataError(
            "no feature columns", file=table.path, line=1, expected="a column besides the label"
        )
    groups = make_groups(columns, inputs, table.path)
    if section.augment and (len(groups) > 1 or groups[0].feed != "image"):
        raise DataError(
            "data.augment applies to a model with one image input",
            field="data.augment",
            hint="put the Random* layers inside the model, after its image input "
            "(they are active in training only)",
        )
    train = encode_rows(table, groups, label, strict_files=strict)
    if not len(train):
        raise DataError("no usable training rows", file=table.path, received=train.skipped[:3])
    class_names = class_order(set(train.labels))
    val = None
    if section.validation is not None:
        val = encode_rows(read_table(section.validation), groups, label, strict_files=strict)
        unknown = sorted(set(val.labels) - set(class_names))
        if unknown:
            raise DataError(
                f"validation labels not seen in training: {unknown}",
                file=section.validation,
                field=f"data.label ({label})",
                expected=f"labels of {section.train}: {class_names}",
            )
    rows, notes2 = _table_rows(section, groups, [train] + ([val] if val else []))
    notes += notes2
    index = {c: i for i, c in enumerate(class_names)}
    y = np.asarray([index[v] for v in train.labels], dtype=np.int64)
    train_split = TableSplit(rows, np.arange(len(train)), y)
    val_split = None
    if val is not None:
        vy = np.asarray([index[v] for v in val.labels], dtype=np.int64)
        val_split = TableSplit(rows, np.arange(len(train), len(train) + len(val)), vy)
    elif section.validation_split:
        tr, va = stratified_split(train_split.y, float(section.validation_split), seed)
        train_split, val_split = train_split.subset(tr), train_split.subset(va)
    skipped = rows.skipped
    for s in train.skipped + (val.skipped if val else []):
        skipped.add(s)
    shapes = {g.name: g.shape() for g in groups}
    return DataBundle(
        class_names=class_names,
        input_shape=shapes if inputs is not None else groups[0].shape(),  # type: ignore[arg-type]
        train=train_split,
        validation=val_split,
        preprocessing=TablePreprocessing(columns=columns, label_column=label, inputs=inputs),
        skipped=skipped,
        seed=seed,
        shuffle=bool(section.shuffle),
        augment=list(section.augment or []),
        batch_size=int(section.batch_size),
        notes=notes,
    )


def _table_rows(
    section: Any, groups: list[Group], parts: list[EncodedRows]
) -> tuple[TableRows, list[DataNote]]:
    """Every split's rows together; image columns get a pixel bank each (one cache plan)."""
    arrays = {g.name: np.concatenate([p.arrays[g.name] for p in parts]) for g in groups}
    sources = [s for p in parts for s in p.sources]
    skipped = SkipLog()
    banks: dict[str, PixelBank] = {}
    audio: dict[str, AudioFormat] = {}
    notes: list[DataNote] = []
    for g in groups:
        col = g.columns[0]
        if g.feed == "image":
            shape = g.shape()
            plan = plan_cache(
                section.cache, len(sources), int(np.prod(shape)), section.cache_budget
            )
            notes.append(DataNote(f"column {col.name!r}: {plan.describe()}", plan.over_budget))
            store = plan.store(len(sources), shape)
            assert col.image_size is not None and col.color_mode is not None
            paths = [str(p) for p in arrays[g.name]]
            banks[g.name] = PixelBank(paths, col.image_size, col.color_mode, store, skipped)
        elif g.feed == "audio":
            assert col.sample_rate is not None and col.samples is not None
            audio[g.name] = AudioFormat(col.sample_rate, col.samples)
    return TableRows(groups, arrays, banks, audio, sources, skipped), notes


def section_groups(section: Any, inputs: dict[str, list[str]] | None) -> list[Group]:
    """The model inputs a recipe's table section makes (reads the training table)."""
    table = read_table(section.train)
    label = find_label(table.header, section.label, table.path)
    specs, _ = chosen_columns(section, table, label)
    columns = [settle_column(section, spec, table, []) for spec in specs]
    return make_groups(columns, inputs, table.path)


def groups_of(prep: TablePreprocessing) -> list[Group]:
    """A run's model inputs, from its labels.json record."""
    return make_groups(prep.columns, prep.inputs, None)
