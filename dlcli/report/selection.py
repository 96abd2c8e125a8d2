"""Which validation examples the report's gallery shows (plain NumPy, no model).

Three groups, each example in at most one, in this order:

- ``mistake``: the ``top`` wrong predictions the model was most sure of (highest
  probability of the predicted class first);
- ``unsure``: the ``top`` right predictions it was least sure of (lowest first);
- ``cell``: more examples of every cell of the confusion matrix, until a diagonal cell
  has ``per_cell`` examples in the gallery and a mistake cell ``per_mistake_cell`` (the
  most confident of a mistake cell, the least confident of a diagonal one), so clicking
  any non-empty cell shows examples of it. These are hidden until a cell is
  clicked, and added only while ``budget`` allows (the page stays small).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MISTAKE = "mistake"
UNSURE = "unsure"
CELL = "cell"
GROUPS = (MISTAKE, UNSURE, CELL)


@dataclass(frozen=True)
class Chosen:
    """Example ``index`` of the scored set, its classes, confidence and group."""

    index: int
    true: int
    predicted: int
    confidence: float
    group: str


def choose_examples(
    y: np.ndarray,
    probabilities: np.ndarray,
    *,
    top: int,
    per_cell: int,
    per_mistake_cell: int | None = None,
) -> list[Chosen]:
    """The gallery's examples, in display order (see the module docstring)."""
    y = np.asarray(y, dtype=np.int64)
    probs = np.asarray(probabilities, dtype=np.float64)
    predicted = np.argmax(probs, axis=-1)
    confidence = probs[np.arange(len(y)), predicted]
    wrong = np.flatnonzero(predicted != y)
    right = np.flatnonzero(predicted == y)
    # Stable sorts: equal confidences keep data order, so the same run gives the same page.
    mistakes = wrong[np.argsort(-confidence[wrong], kind="stable")][:top]
    unsure = right[np.argsort(confidence[right], kind="stable")][:top]
    chosen = [_chosen(i, y, predicted, confidence, MISTAKE) for i in mistakes]
    chosen += [_chosen(i, y, predicted, confidence, UNSURE) for i in unsure]
    taken = {c.index for c in chosen}
    per = {(c.true, c.predicted): 0 for c in chosen}
    for c in chosen:
        per[(c.true, c.predicted)] += 1
    for index in _cell_order(y, predicted, confidence):
        cell = (int(y[index]), int(predicted[index]))
        limit = per_cell if cell[0] == cell[1] else (per_mistake_cell or per_cell)
        if index in taken or per.get(cell, 0) >= limit:
            continue
        per[cell] = per.get(cell, 0) + 1
        chosen.append(_chosen(index, y, predicted, confidence, CELL))
    return chosen


def _chosen(
    index: int, y: np.ndarray, predicted: np.ndarray, confidence: np.ndarray, group: str
) -> Chosen:
    return Chosen(int(index), int(y[index]), int(predicted[index]), float(confidence[index]), group)


def _cell_order(y: np.ndarray, predicted: np.ndarray, confidence: np.ndarray) -> list[int]:
    """Mistakes most confident first, then right answers least confident first."""
    wrong = np.flatnonzero(predicted != y)
    right = np.flatnonzero(predicted == y)
    order = [*wrong[np.argsort(-confidence[wrong], kind="stable")]]
    order += [*right[np.argsort(confidence[right], kind="stable")]]
    return [int(i) for i in order]
