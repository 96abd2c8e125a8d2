"""The input shape a recipe's model gets when ``model.input`` is not given.

Images: ``(height, width, channels)`` from ``data.image_size`` and ``data.color_mode``.
CSV: ``(features,)``: ``data.features`` when listed, else every column of the CSV header
except the label column. Only the header line is read, so inspecting a recipe stays cheap.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from dlcli.errors import DataError
from dlcli.recipe.spec import CHANNELS_BY_COLOR_MODE


def csv_header(path: Path) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            row = next(csv.reader(fh), None)
    except OSError as exc:
        raise DataError(f"cannot read the CSV file: {exc.strerror}", file=path) from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError("not a readable CSV file", file=path, hint=str(exc)) from exc
    if not row:
        raise DataError("the CSV file has no header row", file=path)
    return [name.strip() for name in row]


def recipe_input_shape(recipe: Any) -> tuple[int | None, ...] | None:
    """``recipe.model.input``, else what the data section determines, else None."""
    if recipe.model.input is not None:
        return tuple(recipe.model.input)
    data = recipe.data
    if data is None:
        return None
    if data.kind == "images":
        if data.image_size is None:
            return None
        height, width = (int(v) for v in data.image_size)
        return (height, width, CHANNELS_BY_COLOR_MODE[data.color_mode])
    if data.features:
        return (len(data.features),)
    header = csv_header(Path(data.train))
    if data.label not in header:
        raise DataError(
            f"label column {data.label!r} not in the CSV header",
            file=data.train,
            field="data.label",
            received=header,
        )
    return (len(header) - 1,)
