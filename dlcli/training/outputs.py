"""Training a model with several outputs (``model.outputs``): losses, metrics, checks.

``y`` arrives packed (every output's columns side by side, :mod:`dlcli.targets.outputs`)
and is unpacked here into a dict by output name, as the model's predictions are. The
per-example loss is the weighted sum of each output's own loss (its arguments, and a
class output's indices one-hot for a categorical loss, as for one target):
``sum_k loss_weight_k * loss_k``, so the mean over a batch is Keras' total loss. Metrics
are each output's own, logged as ``<output>_<metric>`` (``val_<output>_<metric>``) beside
``<output>_loss``, so a monitor can name any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dlcli.backend import keras, tf
from dlcli.errors import RecipeError
from dlcli.targets.outputs import OutputPart


def columns_of(y: Any, part: OutputPart) -> Any:
    """One output's ``y`` from the packed one: class indices int64, others float."""
    a, b = part.y_columns
    return tf.cast(y[:, a], tf.int64) if part.integer else y[:, a:b]


def unpack(y: Any, parts: list[OutputPart]) -> dict[str, Any]:
    """The packed ``y`` as a dict by output name (:func:`columns_of` each)."""
    return {p.name: columns_of(y, p) for p in parts}


def _output_loss(part: OutputPart) -> Callable[[Any, Any], Any]:
    from dlcli.training.losses import per_example_loss

    try:
        fn = per_example_loss(part.loss, part.loss_args, part.record)
    except RecipeError as exc:  # the loss's own words, at the output that names it
        raise _at_output(exc, part, "loss") from None

    def loss(y: Any, pred: Any) -> Any:
        value = tf.cast(fn(y, pred), tf.float32)
        rank = value.shape.rank or 0
        if rank > 1:
            value = tf.reduce_mean(value, axis=list(range(1, rank)))
        return value

    return loss


def combined_loss(parts: list[OutputPart]) -> Callable[[Any, Any], Any]:
    """Per-example ``sum_k w_k * loss_k(y_k, pred_k)`` on packed ``y`` and dict ``pred``."""
    losses = [(p.name, p.loss_weight, _output_loss(p)) for p in parts]

    def loss(y: Any, pred: Any) -> Any:
        ys = unpack(y, parts)
        terms = [w * fn(ys[name], pred[name]) for name, w, fn in losses]
        return tf.add_n(terms)

    return loss


class OutputMetric:
    """A Keras metric of one output, fed that output's ``y`` and prediction."""

    def __init__(self, metric: Any, part: OutputPart) -> None:
        self.metric, self.part = metric, part
        self.name = metric.name

    def update_state(self, y: Any, pred: Any) -> None:
        self.metric.update_state(columns_of(y, self.part), pred[self.part.name])

    def result(self) -> Any:
        return self.metric.result()

    def reset_state(self) -> None:
        self.metric.reset_state()


class OutputLoss:
    """The mean of one output's own (unweighted) loss: ``<output>_loss``."""

    def __init__(self, part: OutputPart, prefix: str) -> None:
        self.part = part
        self.fn = _output_loss(part)
        self.mean = keras.metrics.Mean(name=f"{prefix}{part.name}_loss")
        self.name = self.mean.name

    def update_state(self, y: Any, pred: Any) -> None:
        self.mean.update_state(self.fn(columns_of(y, self.part), pred[self.part.name]))

    def result(self) -> Any:
        return self.mean.result()

    def reset_state(self) -> None:
        self.mean.reset_state()


def output_metrics(parts: list[OutputPart], prefix: str = "") -> list[Any]:
    """Each output's loss and metrics, named ``<prefix><output>_<metric>``."""
    from dlcli.training.loop import make_metrics

    found: list[Any] = []
    for p in parts:
        found.append(OutputLoss(p, prefix))
        try:
            metrics = make_metrics(p.metrics, p.loss, f"{prefix}{p.name}_", target=p.record)
        except RecipeError as exc:
            raise _at_output(exc, p, "metrics") from None
        found.extend(OutputMetric(m, p) for m in metrics)
    return found


def _at_output(exc: RecipeError, part: OutputPart, key: str) -> RecipeError:
    problem = exc.problem
    return RecipeError(
        f"output {part.name!r}: {problem.message}",
        field=f"model.outputs.{part.name}.{key}",
        expected=problem.expected,
        received=problem.received,
        hint=problem.hint,
    )


def check_units_per_output(model: Any, parts: list[OutputPart]) -> None:
    """Each output's last dimension must be its target's width (classes, tags, columns)."""
    outputs = model.output if isinstance(model.output, dict) else {}
    for p in parts:
        tensor = outputs.get(p.name)
        width = len(p.target.output_names(p.record))
        units = tensor.shape[-1] if tensor is not None else None
        if units is not None and int(units) != width:
            raise RecipeError(
                f"output {p.name!r} (layer {p.layer!r}) has {units} unit(s) but its "
                f"{p.target.name} target has {width}",
                field=f"model.outputs.{p.name}",
                expected=f"units: {width} on layer {p.layer!r}",
                received=f"{units} unit(s)",
            )


def compile_args(parts: list[OutputPart]) -> dict[str, Any]:
    """``model.compile`` arguments recording each output's loss, weight and metrics."""
    from dlcli.training.loop import make_metrics
    from dlcli.training.losses import loss_object

    losses, metrics = {}, {}
    for p in parts:
        try:
            losses[p.name] = loss_object(p.loss, p.loss_args)
        except RecipeError as exc:
            raise _at_output(exc, p, "loss") from None
        try:
            metrics[p.name] = make_metrics(p.metrics, p.loss, target=p.record)
        except RecipeError as exc:
            raise _at_output(exc, p, "metrics") from None
    return {
        "loss": losses,
        "loss_weights": {p.name: p.loss_weight for p in parts},
        "metrics": metrics,
    }
