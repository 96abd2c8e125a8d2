"""Batch prediction over input files: read ahead, score whole batches, stream.

Files are read by the model's data kind (:meth:`DataKind.iter_inputs`; image files by
:mod:`dlcli.data.decode`, the same code training uses, so the model sees the same pixels,
on a thread pool that works a few batches ahead of the model), while
the main thread runs the model on whole batches through ``LoadedModel.predict_batch``, all
of one shape (a short batch is padded), so the model is compiled once. Nothing is
accumulated: each batch is yielded as soon as it is scored, so memory stays flat
however many files there are.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlcli.data.listing import SkippedFile
from dlcli.errors import ModelLoadError
from dlcli.prediction.probabilities import OutputConverter, final_activation

DEFAULT_BATCH_SIZE = 64


@dataclass(frozen=True)
class Prediction:
    """One file's result. ``top_k`` is sorted by probability, highest first."""

    path: str
    label: str
    index: int
    confidence: float
    top_k: tuple[tuple[str, float], ...]


@dataclass
class ScoredBatch:
    """``probabilities[i]`` belongs to ``paths[i]``; ``errors`` are this batch's skipped files."""

    paths: list[str]
    probabilities: np.ndarray
    errors: list[SkippedFile] = field(default_factory=list)


@dataclass
class PredictionBatch:
    predictions: list[Prediction]
    errors: list[SkippedFile] = field(default_factory=list)

    @property
    def files_done(self) -> int:
        return len(self.predictions) + len(self.errors)


def output_converter(loaded: Any) -> OutputConverter:
    return OutputConverter(activation=final_activation(getattr(loaded, "model", None)))


def class_names_for(loaded: Any, num_classes: int) -> list[str]:
    """The model's class names, or ``"0".."N-1"``; an error when the count disagrees."""
    names = getattr(loaded, "class_names", None)
    if names is None:
        return [str(i) for i in range(num_classes)]
    names = [str(n) for n in names]
    if len(names) != num_classes:
        raise ModelLoadError(
            "the number of class names does not match the model's output",
            file=getattr(loaded, "source", None),
            expected=f"{num_classes} class names (one per output class)",
            received=f"{len(names)} names: {names[:10]}",
            hint="pass --labels FILE with one class name per line, in output order",
        )
    return names


def model_output_units(loaded: Any) -> int | None:
    """Units of the model's output layer when it can be told without running it."""
    units = getattr(loaded, "output_units", None)
    if units:
        return int(units)
    model = getattr(loaded, "model", None)
    try:
        shape = model.output_shape  # type: ignore[union-attr]
    except Exception:
        return None
    if isinstance(shape, list):
        return None
    if shape and isinstance(shape[-1], int):
        return int(shape[-1])
    return None


def iter_scored_batches(
    loaded: Any,
    paths: Iterable[str | os.PathLike[str]],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    converter: OutputConverter | None = None,
) -> Iterator[ScoredBatch]:
    """Read and score ``paths`` in order, as the model's data kind reads its inputs; bad
    files come back in ``errors``, never raise."""
    kind = loaded.kind
    convert = converter or output_converter(loaded)
    traced_full = False
    for batch in kind.iter_inputs(
        loaded.preprocessing,
        paths,
        batch_size=batch_size,
        workers=workers,
        source=getattr(loaded, "source", None),
    ):
        n = len(batch.paths)
        if not n:
            yield ScoredBatch(paths=[], probabilities=np.zeros((0, 0)), errors=batch.errors)
            continue
        inputs = batch.images
        if n == batch_size:
            traced_full = True
        elif traced_full:
            inputs = _padded(inputs, batch_size)
        raw = loaded.predict_batch(inputs)[:n]
        yield ScoredBatch(paths=batch.paths, probabilities=convert(raw), errors=batch.errors)


def _padded(images: Any, batch_size: int) -> Any:
    """``images`` with zero rows appended up to ``batch_size``.

    Once the model has run on full batches, a short batch (the last one, or one with
    skipped files) is padded to the same shape: every call then has one signature, so the
    compiled Keras function is never traced again and a TFLite interpreter never
    reallocates. The padded rows cost at most one batch of compute and are dropped.
    """
    if isinstance(images, dict):  # several named inputs: each padded alike
        return {name: _padded(value, batch_size) for name, value in images.items()}
    out = np.zeros((batch_size, *images.shape[1:]), dtype=images.dtype)
    if images.dtype == object:  # raw text: empty documents, not the number 0
        out[...] = ""
    out[: len(images)] = images
    return out


def top_indices(probabilities: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest per row, highest first; ties go to the lower index."""
    order = np.argsort(-probabilities, axis=-1, kind="stable")
    return order[:, :k]


def to_predictions(
    paths: Sequence[str], probabilities: np.ndarray, class_names: Sequence[str], top_k: int
) -> list[Prediction]:
    k = max(1, min(top_k, probabilities.shape[-1]))
    order = top_indices(probabilities, k)
    rows: list[Prediction] = []
    for path, probs, idx in zip(paths, probabilities, order, strict=True):
        best = int(idx[0])
        rows.append(
            Prediction(
                path=path,
                label=class_names[best],
                index=best,
                confidence=float(probs[best]),
                top_k=tuple((class_names[int(j)], float(probs[int(j)])) for j in idx),
            )
        )
    return rows


def iter_predictions(
    loaded: Any,
    paths: Iterable[str | os.PathLike[str]],
    *,
    top_k: int = 3,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    converter: OutputConverter | None = None,
) -> Iterator[PredictionBatch]:
    """Predictions per batch, in input order, as soon as each batch is scored.

    Pass ``converter`` to learn afterwards how the outputs were read (``describe()``).
    """
    converter = converter or output_converter(loaded)
    units = model_output_units(loaded)
    names: list[str] | None = None
    if units is not None:  # fail before decoding anything when the labels cannot fit
        names = class_names_for(loaded, converter.num_classes(units))
    for scored in iter_scored_batches(
        loaded,
        paths,
        batch_size=batch_size,
        workers=workers,
        converter=converter,
    ):
        if not scored.paths:
            yield PredictionBatch(predictions=[], errors=scored.errors)
            continue
        if names is None or len(names) != scored.probabilities.shape[-1]:
            names = class_names_for(loaded, scored.probabilities.shape[-1])
        yield PredictionBatch(
            predictions=to_predictions(scored.paths, scored.probabilities, names, top_k),
            errors=scored.errors,
        )
