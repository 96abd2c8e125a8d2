"""Classification metrics from streamed batches, in plain NumPy.

Only counts are kept while batches stream by (a ``C x C`` confusion matrix and the sum of
``-log p(true class)``), so evaluating a million images needs no more memory than ten.
Definitions follow scikit-learn's ``classification_report`` (precision/recall/F1 of a
class with no predictions or no samples is 0; macro = unweighted mean over classes,
weighted = mean weighted by support) and Keras' ``sparse_categorical_crossentropy`` on
probabilities (clipped to ``[1e-7, 1 - 1e-7]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

EPSILON = 1e-7  # keras.config.epsilon(), used by Keras to clip probabilities in crossentropy


@dataclass
class ClassScores:
    precision: float
    recall: float
    f1: float
    support: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "support": self.support,
        }


@dataclass
class ConfusionAccumulator:
    """Running confusion matrix (rows: true class, columns: predicted) and loss sum."""

    num_classes: int
    matrix: np.ndarray = field(init=False)
    loss_sum: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, y_true: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
        """Add a batch; returns the predicted indices (argmax, ties to the lower index)."""
        y_true = np.asarray(y_true, dtype=np.int64)
        probs = np.asarray(probabilities, dtype=np.float64)
        pred = np.argmax(probs, axis=-1)
        np.add.at(self.matrix, (y_true, pred), 1)
        picked = np.clip(probs[np.arange(len(y_true)), y_true], EPSILON, 1.0 - EPSILON)
        self.loss_sum += float(-np.log(picked).sum())
        self.count += len(y_true)
        return pred

    @property
    def loss(self) -> float | None:
        return self.loss_sum / self.count if self.count else None

    @property
    def accuracy(self) -> float | None:
        return float(np.trace(self.matrix) / self.count) if self.count else None


def per_class_scores(matrix: np.ndarray) -> list[ClassScores]:
    m = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(m)
    predicted = m.sum(axis=0)
    actual = m.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return [
        ClassScores(float(p), float(r), float(f), int(s))
        for p, r, f, s in zip(precision, recall, f1, actual, strict=True)
    ]


def averages(scores: Sequence[ClassScores]) -> dict[str, dict[str, float]]:
    """``macro`` and ``weighted`` precision/recall/F1 (classes without samples count in macro)."""
    if not scores:
        return {}
    support = np.array([s.support for s in scores], dtype=np.float64)
    total = support.sum()
    result: dict[str, dict[str, float]] = {"macro": {}, "weighted": {}}
    for key in ("precision", "recall", "f1"):
        values = np.array([getattr(s, key) for s in scores], dtype=np.float64)
        result["macro"][key] = float(values.mean())
        result["weighted"][key] = float((values * support).sum() / total) if total else 0.0
    result["macro"]["support"] = int(total)
    result["weighted"]["support"] = int(total)
    return result
