"""``predict`` for multi-label and regression models: one row per example, streamed.

Columns come from the target (:meth:`dlcli.targets.base.Target.prediction_columns`):
``path,tags,scores,model`` for multi-label (``tags``: the tags at or above the run's
threshold joined by its separator; ``scores``: ``tag:probability;...`` highest first) and
``path,<target columns>,model`` for regression (values in the data's units, the training
standardisation undone). JSON Lines rows hold the same as JSON values.
"""

from __future__ import annotations

import contextlib
import csv
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from dlcli.data.listing import SkippedFile
from dlcli.prediction.writers import JSON_LINES, json_line
from dlcli.targets import target_of


@dataclass
class RowBatch:
    rows: list[dict[str, Any]]  # each with "path" and the target's cells
    errors: list[SkippedFile] = field(default_factory=list)


def iter_target_rows(
    loaded: Any, paths: Iterable[str | os.PathLike[str]], *, batch_size: int, workers: int | None
) -> Iterator[RowBatch]:
    record = loaded.target
    target = target_of(record)
    for batch in loaded.kind.iter_inputs(
        loaded.preprocessing,
        paths,
        batch_size=batch_size,
        workers=workers,
        source=getattr(loaded, "source", None),
    ):
        if not batch.paths:
            yield RowBatch([], list(batch.errors))
            continue
        outputs = np.asarray(loaded.predict_batch(batch.images))[: len(batch.paths)]
        cells = target.prediction_rows(record, outputs)
        rows = [{"path": p, **c} for p, c in zip(batch.paths, cells, strict=True)]
        yield RowBatch(rows, list(batch.errors))


class TargetRowWriter:
    """CSV (``path,<columns>,model``) or JSON Lines rows, written as batches arrive."""

    def __init__(self, stream: IO[str], fmt: str, columns: list[str], model: str) -> None:
        self.stream, self.fmt, self.columns, self.model = stream, fmt, columns, model
        self.csv = csv.writer(stream, lineterminator="\n")
        if fmt != JSON_LINES:
            self.csv.writerow(["path", *columns, "model"])

    def write(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            if self.fmt == JSON_LINES:
                self.stream.write(
                    json_line({"path": row["path"], **row["json"], "model": self.model})
                )
            else:
                self.csv.writerow([row["path"], *(row[c] for c in self.columns), self.model])
        self.stream.flush()


def stream_target_rows(
    loaded: Any,
    paths: list[str],
    skipped: list[SkippedFile],
    *,
    out: Path | None,
    fmt: str,
    batch_size: int,
    workers: int | None,
) -> tuple[int, list[SkippedFile]]:
    """Write every row to ``out`` (atomically) or stdout; (rows written, skipped files)."""
    from dlcli import atomic
    from dlcli.prediction.writers import ENCODING, ENCODING_ERRORS

    columns = target_of(loaded.target).prediction_columns(loaded.target)
    count = 0
    with contextlib.ExitStack() as stack:
        if out is not None:
            tmp = stack.enter_context(atomic.atomic_path(out))
            stream = stack.enter_context(
                open(tmp, "w", encoding=ENCODING, errors=ENCODING_ERRORS, newline="")
            )
        else:
            stream = sys.stdout
        writer = TargetRowWriter(stream, fmt, columns, str(loaded.source))
        for batch in iter_target_rows(loaded, paths, batch_size=batch_size, workers=workers):
            skipped.extend(batch.errors)
            writer.write(batch.rows)
            count += len(batch.rows)
    return count, skipped
