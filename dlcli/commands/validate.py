"""``dlcli validate RECIPE``: check a recipe (and, unless --no-build, build its model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

HELP = """Check a recipe without training: keys, layer names and arguments, layer references; then (unless --no-build) build the model so shape mismatches show up too.

Exit 0 with a short summary, or exit 2 listing every problem as file:line:column.
"""  # noqa: E501


def register(app: typer.Typer) -> None:
    @app.command("validate", help=HELP)
    def validate_command(
        recipe: Path = typer.Argument(..., metavar="RECIPE", help="Recipe file (.yaml)."),
        set_values: list[str] | None = typer.Option(
            None, "--set", help="Override key.path=value (repeatable), e.g. train.epochs=3."
        ),
        no_build: bool = typer.Option(
            False, "--no-build", help="Check the recipe only; do not build the model (no TF)."
        ),
    ) -> int:
        return run_validate(recipe, set_values=list(set_values or []), build=not no_build)


def run_validate(recipe_path: Path, *, set_values: list[str], build: bool = True) -> int:
    from dlcli.console import make_console
    from dlcli.recipe import load_recipe

    recipe = load_recipe(recipe_path, overrides=set_values)
    console = make_console()
    lines = [
        ("name", recipe.name),
        ("layers", str(len(recipe.model.layers))),
        ("data", _data_text(recipe)),
        ("epochs", str(recipe.train.epochs)),
    ]
    if recipe.train.stages:
        from dlcli.recipe.stages import describe_stages

        lines.append(("stages", describe_stages(recipe.train.stages)))
    if build:
        from dlcli.modeling.inputs import recipe_input_shape

        shape = recipe_input_shape(recipe)
        if shape is None:
            lines.append(("build", "skipped: no model.input and nothing in data to derive it"))
        else:
            from dlcli.modeling.builder import build_model
            from dlcli.training.setup import make_optimizer

            model = build_model(recipe.model, shape, name=recipe.name)
            if recipe.train.stages:  # from: BACKBONE/LAYER needs the built backbone
                from dlcli.training.stages import check_stages

                names = [layer.name for layer in recipe.model.layers]
                check_stages(model, names, recipe.train)
            if isinstance(shape, dict):  # model.inputs: one line per named input
                for name, each in recipe.model.inputs.items():
                    lines.append((f"input {name}", _dims(shape[name], each.dtype)))
            else:
                lines.append(("input", _dims(shape, recipe.model.input_dtype)))
            named = getattr(model, "output", None)
            if isinstance(named, dict):  # model.outputs: one line per named output
                layers = recipe.model.outputs or {}
                for name, tensor in named.items():
                    dims = _dims(tuple(tensor.shape[1:]), None)
                    lines.append((f"output {name}", f"{dims} from layer {layers.get(name)}"))
            lines.append(("params", f"{model.count_params():,}"))
            # Optimizer arguments are Keras's to check: create it, as training will.
            _, learning_rate = make_optimizer(recipe.train.optimizer, "float32")
            lines.append(("optimizer", f"{recipe.train.optimizer.name}, lr {learning_rate:g}"))
    console.print(f"ok: {recipe_path} is a valid recipe", markup=False)
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        console.print(f"  {key.ljust(width)}  {value}", markup=False)
    return 0


def _dims(shape: tuple[int | None, ...], dtype: str | None) -> str:
    dims = "x".join("?" if d is None else str(d) for d in shape)
    if not shape:  # one value per example: raw text
        dims = "one value per example"
    return dims + (f" ({dtype})" if dtype else "")


def _data_text(recipe: Any) -> str:
    data = recipe.data
    if data is None:
        return "none"
    from dlcli.data.kinds import kind_of

    return kind_of(data).describe(data)
