"""``dlcli inspect RECIPE_OR_MODEL``: layers, shapes, parameters, FLOPs; or pictures of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

HELP = """Show a model's layers: output shape, parameters and FLOPs per sample, with totals
(parameters, trainable, non-trainable, FLOPs, weight memory).

RECIPE_OR_MODEL is a recipe (.yaml: the model is built, untrained; --set key=value
overrides apply), a .keras file, or a run directory (its best.keras, the best epoch,
else model.keras; --final picks model.keras, the last epoch). Model files load with
Keras' safe mode; --trust-model lifts it (only for files you trust). Layers that hold
weights but do not train are marked (frozen); with train.stages, each stage's trainable
parameters follow the table (a recipe's table shows its first stage).

Pictures instead of the table: --activations IMAGE (each layer's output for one image,
trained models only; --layer NAME to pick layers), --filters LAYER (a convolution's
kernels), --graph PATH (the layer graph as PNG/SVG, or - for a tree on stdout). They are
saved under --out DIR (default: next to the model).
"""


def register(app: typer.Typer) -> None:
    @app.command("inspect", help=HELP)
    def inspect_command(
        source: Path = typer.Argument(
            ..., metavar="RECIPE_OR_MODEL", help="Recipe (.yaml), .keras file or run directory."
        ),
        set_values: list[str] | None = typer.Option(
            None, "--set", help="Recipe override key.path=value (repeatable)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
        trust_model: bool = typer.Option(
            False, "--trust-model", help="Allow models that run code when loaded (unsafe)."
        ),
        activations: Path | None = typer.Option(
            None, "--activations", help="Image to run through a trained model; draw each layer."
        ),
        layer: list[str] | None = typer.Option(
            None, "--layer", help="With --activations: only this layer (repeatable)."
        ),
        filters: str | None = typer.Option(
            None, "--filters", help="Draw this convolution layer's kernels ('first' = the first)."
        ),
        graph: Path | None = typer.Option(
            None, "--graph", help="Write the layer graph to PATH (.png/.svg), or - for stdout."
        ),
        out: Path | None = typer.Option(None, "--out", help="Folder for the pictures."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing pictures."),
        final: bool = typer.Option(
            False, "--final", help="With a run directory: model.keras (last epoch), not best."
        ),
    ) -> int:
        return run_inspect(
            source,
            set_values=list(set_values or []),
            as_json=as_json,
            trust_model=trust_model,
            activations=activations,
            layers=list(layer or []),
            filters=filters,
            graph=graph,
            out=out,
            overwrite=overwrite,
            final=final,
        )


def run_inspect(
    source: Path,
    *,
    set_values: list[str] | None = None,
    as_json: bool = False,
    trust_model: bool = False,
    activations: Path | None = None,
    layers: list[str] | None = None,
    filters: str | None = None,
    graph: Path | None = None,
    out: Path | None = None,
    overwrite: bool = False,
    final: bool = False,
) -> int:
    from dlcli.console import make_console
    from dlcli.errors import UsageError

    console = make_console()
    set_values = list(set_values or [])
    layers = list(layers or [])
    views = activations is not None or filters is not None or graph is not None or layers
    if views:
        conflicting = "--json" if as_json else "--set" if set_values else None
        if conflicting:
            raise UsageError(
                f"{conflicting} cannot be combined with --activations/--filters/--graph",
                field=conflicting,
                hint="run the table and the pictures as two commands",
            )
        from dlcli.viz.inspect_views import run_views

        return run_views(
            source,
            activations=activations,
            layers=layers,
            filters=filters,
            graph=graph,
            out=out,
            trust_model=trust_model,
            overwrite=overwrite,
            console=console,
            final=final,
        )
    if out is not None:
        raise UsageError("--out is for pictures", field="--out", hint="add --graph/--activations")

    from dlcli.modeling.inspection import load_inspect_model
    from dlcli.modeling.loading import chosen_model_path
    from dlcli.modeling.summary import summarize
    from dlcli.render.inspect_output import render_summary, summary_json

    model = load_inspect_model(source, overrides=set_values, trust_model=trust_model, final=final)
    stages = _stages(source, set_values, model)
    summary = summarize(model)
    shown = str(chosen_model_path(source, final=final))  # a run directory: which file
    from dlcli.modeling.text_inspection import tokenizer_lines

    text_lines = tokenizer_lines(model)  # vocabulary, max_length, a sample's ids
    if as_json:
        payload = summary_json(summary, shown, stages)
        if text_lines:
            payload["tokenizer"] = text_lines
        typer.echo(json.dumps(payload, indent=2))
    else:
        render_summary(console, summary, shown, stages)
        for line in text_lines:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    return 0


def _stages(source: Path, set_values: list[str], model: Any) -> list[dict[str, Any]] | None:
    """``train.stages`` of a recipe (or of a run's recipe.yaml): parameters per stage."""
    from dlcli.errors import DlcliError
    from dlcli.modeling.inspection import is_recipe
    from dlcli.recipe import load_recipe
    from dlcli.training.stages import inspect_stages

    if is_recipe(source):
        return inspect_stages(model, load_recipe(source, set_values), as_first_stage=True)
    saved = source / "recipe.yaml"
    if source.is_dir() and saved.is_file():
        try:
            recipe = load_recipe(saved)
        except DlcliError:
            return None  # a run from an older recipe format: the table alone
        return inspect_stages(model, recipe, as_first_stage=False)
    return None
