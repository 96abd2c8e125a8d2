"""The recipe's target against its loss and last layer, before any data is read.

``data.target`` (:mod:`dlcli.targets`) decides which losses, metrics and last-layer
activations can learn it. A recipe that does not name ``train.loss`` or ``train.metrics``
gets the target's own (binary cross-entropy for ``multi_label``, mse for ``regression``);
a mismatch (a softmax last layer for tags, ``sparse_categorical_crossentropy`` for
numbers, output units that differ from the target columns, ``class_weight`` without
classes) is reported at its place in the file with the fix. No TensorFlow here.
"""

from __future__ import annotations

from typing import Any

from dlcli.errors import Problem
from dlcli.recipe.spec import DataSection, LayerSpec, TrainSpec
from dlcli.recipe.yamlread import Positions, make_problem
from dlcli.targets import LossCheck, label_columns, target_of


def last_layer_output(layer: LayerSpec) -> tuple[str | None, int | None]:
    """The last layer's activation and units when the recipe says them (else None)."""
    args = layer.args
    if layer.type == "Softmax":
        return "softmax", None
    if layer.type == "Activation":
        act = args.get("activation")
        return (act if isinstance(act, str) else None), None
    units = args.get("units") if isinstance(args.get("units"), int) else None
    if layer.type == "Dense":
        act = args.get("activation")
        return (act if isinstance(act, str) else "linear" if act is None else None), units
    return None, units


def with_target_defaults(raw_train: Any, data: DataSection | None, train: TrainSpec) -> TrainSpec:
    """``train.loss``/``train.metrics`` the recipe leaves out: the target's own."""
    target = target_of(getattr(data, "target", None))
    if target.classifies:
        return train
    given = raw_train if isinstance(raw_train, dict) else {}
    update: dict[str, Any] = {}
    if "loss" not in given:
        update["loss"] = target.default_loss
    if "metrics" not in given:
        update["metrics"] = list(target.default_metrics)
    return train.model_copy(update=update) if update else train


def check_target(
    data: DataSection | None,
    layers: list[LayerSpec],
    train: TrainSpec,
    positions: Positions,
    problems: list[Problem],
) -> None:
    spec = getattr(data, "target", None)
    target = target_of(spec)
    label = getattr(data, "label", None)
    if spec is not None and label is not None:
        why = target.label_problem(spec, label)
        if why is not None:
            problems.append(make_problem(positions, ("data", "label"), why, received=label))
    if train.class_weight is not None and not target.weights_class():
        problems.append(
            make_problem(
                positions,
                ("train", "class_weight"),
                f"class_weight weighs classes, but data.target is {target.name}",
                hint="weigh examples with data.sample_weight: COLUMN instead",
            )
        )
    if not layers:
        return
    last = layers[-1]
    activation, units = last_layer_output(last)
    check = LossCheck(
        loss=train.loss,
        activation=activation,
        units=units,
        from_logits=bool(train.loss_args.get("from_logits", False)),
    )
    found = target.loss_problem(check)
    if found is not None:
        place, message, fix = found
        if place == "layer":
            problems.append(_at_layer(last, message, fix))
        else:
            problems.append(make_problem(positions, ("train", "loss"), message, hint=fix))
    expected = target.column_count(spec, label) if spec is not None and label else None
    if expected is not None and units is not None and units != expected:
        names = label_columns(label) if label is not None else []
        problems.append(
            _at_layer(
                last,
                f"the last layer has {units} unit(s) but the {target.name} target has "
                f"{expected} column(s) ({', '.join(names)})",
                f"set units: {expected} on the last layer (one per target column)",
            )
        )


def at_layer(layer: LayerSpec, message: str, fix: str) -> Problem:
    """A problem at a layer's place in the recipe, with its fix."""
    return _at_layer(layer, message, fix)


def _at_layer(layer: LayerSpec, message: str, fix: str) -> Problem:
    where = layer.where
    return Problem(
        message,
        file=where.file,
        line=where.line,
        column=where.column,
        field=where.field or f"model.layers ({layer.name})",
        hint=fix,
    )
