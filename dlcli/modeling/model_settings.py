"""The class names and preprocessing a model is used with, checked against the model.

They come from a run's ``labels.json``, an export's metadata (beside or inside the file)
or ``--labels``, and decide how outputs are named: a wrong class count must fail at once,
naming the file, not as silently wrong answers. The preprocessing itself is read and
checked against the model by its data kind (:mod:`dlcli.data.kinds.labels`).
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
