"""Recipes: YAML in, validated :class:`Recipe` out (no TensorFlow here).

``load_recipe(path, overrides=(), flags=None)`` is the entry point; see
``docs/recipes.md`` for the format and :mod:`dlcli.recipe.loader` for the merge order.
"""

from __future__ import annotations

from typing import Any

from dlcli.recipe.loader import load_recipe, load_recipe_text
from dlcli.recipe.overrides import parse_override
from dlcli.recipe.spec import (
    INPUT,
    CheckpointSpec,
    DataSection,
    EarlyStoppingSpec,
    LayerSpec,
    LRScheduleSpec,
    ModelSpec,
    OptimizerSpec,
    Recipe,
    SourceRef,
    TrainSpec,
)


def recipe_json_schema() -> dict[str, Any]:
    """JSON Schema of the user-facing recipe format (for editors; ``dlcli schema``)."""
    from dlcli.recipe.jsonschema import recipe_json_schema as build

    return build()


__all__ = [
    "INPUT",
    "CheckpointSpec",
    "DataSection",
    "EarlyStoppingSpec",
    "LRScheduleSpec",
    "LayerSpec",
    "ModelSpec",
    "OptimizerSpec",
    "Recipe",
    "SourceRef",
    "TrainSpec",
    "load_recipe",
    "load_recipe_text",
    "parse_override",
    "recipe_json_schema",
]
