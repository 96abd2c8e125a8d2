"""The run's loss as Keras objects: named in ``train.loss``, with ``train.loss`` arguments.

``loss_object`` builds the Keras loss class a name stands for (``mse`` ->
``MeanSquaredError``) with the recipe's arguments (``label_smoothing``, a focal loss's
``gamma``/``alpha``, ``delta`` of ``huber``); a bad argument is a recipe error naming it.
``per_example_loss`` is the same loss without reduction, as the training step needs it;
for a class target a categorical loss gets the class indices one-hot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dlcli.backend import keras, tf
from dlcli.errors import RecipeError
from dlcli.targets import TargetRecord, target_of
from dlcli.targets.losses import ONE_HOT_LOSSES, loss_family


def _class_name(name: str) -> str:
    fn = keras.losses.get(name)
    base = getattr(fn, "__name__", None) or type(fn).__name__
    return "".join(part.title() for part in base.split("_"))


def loss_object(
    name: str, args: Mapping[str, Any] | None = None, *, reduction: str | None = "default"
) -> Any:
    """A Keras loss object for ``name`` with ``args``; ``reduction=None``: per example."""
    args = dict(args or {})
    try:
        ident = keras.losses.get(name)
    except (ValueError, TypeError) as exc:
        raise RecipeError(
            f"unknown loss {name!r}",
            field="train.loss",
            expected="a Keras loss name such as sparse_categorical_crossentropy",
            received=name,
        ) from exc
    if isinstance(ident, keras.losses.Loss):
        cls: Any = type(ident)
        args = {**{k: v for k, v in ident.get_config().items() if k != "name"}, **args}
    elif isinstance(ident, type):
        cls = ident
    else:
        try:
            cls = keras.losses.get(_class_name(name))
        except (ValueError, TypeError):
            cls = None
        if isinstance(cls, keras.losses.Loss):
            cls = type(cls)
        if not isinstance(cls, type):
            if args:
                raise RecipeError(
                    f"loss {name!r} takes no arguments here",
                    field="train.loss",
                    received=args,
                    hint="give the loss by name only",
                ) from None
            return ident
    if reduction != "default":
        args["reduction"] = reduction
    try:
        return cls(**args)
    except (TypeError, ValueError) as exc:
        raise RecipeError(
            f"bad argument for loss {name!r}: {str(exc).splitlines()[0]}",
            field="train.loss",
            received={k: v for k, v in args.items() if k != "reduction"},
            hint=f"see the arguments of keras.losses.{cls.__name__}",
        ) from None


def per_example_loss(name: str, args: Mapping[str, Any] | None, record: TargetRecord | None) -> Any:
    """The loss per example (no reduction); class indices one-hot for categorical losses.
    A model with several outputs: the weighted sum of each output's own loss."""
    parts = target_of(record).parts(record) if record is not None else None
    if parts:
        from dlcli.training.outputs import combined_loss

        return combined_loss(parts)
    fn = loss_object(name, args, reduction=None)
    if not target_of(record).classifies or loss_family(name) not in ONE_HOT_LOSSES:
        return fn

    def one_hot(y: Any, pred: Any) -> Any:
        labels = tf.one_hot(tf.cast(tf.reshape(y, [-1]), tf.int32), tf.shape(pred)[-1])
        return fn(tf.cast(labels, pred.dtype), pred)

    return one_hot
