"""Where an explanation looks: the layer Grad-CAM reads, and the class scores it explains.

A model is cut at a layer into a *front* (input -> the layer's output) and a *back* (the
layer's output -> class scores), both plain Keras sub-models run in inference mode, so
``back(front(x))`` is exactly the model. A layer inside a nested model (a ``Sequential``
block, a ``Backbone``'s application) is reached through its container: the front runs up to
the container, then inside it; the back finishes the container, then the rest.

Scores are the class *logits* when the model ends in a softmax (a ``Dense`` with a softmax
activation, or a softmax ``Activation``): Grad-CAM and integrated gradients explain the
score before the softmax, as in Selvaraju et al. (2017), whose gradients do not vanish when
the model is confident. Any other output is explained as it is.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dlcli.backend import keras, tf
from dlcli.errors import UsageError

Tensor = Any  # a tf.Tensor or NumPy array: Keras models take either
Fn = Callable[[Tensor], Tensor]
SEPARATOR = "/"  # --layer backbone/block_16_project names a layer inside a nested model


@dataclass
class Cut:
    """The model cut at ``layer``: ``scores(back(front(x)))`` are the class scores."""

    name: str  # as --layer takes it (``outer/inner`` inside a nested model)
    front: Fn
    back: Fn  # activation -> class scores (logits where the model has them)
    rank: int  # the layer output's rank with the batch axis (4: feature maps)


def _call(model: Any) -> Fn:
    return lambda x: model(x, training=False)


def _output(layer: Any) -> Any | None:
    try:
        return layer.output
    except (AttributeError, ValueError):
        return None


def _rank(layer: Any) -> int:
    out = _output(layer)
    shape = getattr(out, "shape", None)
    return len(shape) if shape is not None else 0


def _inner_model(layer: Any) -> tuple[Any, Fn] | None:
    """(model, what runs before it inside ``layer``) for a container layer, else None."""
    application = getattr(layer, "application", None)
    preprocessing = getattr(layer, "preprocessing", None)
    if isinstance(application, keras.Model) and preprocessing is not None:  # a Backbone
        return application, _call(preprocessing)
    if isinstance(layer, keras.Model) and getattr(layer, "inputs", None):
        return layer, lambda x: x
    return None


def _layers(model: Any) -> list[Any]:
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def output_layer(model: Any) -> Any | None:
    """The layer whose output is the model's output."""
    target = model.outputs[0]
    for layer in reversed(model.layers):
        if _output(layer) is target:
            return layer
    return None


def score_head(model: Any) -> Fn:
    """``x -> class scores`` for ``model``: its logits before a final softmax, else its output."""
    last = output_layer(model)
    if last is not None and _ends_in_softmax(last):
        before = keras.Model(model.inputs[0], last.input)
        if isinstance(last, keras.layers.Dense):
            kernel, bias = last.kernel, last.bias

            def dense_logits(x: Tensor) -> Tensor:
                h = tf.cast(before(x, training=False), "float32")
                z = tf.matmul(h, tf.cast(kernel, "float32"))
                return z + tf.cast(bias, "float32") if bias is not None else z

            return dense_logits
        return lambda x: tf.cast(before(x, training=False), "float32")
    return lambda x: tf.cast(model(x, training=False), "float32")


def _ends_in_softmax(layer: Any) -> bool:
    activation = getattr(layer, "activation", None)
    if getattr(activation, "__name__", "") != "softmax":
        return False
    return isinstance(layer, (keras.layers.Dense, keras.layers.Activation))


def feature_map_layers(model: Any, prefix: str = "") -> list[str]:
    """Names (``outer/inner`` inside nested models) of layers with 4-D outputs, in order."""
    names: list[str] = []
    for layer in _layers(model):
        inner = _inner_model(layer)
        if inner is not None:
            names += feature_map_layers(inner[0], f"{prefix}{layer.name}{SEPARATOR}")
        elif _rank(layer) == 4:
            names.append(prefix + layer.name)
    return names


def last_feature_map_layer(model: Any, *, rank: int = 4) -> list[Any] | None:
    """The path (outer container first) to the last layer with a ``rank``-D output."""
    for layer in reversed(_layers(model)):
        inner = _inner_model(layer)
        if inner is not None:
            found = last_feature_map_layer(inner[0], rank=rank)
            if found is not None:
                return [layer, *found]
        elif _rank(layer) == rank:
            return [layer]
    return None


