"""Where an explanation looks: the layer Grad-CAM reads, and the class scores it explains.

A model is cut at a layer into a *front* (input -> the layer's output) and a *back* (the
layer's output -> class scores), both plain Keras sub-models run in inference mode, so
``back(front(x))`` is exactly the model. A layer inside a nested model (a ``Sequential``
block, a ``Backbone``'s application) is reached through its container: the front runs up to
the container, then inside it; the back finishes the container, then the rest.

Scores are the class *logits* when the model ends in a softmax or sigmoid (a ``Dense`` with
that activation, or an ``Activation`` layer): Grad-CAM and integrated gradients explain the
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


def _call(model: Any) -> Fn:
    return lambda x: model(x, training=False)


def _node(model: Any, layer: Any) -> Any | None:
    """``layer``'s call inside ``model``'s graph. A loaded ``Sequential`` calls its layers
    more than once while rebuilding, so ``layer.output`` may belong to another graph."""
    graph = getattr(model, "_functional", None) or model
    for nodes in getattr(graph, "_nodes_by_depth", {}).values():
        for node in nodes:
            if node.operation is layer:
                return node
    return None


def output_of(layer: Any, model: Any = None) -> Any | None:
    """``layer``'s output inside ``model``'s graph (any graph's without ``model``)."""
    node = _node(model, layer) if model is not None else None
    if node is not None:
        return node.output_tensors[0]
    try:
        return layer.output
    except (AttributeError, ValueError):
        return None


def input_of(layer: Any, model: Any) -> Any | None:
    """``layer``'s (first) input inside ``model``'s graph; None for an input layer."""
    node = _node(model, layer)
    if node is None:
        return layer.input
    return node.input_tensors[0] if node.input_tensors else None


def _rank(layer: Any) -> int:
    out = output_of(layer)
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
        if output_of(layer, model) is target:
            return layer
    return None


def score_head(model: Any) -> Fn:
    """``x -> class scores`` for ``model``: its logits before a final softmax (or sigmoid),
    else its output. A single output unit (a binary classifier) scores class 1 with it and
    class 0 with its negative, as ``predict`` reads it as ``[1 - p, p]``."""
    last = output_layer(model)
    if last is not None and _activation(last) in ("softmax", "sigmoid"):
        scores = _pre_activation(model, last)
    else:
        scores = lambda x: tf.cast(model(x, training=False), "float32")  # noqa: E731
    if model.outputs[0].shape[-1] == 1:
        return lambda x: _two_classes(scores(x))
    return scores


def _two_classes(score: Tensor) -> Tensor:
    return tf.concat([-score, score], axis=-1)


def _pre_activation(model: Any, last: Any) -> Fn:
    """The scores ``last`` turns into probabilities (a ``Dense``'s ``x W + b``)."""
    before = keras.Model(model.inputs[0], input_of(last, model))
    if not isinstance(last, keras.layers.Dense):  # an Activation layer: its input
        return lambda x: tf.cast(before(x, training=False), "float32")
    kernel, bias = last.kernel, last.bias

    def dense_logits(x: Tensor) -> Tensor:
        h = tf.cast(before(x, training=False), "float32")
        z = tf.matmul(h, tf.cast(kernel, "float32"))
        return z + tf.cast(bias, "float32") if bias is not None else z

    return dense_logits


def _activation(layer: Any) -> str | None:
    if not isinstance(layer, (keras.layers.Dense, keras.layers.Activation)):
        return None
    return getattr(getattr(layer, "activation", None), "__name__", None)


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
    """The path (outer container first) to the last convolution's activated output: the
    last convolution with a ``rank``-D output and the element-wise layers right after it
    (batch norm, activation: same shape), before pooling shrinks it. Without a convolution,
    the last layer with a ``rank``-D output."""
    layers = _layers(model)
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        inner = _inner_model(layer)
        if inner is not None:
            found = last_feature_map_layer(inner[0], rank=rank)
            if found is not None:
                return [layer, *found]
        elif _is_conv(layer) and _rank(layer) == rank:
            return [_activated(model, layers, i)]
    for layer in reversed(layers):
        if _rank(layer) == rank:
            return [layer]
    return None


def _is_conv(layer: Any) -> bool:
    return "Conv" in type(layer).__name__


def _activated(model: Any, layers: list[Any], i: int) -> Any:
    """``layers[i]`` followed through the same-shape, non-convolution layers fed by it."""
    current = layers[i]
    shape = tuple(output_of(current, model).shape)
    for nxt in layers[i + 1 :]:
        fed = input_of(nxt, model) is output_of(current, model)
        out = output_of(nxt, model)
        if not fed or _is_conv(nxt) or out is None or tuple(out.shape) != shape:
            break
        current = nxt
    return current


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
    return Cut(name, _front(model, path), _back(model, path))


def _front(model: Any, path: list[Any]) -> Fn:
    """``x -> the output of path[-1]`` inside ``model``."""
    layer = path[0]
    if len(path) == 1:
        return _call(keras.Model(model.inputs[0], output_of(layer, model)))
    inner, pre = _inner_model(layer)  # type: ignore[misc]
    reach, rest = _reach(model, layer), _front(inner, path[1:])
    return lambda x: rest(pre(reach(x)))


def _back(model: Any, path: list[Any]) -> Fn:
    """``the output of path[-1] -> model's class scores``."""
    layer = path[0]
    if len(path) == 1:
        return score_head(keras.Model(output_of(layer, model), model.outputs[0]))
    inner, _ = _inner_model(layer)  # type: ignore[misc]
    if output_of(layer, model) is model.outputs[0]:  # the container makes the output
        return _back(inner, path[1:])
    tail = _tail(inner, path[1:])
    after = score_head(keras.Model(output_of(layer, model), model.outputs[0]))
    return lambda a: after(tail(a))


def _tail(model: Any, path: list[Any]) -> Fn:
    """``the output of path[-1] -> model's output`` (no scores)."""
    layer = path[0]
    out = output_of(layer, model)
    if len(path) == 1:
        if out is model.outputs[0]:
            return lambda a: a
        return _call(keras.Model(out, model.outputs[0]))
    inner, _ = _inner_model(layer)  # type: ignore[misc]
    tail = _tail(inner, path[1:])
    if out is model.outputs[0]:
        return tail
    rest = _call(keras.Model(out, model.outputs[0]))
    return lambda a: rest(tail(a))


def _reach(model: Any, layer: Any) -> Fn:
    """``x -> what reaches layer`` (its input) inside ``model``."""
    before = input_of(layer, model)
    if before is model.inputs[0]:
        return lambda x: x
    return _call(keras.Model(model.inputs[0], before))


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
        shape = tuple(output_of(path[-1]).shape)  # type: ignore[union-attr]
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
