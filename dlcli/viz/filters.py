"""Convolution kernels as pictures: the numbers behind ``inspect --filters``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dlcli.errors import UsageError

MAX_FILTERS = 64  # output filters drawn
MAX_INPUTS = 16  # input channels drawn per filter (grayscale tiles)


@dataclass
class FilterTiles:
    """A conv layer's kernel (``kh x kw x in x out``) and the tiles drawn from it.

    ``colour``: the layer reads 3 channels (an RGB image), so each output filter is one
    RGB tile, ``tiles[o] == kernel[:, :, :, o]``. Otherwise ``tiles[o, i]`` is the
    ``kh x kw`` slice ``kernel[:, :, i, o]`` (one row per filter, one column per input).
    """

    layer: str
    type: str
    kernel: Any
    tiles: Any
    colour: bool
    shown_filters: int
    shown_inputs: int


def conv_layers(model: Any) -> list[Any]:
    """Layers with a 2-D convolution kernel (``kh x kw x in x out``)."""
    found = []
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and len(kernel.shape) == 4:
            found.append(layer)
    return found


def find_conv_layer(model: Any, name: str | None) -> Any:
    convs = conv_layers(model)
    if not convs:
        raise UsageError("the model has no 2-D convolution layer", field="--filters")
    if name is None or name in ("", "first", "auto"):
        return convs[0]
    for layer in convs:
        if layer.name == name:
            return layer
    others = [layer.name for layer in model.layers]
    if name in others:
        raise UsageError(
            f"layer {name!r} has no 2-D convolution kernel",
            field="--filters",
            expected="one of: " + ", ".join(layer.name for layer in convs),
        )
    import difflib

    close = difflib.get_close_matches(name, [layer.name for layer in convs], n=3)
    raise UsageError(
        f"model has no layer named {name!r}",
        field="--filters",
        expected="one of: " + ", ".join(layer.name for layer in convs),
        hint=f"did you mean {', '.join(close)}?" if close else None,
    )


def kernel_tiles(layer: Any) -> FilterTiles:
    import numpy as np

    from dlcli.backend import keras

    kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel), dtype=np.float32)
    _, _, inputs, outputs = kernel.shape
    shown_out = min(outputs, MAX_FILTERS)
    colour = inputs == 3
    if colour:
        tiles = np.transpose(kernel[..., :shown_out], (3, 0, 1, 2))
        shown_in = 3
    else:
        shown_in = min(inputs, MAX_INPUTS)
        tiles = np.transpose(kernel[:, :, :shown_in, :shown_out], (3, 2, 0, 1))
    return FilterTiles(layer.name, type(layer).__name__, kernel, tiles, colour, shown_out, shown_in)
