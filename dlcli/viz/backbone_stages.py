"""A backbone's stages for ``inspect --activations``: a handful of panels, not 150.

A ``Backbone`` layer is one layer of the recipe model, but a network of a hundred or more
inside. Its stages are the spans of layers working at one spatial resolution (ResNet's
conv2..conv5, MobileNet's blocks between strided convolutions); each is shown by the output
of its last layer, as an image model's stages usually are.
"""

from __future__ import annotations

from typing import Any


def _size(layer: Any) -> tuple[int, int] | None:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return None
    if len(shape) != 4 or shape[1] is None or shape[2] is None:
        return None
    return int(shape[1]), int(shape[2])


def _pads(layer: Any) -> bool:
    """A layer whose output is larger than its input (padding before a strided layer)."""
    try:
        inner = layer.input
    except (AttributeError, ValueError):
        return False
    if not hasattr(inner, "shape") or len(inner.shape) != 4:
        return False
    size = _size(layer)
    return size is not None and inner.shape[1] is not None and size[0] > int(inner.shape[1])


def stage_ends(application: Any) -> list[Any]:
    """The last layer of each spatial resolution on the main path, first stage first.

    The main path holds the layers no later layer outgrows: a squeeze-and-excitation
    block's 1x1 side branch (the network goes back to the larger size after it) is not a
    stage, and padding (its output larger than its input) belongs to none.
    """
    sized = [(layer, _size(layer)) for layer in application.layers if not _pads(layer)]
    sized = [(layer, size[0]) for layer, size in sized if size is not None]
    ends: list[Any] = []
    current: int | None = None
    last = None
    later_max = 0
    main: list[tuple[Any, int]] = []
    for layer, size in reversed(sized):
        if size >= later_max:
            main.append((layer, size))
        later_max = max(later_max, size)
    for layer, size in reversed(main):
        if current is not None and size < current and last is not None:
            ends.append(last)  # downsampled: the stage at ``current`` ended at ``last``
        current, last = size, layer
    if last is not None:
        ends.append(last)
    return ends


def stage_outputs(model: Any, layer: Any, batch: Any) -> list[tuple[str, str, Any]]:
    """(name, description, output with batch axis) per stage of a ``Backbone`` layer, or []."""
    from dlcli.backend import keras

    application = getattr(layer, "application", None)
    preprocessing = getattr(layer, "preprocessing", None)
    if application is None or preprocessing is None:
        return []
    ends = stage_ends(application)
    if not ends:
        return []
    feed = keras.Model(model.inputs[0], layer.input)  # what reaches the backbone
    x = preprocessing(feed(batch, training=False))
    probe = keras.Model(application.inputs[0], [end.output for end in ends])
    values = probe(x, training=False)
    if not isinstance(values, (list, tuple)):
        values = [values]
    result = []
    for k, (end, value) in enumerate(zip(ends, values, strict=True), start=1):
        height, width = value.shape[1], value.shape[2]
        result.append(
            (
                f"{layer.name}.stage{k}",
                f"stage {k} of {len(ends)}: {height}x{width}, ends at {end.name}",
                value,
            )
        )
    return result
