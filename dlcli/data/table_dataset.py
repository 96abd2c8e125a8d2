"""The ``table`` kind's training data: a table's columns settled, encoded and split.

Columns come from ``data.columns`` or are guessed from the values
(:func:`~dlcli.data.table_columns.infer_columns`); a category's vocabulary, an image
column's size and colour mode and an audio column's rate and length are fixed here from
the training table and recorded in the run's ``labels.json``, so predict reads new rows
exactly as training did.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from dlcli.data.audio_read import AudioFormat
from dlcli.data.bundle import DataBundle, DataNote
from dlcli.data.cache import plan_cache
from dlcli.data.kinds.table_kind import TableData, TablePreprocessing
from dlcli.data.streaming import PixelBank, SkipLog
from dlcli.data.table_columns import (
    MISSING,
    ColumnOptions,
    ColumnSpec,
    TableColumn,
    chosen_columns,
    find_labels,
)
from dlcli.data.table_encode import EncodedRows, Group, encode_rows, make_groups
from dlcli.data.table_read import Table, read_table
from dlcli.data.table_stream import TableRows, TableSplit, clip_caches
from dlcli.errors import DataError
from dlcli.targets import TargetColumns, TargetRecord

SIZE_SAMPLE = 200  # image headers read to choose an image column's size


def class_order(values: set[str]) -> list[str]:
    """Integers sort numerically (2 before 10); anything else sorts as text."""
    try:
        return sorted(values, key=int)
    except ValueError:
        return sorted(values)


def _options(section: TableData, name: str) -> ColumnOptions | None:
    value = (section.columns or {}).get(name)
    return value if isinstance(value, ColumnOptions) else None


def settle_column(
    section: TableData, spec: ColumnSpec, table: Table, notes: list[DataNote]
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


def _labels(section: TableData, table: Table, rows: list[int], labels: list[str]) -> TargetColumns:
    """The label cells of the kept ``rows`` of ``table``, for the target to read."""
    return TargetColumns.from_rows(
        table.path,
        table.header,
        [table.rows[i] for i in rows],
        [table.numbers[i] for i in rows],
        labels,
    )


def _check_augment(section: TableData, groups: list[Group]) -> None:
    if section.augment and (len(groups) > 1 or groups[0].feed != "image"):
        raise DataError(
            "data.augment applies to a model with one image input",
            field="data.augment",
            hint="put the Random* layers inside the model, after its image input "
            "(they are active in training only)",
        )


def load_table_bundle(
    section: TableData, *, seed: int, strict: bool, inputs: dict[str, list[str]] | None
) -> DataBundle:
    from dlcli.targets import target_of
    from dlcli.targets.reading import fit_target, read_weights

    table = read_table(section.train)
    labels = find_labels(table.header, section.label, table.path, section.target)
    specs, guessed = chosen_columns(section, table)
    notes = [DataNote(text) for text in guessed]
    columns = [settle_column(section, spec, table, notes) for spec in specs]
    if not columns:
        raise DataError(
            "no feature columns", file=table.path, line=1, expected="a column besides the label"
        )
    groups = make_groups(columns, inputs, table.path)
    _check_augment(section, groups)
    train = encode_rows(table, groups, None, strict_files=strict)
    if not len(train):
        raise DataError("no usable training rows", file=table.path, received=train.skipped[:3])
    split = section.validation_split
    fitted = fit_target(
        section.target,
        _labels(section, table, train.rows, labels),
        table.path,
        split=split,
        seed=seed,
    )
    weights = None
    if section.sample_weight:
        weights = read_weights(_labels(section, table, train.rows, [section.sample_weight]))
    val, vy = _validation_table(section, groups, labels, fitted.record, strict)
    rows, cache_notes = _table_rows(section, groups, [train] + ([val] if val else []))
    notes += cache_notes
    train_split = TableSplit(rows, np.arange(len(train)), fitted.y, weights)
    val_split = None
    if val is not None and vy is not None:
        val_split = TableSplit(rows, np.arange(len(train), len(train) + len(val)), vy)
    elif fitted.validation_rows is not None:
        val_split = train_split.subset(fitted.validation_rows).without_weights()
        train_split = train_split.subset(fitted.train_rows)
    skipped = rows.skipped
    for s in train.skipped + (val.skipped if val else []):
        skipped.add(s)
    shapes = {g.name: g.shape() for g in groups}
    return DataBundle(
        class_names=target_of(fitted.record).output_names(fitted.record),
        input_shape=shapes if inputs is not None else groups[0].shape(),  # type: ignore[arg-type]
        train=train_split,
        validation=val_split,
        preprocessing=TablePreprocessing(columns=columns, label_column=labels[0], inputs=inputs),
        skipped=skipped,
        seed=seed,
        shuffle=bool(section.shuffle),
        augment=list(section.augment or []),
        batch_size=int(section.batch_size),
        notes=notes,
        target=fitted.record,
    )


def _validation_table(
    section: TableData,
    groups: list[Group],
    labels: list[str],
    record: TargetRecord,
    strict: bool,
) -> tuple[EncodedRows | None, np.ndarray | None]:
    """``data.validation``'s rows and targets, read with the training columns and target."""
    from dlcli.targets.reading import encode_target

    if section.validation is None:
        return None, None
    vtable = read_table(section.validation)
    find_labels(vtable.header, labels, vtable.path, section.target)
    val = encode_rows(vtable, groups, None, strict_files=strict)
    vcolumns = _labels(section, vtable, val.rows, labels)
    return val, encode_target(record, section.target, vcolumns, vtable.path)


def _table_rows(
    section: TableData, groups: list[Group], parts: list[EncodedRows]
) -> tuple[TableRows, list[DataNote]]:
    """Every split's rows together; image columns get a pixel bank each (one cache plan),
    audio columns a waveform cache each."""
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
    caches, clip_notes = clip_caches(section.cache, section.cache_budget, groups, audio, arrays)
    rows = TableRows(groups, arrays, banks, audio, sources, skipped, caches)
    return rows, notes + clip_notes


def section_groups(section: TableData, inputs: dict[str, list[str]] | None) -> list[Group]:
    """The model inputs a recipe's table section makes (reads the training table)."""
    table = read_table(section.train)
    specs, _ = chosen_columns(section, table)
    columns = [settle_column(section, spec, table, []) for spec in specs]
    return make_groups(columns, inputs, table.path)


def groups_of(prep: TablePreprocessing) -> list[Group]:
    """A run's model inputs, from its labels.json record."""
    return make_groups(prep.columns, prep.inputs, None)
