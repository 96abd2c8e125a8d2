"""``dlcli inspect --activations/--filters/--graph``: load, compute, draw, preview.

``dlcli.commands.inspect_cmd`` calls :func:`run_views`. Everything drawn is also saved
as raw numbers (``.npy`` beside each PNG) so a picture can be checked against the
model, and nothing is written until every output path has been checked: a refused
``--overwrite`` leaves the folder as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlcli.data.kinds.base import Preprocessing
from dlcli.errors import DataError, UsageError

RECIPE_SUFFIXES = (".yaml", ".yml")


@dataclass
class Source:
    model: Any
    class_names: list[str] | None
    preprocessing: Preprocessing | None  # None: nothing tells what data the model takes
    stem: Path  # default output folders are named after this
    from_recipe: bool


def load_source(
    source: Path, trust_model: bool, *, need_weights: bool, final: bool = False
) -> Source:
    source = Path(source)
    if source.suffix.lower() in RECIPE_SUFFIXES:
        if need_weights:
            raise UsageError(
                "a recipe has no trained weights to look at",
                field="--activations/--filters",
                received=str(source),
                hint="pass a run directory or a .keras file; --graph works with a recipe",
            )
        from dlcli.modeling.builder import build_model
        from dlcli.modeling.inputs import recipe_input_shape
        from dlcli.recipe import load_recipe

        recipe = load_recipe(source)
        data = recipe.data
        model = build_model(recipe.model, recipe_input_shape(recipe), name=recipe.name)
        prep = None
        if data is not None:
            from dlcli.data.kinds import kind_of

            prep = kind_of(data).recipe_preprocessing(data)
        return Source(model, None, prep, source.with_suffix(""), True)
    from dlcli.modeling.loading import resolve_model

    loaded = resolve_model(source, trust=trust_model, final=final)
    run_dir = getattr(loaded, "run_dir", None)
    # resolve(): `dlcli inspect .` inside a run must not produce "._activations".
    stem = Path(run_dir) if run_dir else (source if source.is_dir() else source.with_suffix(""))
    stem = stem.resolve() if stem.name in ("", ".", "..") else stem
    names = getattr(loaded, "class_names", None)
    return Source(
        loaded.model,
        list(names) if names else None,
        loaded.preprocessing,
        stem,
        False,
    )


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "layer"


def _image_for(src: Source, path: Path) -> Any:
    """One input read from ``path`` as the model's data kind reads it (images: decoded like
    training did, with the run's image size and colour mode, else the model's)."""
    from dlcli.data.kinds import get_kind, kind_for_shape

    shape = tuple(src.model.inputs[0].shape[1:])
    if src.preprocessing is not None:
        kind = get_kind(src.preprocessing.kind)
    else:
        claimed = kind_for_shape(shape, src.model)
        if claimed is None:
            raise UsageError(
                "--activations cannot tell what data this model reads",
                expected="an input of shape (height, width, channels)",
                received=str(shape),
            )
        kind = claimed[0]
    return kind.activation_input(src.preprocessing, shape, path)


def _reads_text(model: Any) -> bool:
    """A model with a tokeniser: ``--activations`` takes its text (or a .txt file)."""
    from dlcli.modeling.text_inspection import tokenizer_of

    return tokenizer_of(model) is not None


def _check_all(paths: list[Path], overwrite: bool) -> None:
    from dlcli.atomic import check_writable

    for path in paths:
        check_writable(path, overwrite=overwrite)


def activations_view(
    src: Source,
    image_path: Path,
    layer_names: list[str],
    out: Path | None,
    overwrite: bool,
    console: Any,
) -> list[Any]:
    """Per-layer PNG + ``.npy`` (the layer output, batch axis removed) and overview.png."""
    import numpy as np

    from dlcli.atomic import atomic_path
    from dlcli.viz import figures
    from dlcli.viz.activations import compute_activations, inspectable_layers, select_layers
    from dlcli.viz.preview import preview_activation

    image = _image_for(src, Path(image_path))
    layers = select_layers(src.model, layer_names)
    acts = compute_activations(src.model, image, layers)
    folder = out or Path(f"{src.stem}_activations")
    # Numbered by position in the model, so `--layer` runs name files the same way.
    position = {layer.name: i for i, layer in enumerate(inspectable_layers(src.model), start=1)}
    width = len(str(len(position)))
    bases = [folder / f"{position[a.group or a.name]:0{width}d}_{_safe(a.name)}" for a in acts]
    targets = [folder / "overview.png"]
    for base in bases:
        targets += [Path(f"{base}.png"), Path(f"{base}.npy")]
    _check_all(targets, overwrite)
    for act, base in zip(acts, bases, strict=True):
        png, npy = Path(f"{base}.png"), Path(f"{base}.npy")
        figures.save_layer_png(act, png, src.class_names)
        with atomic_path(npy) as tmp, open(tmp, "wb") as fh:
            np.save(fh, act.array)
        act.files = [str(png), str(npy)]
    figures.save_overview_png(image, acts, folder / "overview.png", src.class_names)
    for act in acts:
        preview_activation(act, console, src.class_names)
    console.print(f"overview: {folder / 'overview.png'}", markup=False, soft_wrap=True)
    return acts


def filters_view(
    src: Source, name: str | None, out: Path | None, overwrite: bool, console: Any
) -> Any:
    """The conv kernel as tiles (PNG) and as numbers (``<layer>_kernel.npy``)."""
    import numpy as np

    from dlcli.atomic import atomic_path
    from dlcli.viz.filter_figure import save_filters_png
    from dlcli.viz.filters import find_conv_layer, kernel_tiles
    from dlcli.viz.preview import preview_filters

    layer = find_conv_layer(src.model, name)
    tiles = kernel_tiles(layer)
    folder = out or Path(f"{src.stem}_filters")
    png = folder / f"{_safe(layer.name)}_filters.png"
    npy = folder / f"{_safe(layer.name)}_kernel.npy"
    _check_all([png, npy], overwrite)
    kh, kw, cin, cout = tiles.kernel.shape
    if tiles.colour:
        how = "RGB colour, one tile per filter"
    elif cin == 1:
        how = "one tile per filter"
    else:
        how = f"row per filter, column per input channel (first {tiles.shown_inputs})"
    title = (
        f"{layer.name} ({tiles.type}) kernels {kh}x{kw}, {cin} in, {cout} out\n"
        f"{tiles.shown_filters} filters: {how}; red positive, blue negative"
        if not tiles.colour
        else f"{layer.name} ({tiles.type}) kernels {kh}x{kw}, {cin} in, {cout} out\n"
        f"{tiles.shown_filters} filters: {how}, each scaled to its own range"
    )
    save_filters_png(
        tiles.tiles,
        png,
        title=title,
        colour=tiles.colour,
        row_labels=[f"f{o}" for o in range(tiles.shown_filters)],
    )
    with atomic_path(npy) as tmp, open(tmp, "wb") as fh:
        np.save(fh, tiles.kernel)
    preview_filters(tiles, console, title)
    console.print(f"wrote {png}", markup=False, soft_wrap=True)
    console.print(f"wrote {npy}", markup=False, soft_wrap=True)
    return tiles


def graph_view(src: Source, target: Path, overwrite: bool, console: Any) -> None:
    from dlcli.console import is_interactive
    from dlcli.viz.graph import graph_text, graph_tree, model_graph, write_graph

    nodes = model_graph(src.model)
    title = f"{src.model.name}: {len(nodes)} layers"
    if str(target) == "-":
        if is_interactive(console):
            console.print(graph_tree(nodes, title=title))
        else:
            console.out(graph_text(nodes, title=title), end="", highlight=False)
        return
    _check_all([target], overwrite)
    write_graph(nodes, target, title=title)
    if is_interactive(console):
        console.print(graph_tree(nodes, title=title))
    console.print(f"wrote {target}", markup=False, soft_wrap=True)


def run_views(
    source: Path,
    *,
    activations: Path | None,
    layers: list[str],
    filters: str | None,
    graph: Path | None,
    out: Path | None,
    trust_model: bool,
    overwrite: bool,
    console: Any,
    final: bool = False,
) -> int:
    """Draw what was asked for; return the exit code (0). User errors raise DlcliError.

    ``graph`` may be ``Path("-")`` for the tree on stdout only.
    """
    if layers and activations is None:
        raise UsageError(
            "--layer selects layers for --activations",
            field="--layer",
            hint="add --activations IMAGE",
        )
    if activations is None and filters is None and graph is None:
        raise UsageError("nothing to draw", hint="pass --activations, --filters or --graph")
    src = load_source(
        Path(source),
        trust_model,
        need_weights=activations is not None or filters is not None,
        final=final,
    )
    reads_text = activations is not None and _reads_text(src.model)
    if activations is not None and not reads_text and not Path(activations).is_file():
        raise DataError("image not found", file=activations, field="--activations")
    if graph is not None:
        graph_view(src, Path(graph), overwrite, console)
    if reads_text:
        from dlcli.viz.token_view import text_activations_view

        text = str(_image_for(src, Path(str(activations))))  # the text, or a .txt file's
        folder = out or Path(f"{src.stem}_activations")
        text_activations_view(src.model, text, src.class_names, folder, overwrite, console)
    elif activations is not None:
        activations_view(src, Path(activations), list(layers), out, overwrite, console)
    if filters is not None:
        filters_view(src, filters, out, overwrite, console)
    return 0
