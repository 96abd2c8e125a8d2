"""Per-layer parameter counts, output shapes and FLOPs of a built Keras model.

FLOPs are per sample (batch axis excluded), for inference, with this convention:

- Multiply-adds count 2 (one multiply, one add). Bias additions are not counted.
- ``Dense`` (on any rank): ``2 * in_features * units * positions``, positions = output
  elements / units (1 for a flat input).
- ``Conv1D/2D/3D``: ``2 * output positions * (kernel elements * in_channels / groups) *
  filters``, i.e. 2 x output positions x size of the kernel tensor.
  ``DepthwiseConv``: ``2 * output positions * kernel elements * in_channels * multiplier``.
  ``SeparableConv``: the depthwise part plus a 1x1 pointwise ``Conv``.
  ``ConvTranspose``: ``2 * input positions * size of the kernel tensor`` (each input value
  is scattered through the whole kernel).
- Recurrent (``SimpleRNN``/``GRU``/``LSTM``): ``2 * timesteps * gates * (in + units) * units``
  with gates 1/3/4.
- Pooling: one operation per element of each window (``output elements * window size``);
  global pooling: one per input element.
- ``BatchNormalization``: 2 per element (scale and shift, folded at inference); other
  normalizations: 5 per element (mean, variance, normalize, scale, shift). ``Rescaling``: 2.
- Activation layers, and an activation fused into a layer (``activation: relu``): 1 per
  output element. Merging ``Add``/``Multiply``/...: (inputs - 1) per output element.
- Reshaping, padding, cropping, up-sampling, concatenation, dropout/noise and augmentation
  layers (identity at inference), embeddings (lookups): 0.
- Anything else that has weights: unknown (``None``), listed in ``flops_unknown``; totals
  then cover the known layers only. Unknown sizes (``None`` axes) also give ``None``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

_ZERO = frozenset(
    {
        "InputLayer",
        "Flatten",
        "Reshape",
        "Permute",
        "RepeatVector",
        "Cropping1D",
        "Cropping2D",
        "Cropping3D",
        "ZeroPadding1D",
        "ZeroPadding2D",
        "ZeroPadding3D",
        "UpSampling1D",
        "UpSampling2D",
        "UpSampling3D",
        "Concatenate",
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "AlphaDropout",
        "GaussianDropout",
        "GaussianNoise",
        "ActivityRegularization",
        "Identity",
        "Masking",
        "Embedding",
        "CenterCrop",
        "Resizing",
    }
)
_ONE_PER_ELEMENT = ["Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"]
_MERGE = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]
_RNN_GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}


@dataclass
class LayerRow:
    index: int
    name: str
    type: str
    output_shape: list[int | None] | list[list[int | None]]
    params: int
    trainable_params: int
    flops: int | None
    frozen: bool = False  # holds weights but ``trainable`` is off (a frozen backbone)


@dataclass
class ModelSummary:
    name: str
    layers: list[LayerRow]
    total_params: int
    trainable_params: int
    non_trainable_params: int
    total_flops: int
    weight_bytes: int
    input_shape: list[int | None] | None = None
    output_shape: list[int | None] | None = None
    flops_unknown: list[str] = field(default_factory=list)
    # named outputs (model.outputs): output name -> its shape, in name order
    outputs: dict[str, list[int | None]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _shape(tensor: Any) -> tuple[int | None, ...]:
    return tuple(None if d is None else int(d) for d in tensor.shape)


def _io_shapes(layer: Any) -> tuple[list[tuple], list[tuple]]:
    """Input and output shapes (with batch axis) of a layer used once in a graph."""

    def shapes(attr: str) -> list[tuple]:
        try:
            value = getattr(layer, attr)
        except Exception:  # shared layers / unbuilt layers have no single input
            return []
        items = value if isinstance(value, (list, tuple)) else [value]
        return [_shape(t) for t in items if hasattr(t, "shape")]

    return shapes("input"), shapes("output")


def _elements(shape: tuple[int | None, ...]) -> int | None:
    dims = shape[1:]
    if any(d is None for d in dims):
        return None
    return math.prod(dims)  # type: ignore[arg-type]


def _weight_size(layer: Any, attr: str) -> int:
    return math.prod(int(d) for d in getattr(layer, attr).shape)


def _positions(shape: tuple[int | None, ...], data_format: str | None) -> int | None:
    """Spatial positions of an N-D feature map (channels excluded)."""
    spatial = shape[2:] if data_format == "channels_first" else shape[1:-1]
    if any(d is None for d in spatial):
        return None
    return math.prod(spatial)  # type: ignore[arg-type]


def _fused_activation(layer: Any, out_elems: int | None) -> int:
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None)
    if activation is None or name == "linear" or out_elems is None:
        return 0
    return out_elems


def layer_flops(layer: Any) -> int | None:
    """FLOPs per sample of one layer, by the module's convention (None when unknown)."""
    kind = type(layer).__name__
    ins, outs = _io_shapes(layer)
    if kind in _ZERO or "Random" in kind or kind in ("AugMix", "CutMix", "MixUp", "RandAugment"):
        return 0
    from dlcli.backend import keras

    if isinstance(layer, keras.Model):  # a nested model: its layers' sum
        return summarize(layer).total_flops
    inner = getattr(layer, "application", None)  # a Backbone: its keras.applications model's
    if isinstance(inner, keras.Model):
        return summarize(inner).total_flops
    if not ins or not outs:
        return None if layer.weights else 0
    in_shape, out_shape = ins[0], outs[0]
    out_elems = _elements(out_shape)
    in_elems = _elements(in_shape)
    fmt = getattr(layer, "data_format", None)
    flops: int | None
    if kind == "Dense":
        if out_elems is None:
            return None
        positions = out_elems // layer.units
        flops = 2 * positions * _weight_size(layer, "kernel")
    elif kind in ("Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D"):
        positions = _positions(out_shape, fmt)
        if positions is None:
            return None
        flops = 2 * positions * _weight_size(layer, "kernel")
    elif kind in ("SeparableConv1D", "SeparableConv2D"):
        positions = _positions(out_shape, fmt)
        if positions is None:
            return None
        depthwise = _weight_size(layer, "depthwise_kernel")
        pointwise = _weight_size(layer, "pointwise_kernel")
        flops = 2 * positions * (depthwise + pointwise)
    elif kind in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"):
        positions = _positions(in_shape, fmt)
        if positions is None:
            return None
        flops = 2 * positions * _weight_size(layer, "kernel")
    elif kind in _RNN_GATES:
        if len(in_shape) != 3 or in_shape[1] is None or in_shape[2] is None:
            return None
        units = int(layer.units)
        flops = 2 * in_shape[1] * _RNN_GATES[kind] * (in_shape[2] + units) * units
    elif "Global" in kind and "Pool" in kind:
        return in_elems
    elif "Pool" in kind and hasattr(layer, "pool_size"):
        if out_elems is None:
            return None
        return out_elems * math.prod(int(p) for p in layer.pool_size)
    elif kind == "BatchNormalization" or kind == "Rescaling":
        return None if out_elems is None else 2 * out_elems
    elif "Normalization" in kind:
        return None if out_elems is None else 5 * out_elems
    elif kind in _ONE_PER_ELEMENT:
        return out_elems
    elif kind in _MERGE:
        return None if out_elems is None else (len(ins) - 1) * out_elems
    else:
        return None if layer.weights else 0
    return flops + _fused_activation(layer, out_elems)