def find_path(model: Any, name: str) -> list[Any] | None:
    """``name`` (``layer``, ``outer/inner``, or an inner layer's own name) as a layer path."""
    head, _, rest = name.partition(SEPARATOR)
    for layer in _layers(model):
        inner = _inner_model(layer)
        if layer.name == head:
            if not rest:
                return [layer]
            found = find_path(inner[0], rest) if inner is not None else None
            return [layer, *found] if found is not None else None
    if rest:
        return None
    for layer in _layers(model):  # an inner layer named on its own
        inner = _inner_model(layer)
        found = find_path(inner[0], name) if inner is not None else None
        if found is not None:
            return [layer, *found]
    return None


def cut_at(model: Any, path: list[Any]) -> Cut:
    """The model cut after the last layer of ``path`` (containers first)."""
    name = SEPARATOR.join(layer.name for layer in path)
    return Cut(name, _front(model, path), _back(model, path), _rank(path[-1]))


def _front(model: Any, path: list[Any]) -> Fn:
    """``x -> the output of path[-1]`` inside ``model``."""
    layer = path[0]
    if len(path) == 1:
        return _call(keras.Model(model.inputs[0], layer.output))
    inner, pre = _inner_model(layer)  # type: ignore[misc]
    reach, rest = _reach(model, layer), _front(inner, path[1:])
    return lambda x: rest(pre(reach(x)))


def _back(model: Any, path: list[Any]) -> Fn:
    """``the output of path[-1] -> model's class scores``."""
    layer = path[0]
    if len(path) == 1:
        return score_head(keras.Model(layer.output, model.outputs[0]))
    inner, _ = _inner_model(layer)  # type: ignore[misc]
    if layer.output is model.outputs[0]:  # the container makes the output: its scores
        return _back(inner, path[1:])
    tail = _tail(inner, path[1:])
    after = score_head(keras.Model(layer.output, model.outputs[0]))
    return lambda a: after(tail(a))


def _tail(model: Any, path: list[Any]) -> Fn:
    """``the output of path[-1] -> model's output`` (no scores)."""
    layer = path[0]
    if len(path) == 1:
        if layer.output is model.outputs[0]:
            return lambda a: a
        return _call(keras.Model(layer.output, model.outputs[0]))
    inner, _ = _inner_model(layer)  # type: ignore[misc]
    tail = _tail(inner, path[1:])
    if layer.output is model.outputs[0]:
        return tail
    rest = _call(keras.Model(layer.output, model.outputs[0]))
    return lambda a: rest(tail(a))


def _reach(model: Any, layer: Any) -> Fn:
    """``x -> what reaches layer`` (its input) inside ``model``."""
    if layer.input is model.inputs[0]:
        return lambda x: x
    return _call(keras.Model(model.inputs[0], layer.input))


def gradcam_cut(model: Any, layer: str | None, *, rank: int = 4) -> Cut:
    """Where Grad-CAM looks: ``layer`` by name, else the last layer with feature maps."""
    if layer is None:
        path = last_feature_map_layer(model, rank=rank)
        if path is None:
            what = "feature maps (height x width x channels)" if rank == 4 else "a sequence"
            raise UsageError(
                f"Grad-CAM needs a layer that outputs {what}; this model has none",
                field="--method",
                expected="a convolutional model",
                hint="use --method saliency or --method integrated_gradients",
            )
        return cut_at(model, path)
    path = find_path(model, layer)
    if path is None:
        raise _unknown_layer(model, layer)
    if _rank(path[-1]) < 3:
        shape = tuple(_output(path[-1]).shape)  # type: ignore[union-attr]
        raise UsageError(
            f"layer {layer!r} outputs {shape}: Grad-CAM needs feature maps",
            field="--layer",
            expected="a layer with a spatial output, one of: " + _listing(model),
        )
    return cut_at(model, path)


def _listing(model: Any, limit: int = 12) -> str:
    names = feature_map_layers(model) or [layer.name for layer in _layers(model)]
    if len(names) > limit:
        return ", ".join([*names[: limit // 2], "...", *names[-limit // 2 :]])
    return ", ".join(names)


def _unknown_layer(model: Any, name: str) -> UsageError:
    close = difflib.get_close_matches(name, feature_map_layers(model), n=3)
    return UsageError(
        f"model has no layer named {name!r}",
        field="--layer",
        expected="a layer with feature maps, one of: " + _listing(model),
        hint=f"did you mean {', '.join(close)}?" if close else "see `dlcli inspect MODEL`",
    )
