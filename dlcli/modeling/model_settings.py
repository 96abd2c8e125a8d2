"""The class names and preprocessing a model is used with, checked against the model.

They come from a run's ``labels.json``, an export's metadata (beside or inside the file)
or ``--labels``, and decide how every image is decoded and how outputs are named: a wrong
size, colour mode, interpolation or class count must fail at once, naming the file, not
deep inside TensorFlow or as silently wrong answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlcli.errors import ModelLoadError


def no_class_names_warning(model_path: Path, fmt: str) -> str:
    where = (
        "no labels.json beside it"
        if fmt == "keras"
        else "no class names in its metadata sidecar or inside the file"
    )
    return (
        f"{model_path} has no class names ({where}): labels are the output indices "
        "0..N-1; pass --labels FILE (one name per line, in output order) to name them"
    )


def check_image_preprocessing(prep: dict[str, Any], shape: Any, source: Path) -> None:
    """Image settings from labels.json/--labels must be usable and fit the model's input.

    They decide how every image is decoded; a wrong size or colour mode would otherwise
    fail deep inside the model (or TensorFlow) as a runtime error without naming the file.
    """
    from dlcli.data.decode import INTERPOLATIONS
    from dlcli.recipe.spec import CHANNELS_BY_COLOR_MODE, COLOR_MODE_BY_CHANNELS

    if prep.get("kind", "images") != "images":
        return
    size, mode = prep.get("image_size"), prep.get("color_mode")
    if size is not None and not (
        isinstance(size, (list, tuple))
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        raise ModelLoadError(
            "bad image_size",
            file=source,
            expected="[height, width], positive integers",
            received=size,
        )
    if mode is not None and mode not in CHANNELS_BY_COLOR_MODE:
        raise ModelLoadError(
            "bad color_mode", file=source, expected="grayscale, rgb or rgba", received=mode
        )
    interpolation = prep.get("interpolation")
    if interpolation is not None and interpolation not in INTERPOLATIONS:
        raise ModelLoadError(
            "unknown interpolation: images would not be resized as in training",
            file=source,
            field="interpolation",
            expected=" or ".join(INTERPOLATIONS),
            received=interpolation,
        )
    shape = tuple(shape or ())
    if len(shape) != 3:
        return
    if size is not None and all(shape[:2]) and [int(v) for v in shape[:2]] != list(size):
        raise ModelLoadError(
            f"image_size {list(size)} does not fit the model, which takes "
            f"{shape[0]}x{shape[1]} images",
            file=source,
            expected=f"image_size: [{shape[0]}, {shape[1]}]",
        )
    channels = CHANNELS_BY_COLOR_MODE.get(mode) if mode is not None else None
    if channels is not None and shape[2] and channels != int(shape[2]):
        raise ModelLoadError(
            f"color_mode {mode!r} gives {channels} channel(s); the model takes {shape[2]}",
            file=source,
            expected=f"color_mode: {COLOR_MODE_BY_CHANNELS.get(int(shape[2]), '?')}",
        )


def names_or_none(names: Any, where: Path) -> list[str] | None:
    if names is None:
        return None
    if not isinstance(names, list) or not names:
        raise ModelLoadError("class_names must be a non-empty list", file=where, received=names)
    return [str(n) for n in names]


def check_label_count(names: list[str] | None, units: int | None, where: Path) -> None:
    if names is None or units is None:
        return
    if len(names) == units or (units == 1 and len(names) == 2):
        return
    raise ModelLoadError(
        "the number of class names does not match the model's output",
        file=where,
        expected=f"{units} class names (one per output unit)"
        + (" or 2 for a one-unit binary output" if units == 1 else ""),
        received=f"{len(names)} names: {names[:10]}",
    )
