"""What a run folder recorded, read without TensorFlow: the facts ``dlcli report`` shows.

Every file is optional (a run stopped early has no ``metrics.json``; one that read every
file has no ``skipped.txt``): what is missing is listed in ``missing`` for the page to say
so, and a file that cannot be parsed is a note, never a crash, because the report is most
wanted exactly when a run went wrong.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from dlcli.errors import UsageError

RECIPE = "recipe.yaml"
LABELS = "labels.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
SKIPPED = "skipped.txt"
RUN_MARKERS = (RECIPE, LABELS, HISTORY, METRICS, "model.keras", "best.keras")

Number = float | int | str | bool | None


@dataclass(frozen=True)
class SkippedRecord:
    """One file the data loader could not use, with the reason it gave."""

    path: str
    reason: str


@dataclass
class RunFiles:
    """The recorded facts of one run folder."""

    path: Path
    recipe_text: str | None = None
    class_names: list[str] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    metrics: dict[str, object] = field(default_factory=dict)
    skipped: list[SkippedRecord] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        recorded = self.metrics.get("name")
        return str(recorded) if recorded else self.path.resolve().name

    @property
    def best(self) -> dict[str, Number]:
        best = self.metrics.get("best")
        return dict(best) if isinstance(best, dict) else {}

    @property
    def best_epoch(self) -> int | None:
        epoch = self.best.get("epoch")
        return int(epoch) if isinstance(epoch, (int, float)) else None

    @property
    def early_stop_epoch(self) -> int | None:
        """The last epoch run when early stopping ended the run, else None."""
        if self.metrics.get("stopped_early") is not True:
            return None
        run = self.metrics.get("epochs_run")
        return int(run) if isinstance(run, (int, float)) else None

    @property
    def final(self) -> dict[str, float]:
        final = self.metrics.get("final")
        if not isinstance(final, dict):
            return {}
        return {str(k): float(v) for k, v in final.items() if isinstance(v, (int, float))}


def read_run(path: Path) -> RunFiles:
    """Read ``path``'s recorded files; an error only when it is not a run folder at all."""
    path = Path(path)
    if not path.is_dir():
        raise UsageError(
            "not a run directory",
            file=path,
            expected="the folder `dlcli train` wrote (recipe.yaml, labels.json, history.csv...)",
            received="a file" if path.exists() else "nothing at that path",
        )
    if not any((path / name).exists() for name in RUN_MARKERS):
        raise UsageError(
            "not a run directory",
            file=path,
            expected="one of " + ", ".join(RUN_MARKERS),
            received="a folder without any of them",
            hint="pass the folder given to `dlcli train --out`",
        )
    run = RunFiles(path=path)
    run.recipe_text = _read_text(run, RECIPE)
    run.class_names = _class_names(run)
    run.history = _history(run)
    metrics = _read_json(run, METRICS)
    run.metrics = metrics if isinstance(metrics, dict) else {}
    run.skipped = _skipped(path / SKIPPED)
    return run


def _read_text(run: RunFiles, name: str) -> str | None:
    try:
        return (run.path / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        run.missing.append(name)
    except (OSError, UnicodeDecodeError) as exc:
        run.notes.append(f"{name}: cannot be read ({exc})")
    return None


def _read_json(run: RunFiles, name: str) -> object:
    text = _read_text(run, name)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        run.notes.append(f"{name}: not valid JSON ({exc})")
        return None


def _class_names(run: RunFiles) -> list[str]:
    data = _read_json(run, LABELS)
    names = data.get("class_names") if isinstance(data, dict) else None
    return [str(n) for n in names] if isinstance(names, list) else []


def _history(run: RunFiles) -> list[dict[str, float]]:
    text = _read_text(run, HISTORY)
    if text is None:
        return []
    rows: list[dict[str, float]] = []
    for row in csv.DictReader(text.splitlines()):
        values = {k: _number(v) for k, v in row.items() if k}
        rows.append({k: v for k, v in values.items() if not math.isnan(v)})
    return rows


def _number(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def _skipped(path: Path) -> list[SkippedRecord]:
    """``skipped.txt``: one ``path<TAB>reason`` line per file training could not use."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        if line.strip():
            file, _, reason = line.partition("\t")
            records.append(SkippedRecord(file, reason or "no reason recorded"))
    return records
