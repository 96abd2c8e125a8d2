"""Where the data is: a table, a folder of class folders, or ``train``/``test`` parts of
either (``data/digits/{train,test}/<class>/``, ``data/fortunes/{train,test}.csv``)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from dlcli.data.table_read import TABLE_SUFFIXES
from dlcli.errors import DataError
from dlcli.starter.base import Source

TRAIN_NAMES = ("train", "training")
VALIDATION_NAMES = ("validation", "valid", "val", "dev", "test")
COUNT_LIMIT = 20_000  # files looked at to tell what a folder holds


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _split_table(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        for suffix in TABLE_SUFFIXES:
            path = folder / f"{name}{suffix}"
            if path.is_file():
                return path
    return None


def _split_folder(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        path = folder / name
        if path.is_dir():
            return path
    return None


def _sibling_table(table: Path) -> Path | None:
    """``test.csv`` beside ``train.csv``: the validation part of a split table."""
    if table.stem.lower() not in TRAIN_NAMES:
        return None
    for name in VALIDATION_NAMES:
        path = table.with_name(f"{name}{table.suffix}")
        if path.is_file():
            return path
    return None


def find_source(data: Path, recipe_dir: Path, label: str | None) -> Source:
    """The training part of ``data``, its validation part if it has one, and how they
    were found. A missing path or an unusable file is a ``DataError``."""
    data = Path(data)
    if not data.exists():
        raise DataError(
            "data not found",
            file=data,
            expected="a folder of class folders, or a table (" + " ".join(TABLE_SUFFIXES) + ")",
        )
    if data.is_file():
        if data.suffix.lower() not in TABLE_SUFFIXES:
            raise DataError(
                "not a table",
                file=data,
                expected="a table (" + " ".join(TABLE_SUFFIXES) + ") or a folder",
                received=data.suffix or "(no extension)",
            )
        sibling = _sibling_table(data)
        how = f"the table given, with {sibling.name} beside it as validation" if sibling else ""
        return Source(data, data, sibling, how or "the table given", recipe_dir, label)
    train_dir = _split_folder(data, TRAIN_NAMES)
    if train_dir is not None:
        val_dir = _split_folder(data, VALIDATION_NAMES)
        how = f"{train_dir.name}/ for training" + (
            f", {val_dir.name}/ for validation" if val_dir else ""
        )
        return Source(data, train_dir, val_dir, how, recipe_dir, label)
    table = _split_table(data, TRAIN_NAMES)
    if table is not None:
        val = _split_table(data, VALIDATION_NAMES)
        how = f"{table.name} for training" + (f", {val.name} for validation" if val else "")
        return Source(data, table, val, how, recipe_dir, label)
    return Source(
        data, data, None, "one folder (a validation split is held out)", recipe_dir, label
    )


def class_dirs(root: Path) -> list[Path]:
    """The visible sub-folders of ``root``, sorted by name."""
    if not root.is_dir():
        return []
    return sorted(Path(e.path) for e in os.scandir(root) if e.is_dir() and not _hidden(e.name))


def extension_counts(root: Path, limit: int = COUNT_LIMIT) -> Counter[str]:
    """File extensions (lower case) under ``root``'s class folders, up to ``limit`` files."""
    counts: Counter[str] = Counter()
    seen = 0
    for folder in class_dirs(root):
        for _dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not _hidden(d))
            for name in filenames:
                if _hidden(name):
                    continue
                counts[Path(name).suffix.lower()] += 1
                seen += 1
                if seen >= limit:
                    return counts
    return counts