def _weight_bytes(weights: list[Any]) -> int:
    total = 0
    for w in weights:
        itemsize = _itemsize(str(getattr(w, "dtype", "float32")))
        total += math.prod(int(d) for d in w.shape) * itemsize
    return total


def _itemsize(dtype: str) -> int:
    dtype = dtype.rsplit(".", 1)[-1].strip("'>")
    digits = "".join(ch for ch in dtype if ch.isdigit())
    if dtype == "bool":
        return 1
    return max(1, int(digits) // 8) if digits else 4


def _count(weights: list[Any]) -> int:
    return sum(math.prod(int(d) for d in w.shape) for w in weights)


def _out_shape(outs: list[tuple]) -> Any:
    if not outs:
        return []
    if len(outs) == 1:
        return list(outs[0])
    return [list(s) for s in outs]


def summarize(model: Any) -> ModelSummary:
    """Rows for every layer of ``model`` (index 0 = the input layer) and the totals."""
    rows: list[LayerRow] = []
    unknown: list[str] = []
    start = 0 if model.layers and type(model.layers[0]).__name__ == "InputLayer" else 1
    for index, layer in enumerate(model.layers, start=start):
        _, outs = _io_shapes(layer)
        flops = layer_flops(layer)
        if flops is None:
            unknown.append(layer.name)
        rows.append(
            LayerRow(
                index=index,
                name=layer.name,
                type=type(layer).__name__,
                output_shape=_out_shape(outs),
                params=_count(layer.weights),
                trainable_params=_count(layer.trainable_weights),
                flops=flops,
                frozen=bool(layer.weights) and not layer.trainable,
            )
        )
    total = _count(model.weights)
    trainable = _count(model.trainable_weights)
    inputs = getattr(model, "inputs", None) or []
    outputs = getattr(model, "outputs", None) or []
    return ModelSummary(
        name=model.name,
        layers=rows,
        total_params=total,
        trainable_params=trainable,
        non_trainable_params=total - trainable,
        total_flops=sum(r.flops or 0 for r in rows),
        weight_bytes=_weight_bytes(model.weights),
        input_shape=list(_shape(inputs[0])) if len(inputs) == 1 else None,
        output_shape=list(_shape(outputs[0])) if len(outputs) == 1 else None,
        flops_unknown=unknown,
        outputs=_named_outputs(model),
    )


def _named_outputs(model: Any) -> dict[str, list[int | None]] | None:
    named = getattr(model, "output", None)
    if not isinstance(named, dict):
        return None
    return {name: list(_shape(named[name])) for name in sorted(named)}
