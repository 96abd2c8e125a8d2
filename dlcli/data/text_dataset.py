"""Text documents as training splits, predict batches and labelled evaluation data.

Training reads every document into memory (text is small: the shipped corpus is 1 MB);
predict streams (:func:`document_batches` holds one batch). Splits are
:class:`~dlcli.data.bundle.ArraySplit` of Python strings (object arrays), which ``tf.data``
turns into string tensors for the model's ``TextVectorization`` layer.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.data.bundle import ArraySplit, DataBundle, DataNote, stratified_split
from dlcli.data.decode import DecodedBatch
from dlcli.data.listing import SkippedFile
from dlcli.data.text_read import (
    STDIN,
    Document,
    Item,
    TextOptions,
    Unreadable,
    is_table,
    read_class_folders,
    read_stdin,
    read_table,
    read_text_file,
)
from dlcli.errors import DataError


def read_items(path: Path, options: TextOptions) -> Iterator[Item]:
    """Every document (or reason) of a class-folder tree or a table."""
    if path.is_dir():
        _, items = read_class_folders(path, options)
        yield from items
    elif is_table(path):
        yield from read_table(str(path), options)
    elif not path.exists():
        raise DataError("not found", file=path, expected="a folder of class folders or a table")
    else:
        raise DataError(
            "not a text data source",
            file=path,
            expected="a folder of class folders of .txt files, or a .csv/.jsonl table",
        )


def read_labelled(
    path: Path, options: TextOptions
) -> tuple[list[str], list[str], list[SkippedFile]]:
    """Texts, their labels (class folder names or label column) and what was skipped
    (evaluate and export read on past a bad file, listing it with its reason)."""
    texts: list[str] = []
    labels: list[str] = []
    skipped: list[SkippedFile] = []
    for item in read_items(path, options):
        if isinstance(item, Unreadable):
            skipped.append(SkippedFile(item.source, item.reason))
            continue
        if options.label_column is not None and not item.label:
            skipped.append(SkippedFile(item.source, "no label"))
            continue
        texts.append(item.text)
        labels.append(item.label or "")
    return texts, labels, skipped


def _split(
    texts: list[str], labels: list[str], sources: list[str], index: dict[str, int]
) -> ArraySplit:
    return ArraySplit(
        y=np.asarray([index[v] for v in labels], dtype=np.int64),
        sources=sources,
        x=np.asarray(texts, dtype=object),
    )


def _read_split(
    path: Path, options: TextOptions, what: str
) -> tuple[list[str], list[str], list[str], list[SkippedFile]]:
    texts: list[str] = []
    labels: list[str] = []
    sources: list[str] = []
    skipped: list[SkippedFile] = []
    for item in read_items(path, options):
        if isinstance(item, Unreadable):
            if item.bad_bytes and options.errors == "strict":
                raise DataError(
                    item.reason,
                    file=item.source,
                    field="data.errors",
                    expected="UTF-8 text",
                    hint="fix the file, or set data.errors: replace to read invalid bytes as "
                    "U+FFFD",
                )
            skipped.append(SkippedFile(item.source, item.reason))
        elif not item.label:
            skipped.append(SkippedFile(item.source, "no label (empty label cell)"))
        else:
            texts.append(item.text)
            labels.append(item.label)
            sources.append(item.source)
    if not texts:
        raise DataError(
            f"no {what} documents",
            file=path,
            expected="class folders of .txt files, or a table with text and label columns",
            received=f"{len(skipped)} skipped" if skipped else "nothing",
        )
    return texts, labels, sources, skipped


def load_text_bundle(section: Any, prep: Any, *, seed: int) -> DataBundle:
    options = TextOptions(
        text_column=section.text,
        label_column=section.label,
        errors=section.errors,
        max_length=section.max_length,
    )
    train_path = Path(section.train)
    texts, labels, sources, skipped = _read_split(train_path, options, "training")
    class_names = sorted(set(labels))
    index = {c: i for i, c in enumerate(class_names)}
    train = _split(texts, labels, sources, index)
    validation = None
    if section.validation is not None:
        val_path = Path(section.validation)
        vt, vl, vs, vskipped = _read_split(val_path, options, "validation")
        unknown = sorted(set(vl) - set(class_names))
        if unknown:
            raise DataError(
                f"validation classes not in the training data: {unknown}",
                file=val_path,
                expected=f"classes of {train_path}: {class_names}",
            )
        validation = _split(vt, vl, vs, index)
        skipped += vskipped
    elif section.validation_split:
        tr, va = stratified_split(train.y, float(section.validation_split), seed)
        train, validation = train.subset(tr), train.subset(va)
    notes = []
    if section.max_length is not None:
        cut = sum(1 for t in texts if len(t.split()) >= section.max_length)
        if cut:
            notes.append(
                DataNote(f"{cut:,} document(s) cut to data.max_length={section.max_length} words")
            )
    return DataBundle(
        class_names=class_names,
        input_shape=(),
        train=train,
        validation=validation,
        preprocessing=prep,
        skipped=skipped,
        seed=seed,
        shuffle=bool(section.shuffle),
        augment=list(section.augment or []),
        batch_size=int(section.batch_size),
        notes=notes,
    )


def _items_for(path: str, options: TextOptions) -> Iterator[Item]:
    if path == STDIN:
        yield from read_stdin(options)
    elif is_table(path):
        yield from read_table(path, options)
    else:
        yield read_text_file(path, None, options)


def document_batches(
    paths: Iterable[str | os.PathLike[str]], options: TextOptions, batch_size: int
) -> Iterator[DecodedBatch]:
    """Documents of ``paths`` (``.txt`` files, tables, ``-``) in batches of raw strings, in
    order; what cannot be read comes back in ``errors``. Holds one batch at a time."""
    texts: list[str] = []
    sources: list[str] = []
    errors: list[SkippedFile] = []
    for path in paths:
        for item in _items_for(os.fspath(path), options):
            if isinstance(item, Document):
                texts.append(item.text)
                sources.append(item.source)
            else:
                errors.append(SkippedFile(item.source, item.reason))
            if len(texts) == batch_size:
                yield DecodedBatch(
                    images=np.asarray(texts, dtype=object), paths=sources, errors=errors
                )
                texts, sources, errors = [], [], []
    if texts or errors:
        yield DecodedBatch(images=np.asarray(texts, dtype=object), paths=sources, errors=errors)
