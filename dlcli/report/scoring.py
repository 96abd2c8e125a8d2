"""Every validation example scored once, keeping each example's probabilities.

``dlcli evaluate`` keeps only counts; the report needs to know *which* examples were wrong
and how sure the model was, so it keeps one probability row per example (float32, so a
100,000-example, 100-class validation set is 40 MB) and a way to read chosen examples
again (:meth:`Scored.inputs`) for thumbnails, Grad-CAM and feature maps. The data comes
from where ``dlcli evaluate RUN`` takes it (:func:`dlcli.evaluation.engine.resolve_data`:
the recipe's ``data.validation``, or its ``validation_split`` re-derived with the seed),
read by the model's data kind through the same decode path as ``predict``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from dlcli.data.kinds import LabelledArrays, LabelledFiles
from dlcli.data.listing import SkippedFile
from dlcli.errors import DataError
from dlcli.evaluation.metrics import ClassScores, ConfusionAccumulator, averages, per_class_scores
from dlcli.modeling.loading import LoadedModel
from dlcli.prediction.probabilities import OutputConverter

ProgressCallback = Callable[[int, int], None]


@dataclass
class Scored:
    """``probabilities[i]`` is the model's output for example ``refs[i]`` of class ``y[i]``."""

    description: str
    class_names: list[str]
    y: np.ndarray
    probabilities: np.ndarray
    refs: list[str]  # a file path, or "example N" (of data read into memory)
    read: Callable[[Sequence[int]], np.ndarray] = field(repr=False)
    matrix: np.ndarray
    loss: float | None
    from_files: bool
    skipped: list[SkippedFile] = field(default_factory=list)

    @property
    def predicted(self) -> np.ndarray:
        return np.argmax(self.probabilities, axis=-1)

    @property
    def confidence(self) -> np.ndarray:
        return self.probabilities[np.arange(len(self.y)), self.predicted]

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.matrix) / max(len(self.y), 1))

    @property
    def per_class(self) -> list[ClassScores]:
        return per_class_scores(self.matrix)

    @property
    def averages(self) -> dict[str, dict[str, float]]:
        return averages(self.per_class)

    def inputs(self, positions: Sequence[int]) -> np.ndarray:
        """The model inputs of examples ``positions``, read again as scoring read them."""
        return self.read(list(positions))


def score_validation(
    loaded: LoadedModel,
    *,
    batch_size: int = 64,
    workers: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> Scored:
    """Score the run's validation data with ``loaded``; errors name what is missing."""
    from dlcli.evaluation.engine import resolve_data
    from dlcli.prediction.engine import class_names_for, model_output_units, output_converter

    converter = output_converter(loaded)
    units = model_output_units(loaded)
    if units is None:
        raise DataError("cannot tell how many classes this model outputs", file=loaded.source)
    names = class_names_for(loaded, converter.num_classes(units))
    source = resolve_data(loaded, None, names)
    kept = _Kept(ConfusionAccumulator(len(names)), skipped=list(source.skipped))
    if isinstance(source, LabelledFiles):
        _score_files(kept, loaded, source, converter, batch_size, workers, on_progress)
        read = _file_reader(loaded, list(kept.refs), batch_size, workers)
    else:
        read = _score_arrays(kept, loaded, source, converter, batch_size, on_progress)
    if kept.acc.count == 0:
        raise DataError(
            "no usable validation examples to score",
            file=source.description,
            received=f"{len(kept.skipped)} skipped file(s)",
        )
    return Scored(
        description=source.description,
        class_names=names,
        y=np.concatenate(kept.ys),
        probabilities=np.concatenate(kept.probs).astype(np.float32),
        refs=kept.refs,
        read=read,
        matrix=kept.acc.matrix,
        loss=kept.acc.loss,
        from_files=isinstance(source, LabelledFiles),
        skipped=[s for s in kept.skipped if not s.ignored],
    )


@dataclass
class _Kept:
    """What scoring keeps: counts, and each example's label, probabilities and name."""

    acc: ConfusionAccumulator
    skipped: list[SkippedFile]
    ys: list[np.ndarray] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)

    def keep(self, y: np.ndarray, p: np.ndarray, refs: Sequence[str]) -> None:
        y = np.asarray(y, dtype=np.int64)
        p = np.asarray(p, dtype=np.float64)
        self.acc.update(y, p)
        self.ys.append(y)
        self.probs.append(p)
        self.refs.extend(refs)


def _score_files(
    kept: _Kept,
    loaded: LoadedModel,
    source: LabelledFiles,
    converter: OutputConverter,
    batch_size: int,
    workers: int | None,
    on_progress: ProgressCallback | None,
) -> None:
    from dlcli.prediction.engine import iter_scored_batches

    total = len(source.paths) + len(kept.skipped)
    done = len(kept.skipped)
    for scored in iter_scored_batches(
        loaded, source.paths, batch_size=batch_size, workers=workers, converter=converter
    ):
        kept.skipped.extend(scored.errors)
        done += len(scored.paths) + len(scored.errors)
        if scored.paths:
            y = np.asarray([source.label_of[p] for p in scored.paths], dtype=np.int64)
            kept.keep(y, scored.probabilities, scored.paths)
        if on_progress is not None:
            on_progress(done, total)


def _score_arrays(
    kept: _Kept,
    loaded: LoadedModel,
    source: LabelledArrays,
    converter: OutputConverter,
    batch_size: int,
    on_progress: ProgressCallback | None,
) -> Callable[[Sequence[int]], np.ndarray]:
    total = len(source.y)
    for start, (x, y) in enumerate(source.batches(batch_size)):
        first = start * batch_size
        refs = [f"example {first + i + 1}" for i in range(len(y))]
        kept.keep(y, converter(loaded.predict_batch(x)), refs)
        if on_progress is not None:
            on_progress(min(first + len(y), total), total)
    fetch = source.fetch

    def read(positions: Sequence[int]) -> np.ndarray:
        return fetch(np.asarray(positions, dtype=np.int64))

    return read


def _file_reader(
    loaded: LoadedModel, refs: list[str], batch_size: int, workers: int | None
) -> Callable[[Sequence[int]], np.ndarray]:
    """Positions -> model inputs, decoded by the model's data kind (as ``predict`` does)."""

    def read(positions: Sequence[int]) -> np.ndarray:
        paths = [refs[i] for i in positions]
        batches = []
        for batch in loaded.kind.iter_inputs(
            loaded.preprocessing,  # type: ignore[arg-type]  # kind raises when unknown
            paths,
            batch_size=batch_size,
            workers=workers,
            source=loaded.source,
        ):
            if batch.errors:  # scored a minute ago: the file changed or went away since
                raise DataError(
                    "a validation file can no longer be read",
                    file=batch.errors[0].path,
                    received=batch.errors[0].reason,
                )
            batches.append(np.asarray(batch.images))
        return np.concatenate(batches) if batches else np.zeros((0,))

    return read
