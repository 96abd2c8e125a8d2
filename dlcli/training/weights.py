"""``train.class_weight``: each class's loss weight, checked against the data's classes.

``balanced`` gives class ``c`` the weight ``n / (classes x count_c)`` (scikit-learn's and
Keras' rule: every class then adds the same total to the loss); a mapping names classes
and their weights (classes left out weigh 1). Weights multiply a ``sample_weight``
column's. They shape the training loss only: validation and ``evaluate`` count every
example once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlcli.errors import RecipeError
from dlcli.recipe.locate import recipe_place
from dlcli.recipe.spec import TrainSpec


def class_weights(
    spec: TrainSpec, class_names: list[str], y: np.ndarray, source: Path | None
) -> np.ndarray | None:
    """One weight per class (None without ``class_weight``)."""
    chosen = spec.class_weight
    if chosen is None:
        return None
    if chosen == "balanced":
        counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=len(class_names))
        present = counts > 0
        weights = np.ones(len(class_names), dtype=np.float64)
        weights[present] = len(y) / (present.sum() * counts[present])
        return weights.astype(np.float32)
    assert isinstance(chosen, dict)
    unknown = [name for name in chosen if name not in class_names]
    if unknown:
        from dlcli.recipe.layers import did_you_mean

        raise RecipeError(
            f"class_weight names class(es) the data does not have: {unknown}",
            **recipe_place(source, ("train", "class_weight", unknown[0]), key=True),
            expected=f"class names of the data: {class_names}",
            hint=did_you_mean(unknown[0], class_names),
        )
    weights = np.asarray([float(chosen.get(name, 1.0)) for name in class_names], np.float32)
    if not weights.any():
        raise RecipeError(
            "every class weight is 0: nothing would be learnt",
            **recipe_place(source, ("train", "class_weight")),
        )
    return weights


def describe(class_names: list[str], weights: np.ndarray) -> str:
    pairs = ", ".join(f"{n} {w:.3g}" for n, w in zip(class_names, weights.tolist(), strict=True))
    return f"class weights in the training loss: {pairs}"
