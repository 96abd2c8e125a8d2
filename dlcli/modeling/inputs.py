"""The input shape a recipe's model gets when ``model.input`` is not given.

The data section's kind decides it (:meth:`dlcli.data.kinds.base.DataKind.input_shape`):
image folders give ``(height, width, channels)`` from ``data.image_size`` and
``data.color_mode``; a CSV table gives ``(features,)`` from its header line.
"""

from __future__ import annotations

from typing import Any


def recipe_input_shape(recipe: Any) -> tuple[int | None, ...] | None:
    """``recipe.model.input``, else what the data section determines, else None."""
    if recipe.model.input is not None:
        return tuple(recipe.model.input)
    if recipe.data is None:
        return None
    from dlcli.data.kinds import kind_of

    return kind_of(recipe.data).input_shape(recipe.data)
