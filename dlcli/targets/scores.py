"""Scores of multi-label and regression outputs from streamed batches, in plain NumPy.

Only sums are kept while batches stream by. Definitions follow scikit-learn:
precision/recall/F1 of a tag with no predictions or no examples is 0; micro averages pool
every tag's counts, macro is the unweighted mean over tags; R² is ``1 - SS_res / SS_tot``
per target column.
"""

from __future__ import annotations

from typing import Any

import numpy as np

EPSILON = 1e-7  # keras.config.epsilon(): probabilities are clipped as Keras' losses do


def _prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[Any, Any, Any]:
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    predicted, actual = tp + fp, tp + fn
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return precision, recall, f1


class MultiLabelScores:
    """Per-tag counts at a threshold; binary cross-entropy; exact-match share."""

    def __init__(self, tags: list[str], threshold: float) -> None:
        self.tags, self.threshold = list(tags), float(threshold)
        n = len(tags)
        self.tp, self.fp, self.fn = (np.zeros(n, np.int64) for _ in range(3))
        self.count = 0
        self.exact = 0
        self.bce_sum = 0.0

    def update(self, y_true: np.ndarray, outputs: np.ndarray) -> None:
        truth = np.asarray(y_true, dtype=np.float64) >= 0.5
        probs = np.asarray(outputs, dtype=np.float64)
        pred = probs >= self.threshold
        self.tp += (pred & truth).sum(axis=0)
        self.fp += (pred & ~truth).sum(axis=0)
        self.fn += (~pred & truth).sum(axis=0)
        self.exact += int(np.all(pred == truth, axis=1).sum())
        self.count += len(truth)
        p = np.clip(probs, EPSILON, 1 - EPSILON)
        bce = -(truth * np.log(p) + (~truth) * np.log(1 - p)).mean(axis=1)
        self.bce_sum += float(bce.sum())

    def result(self) -> dict[str, Any]:
        precision, recall, f1 = _prf(self.tp, self.fp, self.fn)
        micro = _prf(
            self.tp.sum(keepdims=True), self.fp.sum(keepdims=True), self.fn.sum(keepdims=True)
        )
        per_label = {
            tag: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(self.tp[i] + self.fn[i]),
            }
            for i, tag in enumerate(self.tags)
        }
        return {
            "num_samples": self.count,
            "threshold": self.threshold,
            "loss": self.bce_sum / self.count if self.count else None,
            "loss_function": "binary_crossentropy",
            "micro_f1": float(micro[2][0]),
            "macro_f1": float(f1.mean()) if len(f1) else 0.0,
            "micro_avg": {
                "precision": float(micro[0][0]),
                "recall": float(micro[1][0]),
                "f1": float(micro[2][0]),
            },
            "macro_avg": {
                "precision": float(precision.mean()),
                "recall": float(recall.mean()),
                "f1": float(f1.mean()),
            },
            "exact_match": self.exact / self.count if self.count else None,
            "per_label": per_label,
        }


class RegressionScores:
    """MAE, RMSE and R² per target column, on values in the data's own units (``mean`` and
    ``std``: the standardisation that ``update``'s truth and outputs are undone from)."""

    def __init__(
        self,
        columns: list[str],
        mean: list[float] | None = None,
        std: list[float] | None = None,
    ) -> None:
        self.columns = list(columns)
        self.mean = np.zeros(len(columns)) if mean is None else np.asarray(mean, np.float64)
        self.std = np.ones(len(columns)) if std is None else np.asarray(std, np.float64)
        k = len(columns)
        self.count = 0
        self.abs_sum, self.sq_sum = np.zeros(k), np.zeros(k)
        self.y_sum, self.y_sq_sum = np.zeros(k), np.zeros(k)
        self.true: list[np.ndarray] = []
        self.predicted: list[np.ndarray] = []

    def update(self, y_true: np.ndarray, values: np.ndarray) -> None:
        y = np.asarray(y_true, dtype=np.float64).reshape(len(y_true), -1)
        v = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
        y, v = y * self.std + self.mean, v * self.std + self.mean
        err = v - y
        self.abs_sum += np.abs(err).sum(axis=0)
        self.sq_sum += (err**2).sum(axis=0)
        self.y_sum += y.sum(axis=0)
        self.y_sq_sum += (y**2).sum(axis=0)
        self.count += len(y)
        self.true.append(y)
        self.predicted.append(v)

    def result(self) -> dict[str, Any]:
        n = max(self.count, 1)
        mae = self.abs_sum / n
        rmse = np.sqrt(self.sq_sum / n)
        ss_tot = self.y_sq_sum - self.y_sum**2 / n
        r2 = np.where(ss_tot > 0, 1.0 - self.sq_sum / np.where(ss_tot > 0, ss_tot, 1.0), 0.0)
        per_column = {
            name: {"mae": float(mae[j]), "rmse": float(rmse[j]), "r2": float(r2[j])}
            for j, name in enumerate(self.columns)
        }
        return {
            "num_samples": self.count,
            "mae": float(mae.mean()),
            "rmse": float(rmse.mean()),
            "r2": float(r2.mean()),
            "loss": float((self.sq_sum / n).mean()),
            "loss_function": "mean_squared_error",
            "per_column": per_column,
        }

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(true, predicted) values, one row per example, for the scatter plot."""
        k = len(self.columns)
        if not self.true:
            return np.zeros((0, k)), np.zeros((0, k))
        return np.concatenate(self.true), np.concatenate(self.predicted)


def as_probabilities(outputs: np.ndarray) -> np.ndarray:
    """A class output's rows as probabilities: kept when they are (softmax), else
    softmaxed (logits)."""
    x = np.asarray(outputs, dtype=np.float64)
    sums = x.sum(axis=-1)
    if x.size and (x.min() >= 0) and np.allclose(sums, 1.0, atol=1e-3):
        return x
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


class ClassAccuracy:
    """Accuracy, a confusion matrix (rows: true, columns: predicted), per-class
    precision/recall/F1 and cross-entropy of one class output among several."""

    def __init__(self, class_names: list[str]) -> None:
        self.class_names = list(class_names)
        n = len(class_names)
        self.matrix = np.zeros((n, n), dtype=np.int64)
        self.loss_sum = 0.0
        self.count = 0

    def update(self, y_true: np.ndarray, outputs: np.ndarray) -> None:
        truth = np.asarray(y_true, dtype=np.int64).reshape(-1)
        probs = as_probabilities(outputs)
        np.add.at(self.matrix, (truth, probs.argmax(axis=-1)), 1)
        picked = np.clip(probs[np.arange(len(truth)), truth], EPSILON, 1 - EPSILON)
        self.loss_sum += float(-np.log(picked).sum())
        self.count += len(truth)

    def result(self) -> dict[str, Any]:
        tp = np.diag(self.matrix)
        precision, recall, f1 = _prf(tp, self.matrix.sum(axis=0) - tp, self.matrix.sum(axis=1) - tp)
        per_class = {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(self.matrix[i].sum()),
            }
            for i, name in enumerate(self.class_names)
        }
        return {
            "num_samples": self.count,
            "accuracy": float(tp.sum() / self.count) if self.count else None,
            "loss": self.loss_sum / self.count if self.count else None,
            "loss_function": "sparse_categorical_crossentropy",
            "confusion_matrix": self.matrix.tolist(),
            "per_class": per_class,
        }
