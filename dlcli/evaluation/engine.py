"""``evaluate_model``: score a model on labelled data and return every number, print nothing.

Batches stream through the same decode + ``predict_batch`` path as ``dlcli predict``; only
counts are kept (:class:`ConfusionAccumulator`) plus streaming Keras metric objects for the
model's other compiled metrics (``top_k``, AUC...). Accuracy, loss and per-class scores are
computed here in NumPy so they do not depend on how the model was compiled.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.data.decode import SkippedFile
from dlcli.data.kinds import LabelledData, LabelledFiles
from dlcli.errors import DataError, UsageError
from dlcli.evaluation.metrics import (
    ClassScores,
    ConfusionAccumulator,
    averages,
    per_class_scores,
)
from dlcli.evaluation.sources import run_validation_source
from dlcli.modeling.loading import BEST_MODEL
from dlcli.prediction.engine import (
    class_names_for,
    iter_scored_batches,
    model_output_units,
    output_converter,
)

# Compiled metrics computed here already (under Keras' many names for them).
_BUILTIN = frozenset(
    {"accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy", "loss"}
)


@dataclass
class EvaluationResult:
    class_names: list[str]
    num_samples: int
    accuracy: float | None
    loss: float | None
    confusion_matrix: np.ndarray
    per_class: list[ClassScores]
    averages: dict[str, dict[str, float]]
    metrics: dict[str, float] = field(default_factory=dict)
    recorded: dict[str, float] = field(default_factory=dict)
    recorded_when: str = ""
    skipped: list[SkippedFile] = field(default_factory=list)
    ignored: list[SkippedFile] = field(default_factory=list)  # not images: no exit 3
    data: str = ""
    model: str = ""
    output_kind: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "data": self.data,
            "num_samples": self.num_samples,
            "accuracy": self.accuracy,
            "loss": self.loss,
            "loss_function": "sparse_categorical_crossentropy",
            "metrics": dict(self.metrics),
            "recorded": dict(self.recorded),
            "recorded_when": self.recorded_when,
            "class_names": list(self.class_names),
            "per_class": {
                name: s.to_dict() for name, s in zip(self.class_names, self.per_class, strict=True)
            },
            "macro_avg": self.averages.get("macro", {}),
            "weighted_avg": self.averages.get("weighted", {}),
            "confusion_matrix": self.confusion_matrix.tolist(),
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "ignored": [{"path": s.path, "reason": s.reason} for s in self.ignored],
            "output_kind": self.output_kind,
            "seconds": round(self.seconds, 3),
            "notes": list(self.notes),
        }


def compiled_metric_configs(loaded: Any) -> list[Any]:
    """The ``metrics`` a ``.keras`` file was compiled with (models load with compile=False).

    Read from the archive's ``compile_config``; entries naming anything but built-in Keras
    objects are dropped (the same safety walk the loader applies to the architecture).
    """
    source = getattr(loaded, "source", None)
    if getattr(loaded, "format", "keras") != "keras" or source is None:
        return []
    from dlcli.modeling.safety import check_keras_archive, find_unsafe_objects

    try:
        config = check_keras_archive(Path(source))
    except Exception:
        return []
    raw = (config.get("compile_config") or {}).get("metrics") or []
    if isinstance(raw, dict):  # per-output dict: single-output models only
        raw = [m for v in raw.values() for m in (v if isinstance(v, list) else [v])]
    if not isinstance(raw, list):
        raw = [raw]
    return [m for m in raw if isinstance(m, str) or not find_unsafe_objects(m)]


class _CompiledMetrics:
    """The model's compiled metrics besides accuracy/loss, as streaming Keras metrics."""

    def __init__(self, identifiers: list[Any]) -> None:
        self.metrics: list[Any] = []
        self.failed: dict[str, str] = {}
        if not identifiers:
            return
        from dlcli.backend import keras

        for ident in identifiers:
            name = ident if isinstance(ident, str) else str(ident.get("config", {}).get("name"))
            if isinstance(ident, str) and ident in _BUILTIN:
                continue
            try:
                metric = keras.metrics.get(ident)
                if isinstance(metric, type):
                    metric = metric()
                if not isinstance(metric, keras.metrics.Metric):
                    metric = keras.metrics.MeanMetricWrapper(metric, name=name)
            except Exception as exc:
                self.failed[name] = f"cannot rebuild ({type(exc).__name__})"
                continue
            if metric.name in _BUILTIN or any(m.name == metric.name for m in self.metrics):
                continue
            self.metrics.append(metric)

    def update(self, y_true: np.ndarray, probabilities: np.ndarray) -> None:
        for metric in list(self.metrics):
            try:
                metric.update_state(y_true, probabilities)
            except Exception as exc:  # e.g. a metric that needs one-hot labels
                self.failed[metric.name] = f"not computable on class indices ({type(exc).__name__})"
                self.metrics.remove(metric)

    def result(self) -> dict[str, float]:
        return {m.name: float(np.asarray(m.result())) for m in self.metrics}


_BOOKKEEPING = frozenset({"epoch", "stage", "lr", "epoch_time_s"})


