"""Prediction rows as CSV or JSON Lines, written row by row as batches arrive.

CSV columns: ``path,label,confidence,top_k`` where ``top_k`` is one cell
``label:probability;label:probability;...`` sorted by probability, highest first (split a
pair on its *last* colon: a label may itself contain one). JSON Lines: one object per file,
``{"path", "label", "confidence", "top_k": [{"label", "probability"}, ...]}``.
Probabilities are written with 6 decimals.

Skipped files go to a separate ``--errors`` file (``path,reason`` CSV, or JSON Lines
``{"path", "reason"}`` for ``.jsonl``), never mixed into the predictions.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Protocol

from dlcli.data.decode import SkippedFile
from dlcli.errors import UsageError
from dlcli.prediction.engine import Prediction

CSV_HEADER = ("path", "label", "confidence", "top_k")
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def format_for(path: Path, *, option: str = "--out") -> str:
    """``csv`` or ``jsonl`` from the file extension; a usage error for anything else."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(
            f"cannot tell the output format from the file name {path.name!r}",
            field=option,
            expected="a name ending in .csv or .jsonl",
            received=str(path),
        )
    return fmt


def _prob(p: float) -> str:
    return f"{p:.6f}"


class PredictionWriter(Protocol):
    def write(self, predictions: Iterable[Prediction]) -> None: ...


class CsvPredictionWriter:
    """``path,label,confidence,top_k``; header written at construction."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._csv = csv.writer(stream, lineterminator="\n")
        self._csv.writerow(CSV_HEADER)

    def write(self, predictions: Iterable[Prediction]) -> None:
        for p in predictions:
            top = ";".join(f"{label}:{_prob(prob)}" for label, prob in p.top_k)
            self._csv.writerow((p.path, p.label, _prob(p.confidence), top))
        self._stream.flush()


class JsonlPredictionWriter:
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, predictions: Iterable[Prediction]) -> None:
        for p in predictions:
            row = {
                "path": p.path,
                "label": p.label,
                "confidence": round(p.confidence, 6),
                "top_k": [{"label": lab, "probability": round(pr, 6)} for lab, pr in p.top_k],
            }
            self._stream.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._stream.flush()


def make_writer(fmt: str, stream: IO[str]) -> PredictionWriter:
    return CsvPredictionWriter(stream) if fmt == "csv" else JsonlPredictionWriter(stream)


def skipped_text(skipped: Iterable[SkippedFile], fmt: str) -> str:
    """The ``--errors`` file's content."""
    if fmt == "jsonl":
        return "".join(
            json.dumps({"path": s.path, "reason": s.reason}, ensure_ascii=False) + "\n"
            for s in skipped
        )
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("path", "reason"))
    for s in skipped:
        writer.writerow((s.path, s.reason))
    return buf.getvalue()
