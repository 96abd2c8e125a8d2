"""From a table's raw label cells to ``y``: what a data kind calls, whatever its files.

``fit_target`` reads the training file's label columns, learns the target's record (class
names, tags, standardisation from the rows trained on) and splits off a
``validation_split``; ``encode_target`` reads another file's labels with that record.
``read_weights`` reads a ``sample_weight`` column. Every bad cell is a
:class:`~dlcli.errors.DataError` naming file:row:column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlcli.errors import DataError
from dlcli.targets import target_of
from dlcli.targets.base import TargetColumns, TargetRecord, TargetSpec, raise_problems


@dataclass
class FittedTarget:
    record: TargetRecord
    y: np.ndarray  # every row of the training file, encoded with ``record``
    train_rows: np.ndarray
    validation_rows: np.ndarray | None  # None without a validation_split


def fit_target(
    spec: TargetSpec, columns: TargetColumns, where: Path, *, split: float | None, seed: int
) -> FittedTarget:
    target = target_of(spec)
    parsed = target.parse(spec, columns)
    every = np.arange(len(columns))
    record = target.fit(spec, columns, parsed, every)
    y = target.encode(record, parsed, where)
    if not split:
        return FittedTarget(record, y, every, None)
    train_rows, val_rows = target.split_by(record, y, float(split), seed)
    record = target.fit(spec, columns, parsed, train_rows)  # statistics of the rows trained on
    return FittedTarget(record, target.encode(record, parsed, where), train_rows, val_rows)


def encode_target(
    record: TargetRecord, options: TargetSpec | TargetRecord, columns: TargetColumns, where: Path
) -> np.ndarray:
    """Another file's labels (validation, ``evaluate --data``) encoded with ``record``."""
    target = target_of(record)
    return target.encode(record, target.parse(options, columns), where)


def read_weights(columns: TargetColumns) -> np.ndarray:
    """A ``sample_weight`` column: finite numbers >= 0, not all 0."""
    problems = []
    weights = np.ones(len(columns), dtype=np.float32)
    for i, row in enumerate(columns.cells):
        try:
            value = float(row[0])
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            problems.append(
                columns.problem(
                    i,
                    0,
                    f"bad sample weight in column {columns.names[0]!r}",
                    expected="a finite number >= 0",
                    received=row[0],
                    has_received=True,
                )
            )
            continue
        weights[i] = value
    raise_problems(problems)
    if len(weights) and not weights.any():
        raise DataError(
            f"every sample weight in column {columns.names[0]!r} is 0",
            file=columns.rows[0][0],
            column=columns.positions[0],
            expected="some examples with a weight above 0",
        )
    return weights
