"""What each layer outputs for one input: the numbers behind ``inspect --activations``.

The model is cut with plain Keras sub-models (``keras.Model(model.inputs, outputs)``),
so the arrays here are exactly what the layers compute in inference mode (dropout off,
batch norm on its moving statistics).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dlcli.errors import UsageError

TOP_MAPS = 16  # strongest feature maps drawn per convolutional layer
TOP_UNITS = 20  # strongest units drawn per dense layer


@dataclass
class LayerActivation:
    """One layer's output for the image (batch axis removed).

    ``kind``: ``maps`` (``H x W x C``: feature maps), ``vector`` (dense units),
    ``probabilities`` (the model output, softmax/sigmoid), ``scores`` (an output
    without softmax: logits), ``sequence`` (``T x C``) or ``other``.
    ``ranked``: channel/unit indices, strongest first (by mean activation for maps,
    by value for vectors), at most TOP_MAPS/TOP_UNITS of them.
    """

    name: str
    type: str
    array: Any
    kind: str
    ranked: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    group: str | None = None  # the Backbone layer a stage panel belongs to

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)


def inspectable_layers(model: Any) -> list[Any]:
    """Layers with an output worth drawing: everything but the input layers."""
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


def select_layers(model: Any, names: list[str]) -> list[Any]:
    """The layers asked for by name (all when ``names`` is empty), in model order."""
    layers = inspectable_layers(model)
    if not names:
        return layers
    by_name = {layer.name: layer for layer in layers}
    missing = [n for n in names if n not in by_name]
    if missing:
        import difflib

        close = difflib.get_close_matches(missing[0], list(by_name), n=3)
        raise UsageError(
            f"model has no layer named {missing[0]!r}",
            field="--layer",
            expected="one of: " + ", ".join(by_name),
            hint=f"did you mean {', '.join(close)}?" if close else "see `dlcli inspect MODEL`",
        )
    wanted = set(names)
    return [layer for layer in layers if layer.name in wanted]


def _is_output(model: Any, layer: Any) -> bool:
    outputs = {id(t) for t in model.outputs}
    try:
        return id(layer.output) in outputs
    except (AttributeError, ValueError):
        return False


def _classify(array: Any, is_output: bool) -> str:
    import numpy as np

    if is_output and array.ndim == 1:
        in_range = bool(np.all(array >= -1e-6) and np.all(array <= 1 + 1e-6))
        if in_range and (array.size == 1 or abs(float(array.sum()) - 1.0) < 1e-3):
            return "probabilities"  # softmax over classes, or one sigmoid unit
        return "scores"  # logits: the model ends without softmax/sigmoid
    return {3: "maps", 1: "vector", 2: "sequence"}.get(array.ndim, "other")


def unit_label(act: LayerActivation, index: int, class_names: Sequence[str] | None) -> str:
    """What unit ``index`` of a layer stands for: a class name on the output, else ``unit i``."""
    if act.kind in ("probabilities", "scores") and class_names:
        if act.array.size == 1 and len(class_names) == 2:
            return f"P({class_names[1]})"  # one sigmoid unit: probability of the second class
        if index < len(class_names):
            return str(class_names[index])
    return f"unit {index}"


def rank(array: Any, kind: str) -> tuple[list[int], list[float]]:
    """Strongest channels (maps: mean activation over H x W) or units (by value)."""
    import numpy as np

    if kind == "maps":
        scores = array.reshape(-1, array.shape[-1]).mean(axis=0)
        limit = TOP_MAPS
    elif kind in ("vector", "probabilities", "scores"):
        scores = array
        limit = TOP_UNITS if kind == "vector" else len(array)
    else:
        return [], []
    order = np.argsort(-scores, kind="stable")[:limit]
    return [int(i) for i in order], [float(scores[i]) for i in order]


def compute_activations(model: Any, image: Any, layers: list[Any]) -> list[LayerActivation]:
    """Run ``image`` (``H x W x C``, as the model's first input wants it) through ``model``
    once and return each requested layer's output."""
    import numpy as np

    from dlcli.backend import keras
    from dlcli.viz.backbone_stages import stage_outputs

    if len(model.inputs) != 1:
        raise UsageError(
            "--activations works on single-input models",
            received=f"{len(model.inputs)} inputs",
        )
    outputs = [layer.output for layer in layers]
    probe = keras.Model(model.inputs[0], outputs)
    batch = np.asarray(image, dtype="float32")[None, ...]
    values = probe(batch, training=False)
    if not isinstance(values, (list, tuple)):
        values = [values]
    result: list[LayerActivation] = []
    for layer, value in zip(layers, values, strict=False):
        for name, about, stage in stage_outputs(model, layer, batch):  # a Backbone's stages
            array = np.asarray(keras.ops.convert_to_numpy(stage))[0]
            kind = _classify(array, False)
            ranked, scores = rank(array, kind)
            result.append(LayerActivation(name, about, array, kind, ranked, scores, [], layer.name))
        array = np.asarray(keras.ops.convert_to_numpy(value))[0]
        kind = _classify(array, _is_output(model, layer))
        ranked, scores = rank(array, kind)
        result.append(
            LayerActivation(layer.name, type(layer).__name__, array, kind, ranked, scores)
        )
    return result
