"""What ``dlcli inspect`` summarises: a recipe (built, untrained) or a saved model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlcli.errors import UsageError

RECIPE_SUFFIXES = (".yaml", ".yml")


def is_recipe(path: Path) -> bool:
    return path.suffix.lower() in RECIPE_SUFFIXES


def model_from_recipe(path: Path, overrides: Sequence[str] = ()) -> Any:
    """Load, validate and build a recipe's model (input shape from the recipe or its data)."""
    from dlcli.modeling.builder import build_model
    from dlcli.modeling.inputs import recipe_input_shape
    from dlcli.recipe import load_recipe

    recipe = load_recipe(path, overrides=list(overrides))
    return build_model(recipe.model, recipe_input_shape(recipe), name=recipe.name)


def load_inspect_model(
    source: Path, *, overrides: Sequence[str] = (), trust_model: bool = False, final: bool = False
) -> Any:
    """The Keras model behind a recipe, a ``.keras`` file or a run directory.

    A run directory gives its ``best.keras`` (``final=True``: its ``model.keras``).
    """
    source = Path(source)
    if is_recipe(source):
        if final:
            raise UsageError(
                "--final picks the last-epoch model of a run directory",
                field="--final",
                received=str(source),
                hint="leave out --final for a recipe",
            )
        return model_from_recipe(source, overrides)
    if overrides:
        raise UsageError(
            "--set applies to recipes only",
            field="--set",
            received=str(source),
            hint="pass a .yaml recipe, or drop --set",
        )
    from dlcli.modeling.loading import resolve_model

    loaded = resolve_model(source, trust=trust_model, final=final)
    if loaded.model is None:
        raise UsageError(
            f"cannot inspect layers of an exported {loaded.format} model",
            file=source,
            hint="inspect the run directory or its .keras file instead",
        )
    return loaded.model
