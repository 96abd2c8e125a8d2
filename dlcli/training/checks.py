"""Checks of the recipe against the data, before the first step (clean errors, exit 2).

Without them a wrong output width or a one-hot loss fails deep inside TensorFlow (exit 1),
and a single class trains a model that always gives the same answer.
"""

from __future__ import annotations

from typing import Any

from dlcli.errors import DataError, RecipeError
from dlcli.targets.losses import ONE_HOT_LOSSES, loss_family


def check_class_count(class_names: list[str], data_spec: Any) -> None:
    """A classifier needs two classes at least; one class trains to a constant answer."""
    if len(class_names) >= 2:
        return
    raise DataError(
        f"the training data has only one class ({class_names[0]!r})"
        if class_names
        else "the training data has no classes",
        file=getattr(data_spec, "train", None),
        expected="at least two classes (class sub-folders, or label values in the CSV)",
    )


def _layer_place(layer: Any) -> dict[str, Any]:
    """file/line/column of the recipe's last layer (a LayerSpec), for errors about it."""
    where = getattr(layer, "where", None)
    if where is None:
        return {"field": "model.layers"}
    return {
        "file": where.file,
        "line": where.line,
        "column": where.column,
        "field": where.field or "model.layers",
    }


def _units(model: Any) -> int | None:
    shape = getattr(model, "output_shape", None)
    if not isinstance(shape, tuple) or not shape or not isinstance(shape[-1], int):
        return None  # several outputs or an unknown width: nothing to compare
    return int(shape[-1])


def check_output_units(model: Any, num_classes: int, layer: Any = None) -> None:
    """The last layer must have one unit per class, or one unit for two classes."""
    units = _units(model)
    if units is None or units == num_classes or (units == 1 and num_classes == 2):
        return  # one unit: a binary model (predict reads it as P(second class))
    raise RecipeError(
        f"the model's output has {units} unit(s) but the data has {num_classes} classes",
        **_layer_place(layer),
        expected=f"a last layer with {num_classes} units (e.g. Dense: "
        f"{{units: {num_classes}, activation: softmax}})",
        received=f"{units} output unit(s)",
    )


def check_target_units(model: Any, names: list[str], record: Any, layer: Any = None) -> None:
    """One output unit per tag (multi_label) or target column (regression)."""
    units = _units(model)
    if units is None or units == len(names):
        return
    shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    raise RecipeError(
        f"the model's output has {units} unit(s) but the {record.type} target has "
        f"{len(names)} ({shown})",
        **_layer_place(layer),
        expected=f"a last layer with {len(names)} units",
        received=f"{units} output unit(s)",
    )


def check_loss(loss_name: str, num_classes: int, units: int | None = None) -> None:
    """The loss must accept integer class labels (what every dlcli data source yields)."""
    import numpy as np

    from dlcli.backend import keras

    received = {"loss": loss_name}
    try:
        loss_fn = keras.losses.get(loss_name)
    except (ValueError, TypeError):
        loss_fn = None
    if not callable(loss_fn):
        raise RecipeError(
            f"unknown loss {loss_name!r}",
            field="train.loss",
            expected="a Keras loss name such as sparse_categorical_crossentropy",
            received=received,
        )
    if loss_family(loss_name) in ONE_HOT_LOSSES:
        return  # class indices are one-hot encoded for it (dlcli.training.losses)
    labels = np.arange(2, dtype=np.int64) % num_classes
    width = units or num_classes
    probs = np.full((2, width), 1.0 / width, dtype=np.float32)
    try:
        loss_fn(labels, probs)
    except Exception as exc:  # any failure here is a recipe mismatch
        raise RecipeError(
            f"loss {loss_name!r} does not work with integer class labels "
            f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
            field="train.loss",
            expected="a loss for class indices, e.g. sparse_categorical_crossentropy",
            received=received,
            hint="dlcli labels are class indices 0..N-1, not one-hot vectors: use "
            "sparse_categorical_crossentropy with one softmax unit per class",
        ) from None


def prior_loss(loss_name: str, labels: Any, num_classes: int, units: int | None) -> float | None:
    """The loss of a model that ignores its input and always answers the training class
    frequencies: where training sits when it learns nothing (``ln(classes)`` for
    cross-entropy on balanced classes). None when the loss has no such value here."""
    import numpy as np

    from dlcli.backend import keras

    y = np.asarray(labels, dtype=np.int64)
    if y.size == 0:
        return None
    share = np.bincount(y, minlength=num_classes) / y.size
    width = units or num_classes
    if width == num_classes:
        probs = np.tile(share, (y.size, 1))
    elif width == 1 and num_classes == 2:
        probs = np.full((y.size, 1), share[1])  # one unit: P(second class)
    else:
        return None
    try:
        per_example = keras.losses.get(loss_name)(y, probs.astype(np.float32))
        value = float(np.mean(keras.ops.convert_to_numpy(per_example)))
    except Exception:  # a loss that does not take class indices: no chance level to compare
        return None
    return value if np.isfinite(value) else None