def recorded_metrics(run_dir: Path | None, model_file: str) -> tuple[dict[str, float], str]:
    """What training recorded for the model file evaluated, and when.

    ``best.keras`` gets the history row of the best epoch (``metrics.json`` ``best.epoch``),
    ``model.keras`` the last epoch's metrics (``final``): numbers of one model are never
    shown beside the evaluation of the other.
    """
    if run_dir is None:
        return {}, ""
    try:
        data = json.loads((Path(run_dir) / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, ""
    if not isinstance(data, dict):
        return {}, ""
    best = data.get("best")
    if model_file == BEST_MODEL and isinstance(best, dict):
        epoch, monitor = best.get("epoch"), best.get("monitor")
        row = _history_row(Path(run_dir) / "history.csv", epoch)
        if row is None and isinstance(best.get("value"), (int, float)):
            row = {str(monitor): float(best["value"])}
        return (row or {}), f"epoch {epoch}, the best by {monitor}"
    final = data.get("final")
    if not isinstance(final, dict):
        return {}, ""
    numbers = {k: float(v) for k, v in final.items() if isinstance(v, (int, float))}
    return numbers, "the end of training"


def _history_row(path: Path, epoch: object) -> dict[str, float] | None:
    import csv

    try:
        with open(path, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                if row.get("epoch") == str(epoch):
                    return {
                        k: float(v)
                        for k, v in row.items()
                        if k not in _BOOKKEEPING and v not in (None, "")
                    }
    except (OSError, ValueError):
        return None
    return None


def resolve_data(loaded: Any, data: Path | None, class_names: list[str]) -> LabelledData:
    """``--data PATH`` read by the model's data kind, else the run's validation data."""
    if data is None:
        run_dir = getattr(loaded, "run_dir", None)
        if run_dir is None:
            raise UsageError(
                "a model file on its own has no validation data",
                file=getattr(loaded, "source", None),
                hint="pass --data PATH (for an image model a folder with one sub-folder per "
                "class; for a tabular one a CSV file), or give the run directory instead of "
                "the .keras file",
            )
        return run_validation_source(Path(run_dir), loaded.preprocessing, class_names)
    return loaded.kind.labelled_data(data, loaded.preprocessing, class_names)


def evaluate_model(
    loaded: Any,
    *,
    data: Path | None = None,
    batch_size: int = 64,
    workers: int | None = None,
    on_progress: Any = None,
) -> EvaluationResult:
    """Evaluate ``loaded`` (a ``LoadedModel``) on ``data`` (see :mod:`.sources`).

    ``on_progress(done, total)`` is called after each batch (files or rows).
    """
    start = time.perf_counter()
    converter = output_converter(loaded)
    units = model_output_units(loaded)
    if units is None:
        raise UsageError(
            "cannot tell how many classes this model outputs",
            file=getattr(loaded, "source", None),
        )
    names = class_names_for(loaded, converter.num_classes(units))
    source = resolve_data(loaded, data, names)
    acc = ConfusionAccumulator(len(names))
    extra = _CompiledMetrics(compiled_metric_configs(loaded))
    skipped = list(source.skipped)
    done = 0
    if isinstance(source, LabelledFiles):
        total = len(source.paths) + len(skipped)
        done = len(skipped)
        for scored in iter_scored_batches(
            loaded,
            source.paths,
            batch_size=batch_size,
            workers=workers,
            converter=converter,
        ):
            skipped.extend(scored.errors)
            if scored.paths:
                y = np.asarray([source.label_of[p] for p in scored.paths], dtype=np.int64)
                acc.update(y, scored.probabilities)
                extra.update(y, scored.probabilities)
            done += len(scored.paths) + len(scored.errors)
            if on_progress is not None:
                on_progress(done, total)
    else:
        total = len(source.y)
        for x, y in source.batches(batch_size):
            probs = converter(loaded.predict_batch(x))
            acc.update(y, probs)
            extra.update(y, probs)
            done += len(y)
            if on_progress is not None:
                on_progress(done, total)
    if acc.count == 0:
        raise DataError(
            "no usable examples to evaluate on",
            file=source.description,
            received=f"{sum(not s.ignored for s in skipped)} skipped file(s), "
            f"{sum(s.ignored for s in skipped)} file(s) that are not images",
        )
    scores = per_class_scores(acc.matrix)
    notes = [f"{name}: {why}" for name, why in extra.failed.items()]
    ignored = [s for s in skipped if s.ignored]
    model_path = Path(str(getattr(loaded, "source", "")))
    recorded, recorded_when = recorded_metrics(getattr(loaded, "run_dir", None), model_path.name)
    return EvaluationResult(
        class_names=names,
        num_samples=acc.count,
        accuracy=acc.accuracy,
        loss=acc.loss,
        confusion_matrix=acc.matrix,
        per_class=scores,
        averages=averages(scores),
        metrics=extra.result(),
        recorded=recorded,
        recorded_when=recorded_when,
        skipped=[s for s in skipped if not s.ignored],
        ignored=ignored,
        data=source.description,
        model=str(getattr(loaded, "source", "")),
        output_kind=converter.describe(),
        seconds=time.perf_counter() - start,
        notes=notes,
    )
