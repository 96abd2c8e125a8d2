"""The input shape a recipe's model gets when ``model.input`` is not given.

The data section's kind decides it (:meth:`dlcli.data.kinds.base.DataKind.input_shape`):
image folders give ``(height, width, channels)`` from ``data.image_size`` and
``data.color_mode``; a CSV table gives ``(features,)`` from its header line. With
``model.inputs`` each named input has its own shape: the recipe's ``shape``, else the
kind's (:meth:`~dlcli.data.kinds.base.DataKind.input_shapes`, e.g. a table's columns).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dlcli.errors import ModelBuildError

Shape = tuple[int | None, ...]
InputShape = Sequence[int | None] | Mapping[str, Sequence[int | None]]


def recipe_input_shape(recipe: Any) -> Shape | dict[str, Shape] | None:
    """``recipe.model.input``, else what the data section determines, else None; a dict
    by input name for a model with ``model.inputs``."""
    if recipe.model.inputs:
        return named_input_shapes(recipe.model, _data_shapes(recipe))
    if recipe.model.input is not None:
        return tuple(recipe.model.input)
    if recipe.data is None:
        return None
    from dlcli.data.kinds import kind_of

    return kind_of(recipe.data).input_shape(recipe.data)


def _data_shapes(recipe: Any) -> dict[str, Shape] | None:
    if recipe.data is None or all(i.shape is not None for i in recipe.model.inputs.values()):
        return None
    from dlcli.data.kinds import kind_of

    columns = {name: list(i.columns) for name, i in recipe.model.inputs.items()}
    return kind_of(recipe.data).input_shapes(recipe.data, columns)


def named_input_shapes(spec: Any, given: InputShape | None) -> dict[str, Shape]:
    """Each of ``spec.inputs``' shape: its own ``shape``, else ``given[name]``."""
    shapes: dict[str, Shape] = {}
    for name, each in spec.inputs.items():
        shape = each.shape
        if shape is None and isinstance(given, Mapping):
            shape = given.get(name)
        if shape is None:
            raise ModelBuildError(
                f"model input {name!r} has no shape",
                field=f"model.inputs.{name}",
                hint="give it shape: [...], or a data section whose columns determine it",
            )
        shapes[name] = tuple(shape)
    return shapes
