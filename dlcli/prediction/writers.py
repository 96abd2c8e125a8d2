"""Prediction rows as CSV or JSON Lines, written row by row as batches arrive.

CSV columns: ``path,label,confidence,top_k,model`` where ``top_k`` is one cell
``label:probability;label:probability;...`` sorted by probability, highest first (split a
pair on its *last* colon: a label may itself contain one), and ``model`` names the model
file that produced the row. JSON Lines: one object per file, ``{"path", "label",
"confidence", "top_k": [{"label", "probability"}, ...], "model"}``. Probabilities are
written with 6 decimals.

Skipped files go to a separate ``--errors`` file (``path,reason`` CSV, or JSON Lines
``{"path", "reason"}`` for ``.jsonl``), never mixed into the predictions.

File names are data, whatever they hold:

- CSV: ``QUOTE_MINIMAL`` quotes a field holding ``,``, ``"`` or ``\\n``; the ``csv`` module
  quotes a ``\\r`` only when the line terminator is ``\\r\\n``, so a row holding a ``\\r``
  is written with every field quoted (rows still end in ``\\n``). Any CSV reader opened
  with ``newline=""`` reads the exact name back.
- Names that are not valid UTF-8 (POSIX names are bytes) arrive as ``str`` with
  surrogate escapes (``os.fsdecode``). CSV files get the name's original bytes
  (``surrogateescape``), as ``ls`` would show them; JSON Lines rows holding such a name
  are written ASCII-only, with ``\\udcXX`` escapes, so the file stays valid UTF-8 JSON.
  In Python, ``os.fsencode(path)`` gives the bytes back in both cases.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, Protocol

from dlcli.data.decode import SkippedFile
from dlcli.errors import UsageError
from dlcli.prediction.engine import Prediction

CSV_HEADER = ("path", "label", "confidence", "top_k", "model")
# Row formats are named by their file suffix (``.csv`` rows, ``.jsonl`` lines); ``.ndjson``
# is another name for JSON Lines. Output without a file name (stdout) is CSV rows.
CSV_ROWS = ".csv"
JSON_LINES = ".jsonl"
FORMATS = {CSV_ROWS: CSV_ROWS, JSON_LINES: JSON_LINES, ".ndjson": JSON_LINES}
DEFAULT_FORMAT = CSV_ROWS
# How text files with file names in them are encoded: names that are not UTF-8 keep
# their bytes instead of crashing the whole run (see the module docstring).
ENCODING = "utf-8"
ENCODING_ERRORS = "surrogateescape"


def format_for(path: Path, *, option: str = "--out") -> str:
    """:data:`CSV_ROWS` or :data:`JSON_LINES` from the file extension; a usage error for
    anything else."""
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


def json_line(row: dict[str, Any]) -> str:
    """One JSON Lines row; ASCII-only (``\\udcXX`` escapes) when a name is not UTF-8."""
    text = json.dumps(row, ensure_ascii=False)
    try:
        text.encode(ENCODING)
    except UnicodeEncodeError:
        text = json.dumps(row, ensure_ascii=True)
    return text + "\n"


class CsvRowWriter:
    """``csv.writer`` rows ending in ``\\n`` whose fields may hold ``\\r`` and ``\\n``."""

    def __init__(self, stream: IO[str]) -> None:
        self._minimal = csv.writer(stream, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        self._all = csv.writer(stream, quoting=csv.QUOTE_ALL, lineterminator="\n")

    def writerow(self, row: Iterable[str]) -> None:
        cells = list(row)
        writer = self._all if any("\r" in c for c in cells) else self._minimal
        writer.writerow(cells)


class PredictionWriter(Protocol):
    def write(self, predictions: Iterable[Prediction]) -> None: ...


class CsvPredictionWriter:
    """``path,label,confidence,top_k,model``; header written at construction."""

    def __init__(self, stream: IO[str], *, model: str = "") -> None:
        self._stream = stream
        self._model = model
        self._csv = CsvRowWriter(stream)
        self._csv.writerow(CSV_HEADER)

    def write(self, predictions: Iterable[Prediction]) -> None:
        for p in predictions:
            top = ";".join(f"{label}:{_prob(prob)}" for label, prob in p.top_k)
            self._csv.writerow((p.path, p.label, _prob(p.confidence), top, self._model))
        self._stream.flush()


class JsonlPredictionWriter:
    def __init__(self, stream: IO[str], *, model: str = "") -> None:
        self._stream = stream
        self._model = model

    def write(self, predictions: Iterable[Prediction]) -> None:
        for p in predictions:
            row = {
                "path": p.path,
                "label": p.label,
                "confidence": round(p.confidence, 6),
                "top_k": [{"label": lab, "probability": round(pr, 6)} for lab, pr in p.top_k],
                "model": self._model,
            }
            self._stream.write(json_line(row))
        self._stream.flush()


def make_writer(fmt: str, stream: IO[str], *, model: str = "") -> PredictionWriter:
    if fmt == CSV_ROWS:
        return CsvPredictionWriter(stream, model=model)
    return JsonlPredictionWriter(stream, model=model)


def skipped_text(skipped: Iterable[SkippedFile], fmt: str) -> str:
    """The ``--errors`` file's content (encode it with :data:`ENCODING_ERRORS`)."""
    if fmt == JSON_LINES:
        return "".join(json_line({"path": s.path, "reason": s.reason}) for s in skipped)
    import io

    buf = io.StringIO()
    writer = CsvRowWriter(buf)
    writer.writerow(("path", "reason"))
    for s in skipped:
        writer.writerow((s.path, s.reason))
    return buf.getvalue()


def skipped_bytes(skipped: Iterable[SkippedFile], fmt: str) -> bytes:
    """The ``--errors`` file as bytes: names that are not UTF-8 keep their own bytes."""
    return skipped_text(skipped, fmt).encode(ENCODING, ENCODING_ERRORS)
