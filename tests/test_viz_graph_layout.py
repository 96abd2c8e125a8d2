"""``inspect --graph`` pictures of long models: wrapped into columns, stages and blocks boxed.

Oracles: the stages are read off the Keras model (the spatial size each layer reads), the
blocks off the layer names the recipe gives (``residual_<k>_...``); the drawn boxes are
measured with matplotlib's renderer.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from figure_capture import capture_figures, overlap, render
from PIL import Image
from rich.console import Console

from dlcli.backend import keras
from dlcli.viz.inspect_views import Source, graph_view, load_source


@pytest.fixture
def saved_figures(monkeypatch: pytest.MonkeyPatch) -> list:
    return capture_figures(monkeypatch)


def _sequential_27() -> keras.Model:
    """Rescaling, three stages of (conv-BN-ReLU) x 2 + pooling, one more conv-BN-ReLU, head."""
    model = keras.Sequential(name="seq27")
    model.add(keras.Input((64, 64, 3)))
    model.add(keras.layers.Rescaling(1 / 255.0))
    for filters in (8, 16, 32):
        for _ in range(2):
            model.add(keras.layers.Conv2D(filters, 3, padding="same"))
            model.add(keras.layers.BatchNormalization())
            model.add(keras.layers.ReLU())
        model.add(keras.layers.MaxPooling2D())
    model.add(keras.layers.Conv2D(64, 3, padding="same"))
    model.add(keras.layers.BatchNormalization())
    model.add(keras.layers.ReLU())
    model.add(keras.layers.GlobalAveragePooling2D())
    model.add(keras.layers.Dense(10, activation="softmax"))
    return model


def _boxes(fig) -> tuple[dict[str, object], dict[str, list]]:
    """Layer boxes (texts) and group boxes (patches) by the gid the drawing gave them."""
    (ax,) = fig.axes
    layers = {t.get_gid()[6:]: t for t in ax.texts if (t.get_gid() or "").startswith("layer:")}
    groups: dict[str, list] = {}
    for p in ax.patches:
        if (p.get_gid() or "").startswith("group:"):
            groups.setdefault(p.get_gid()[6:], []).append(p)
    return layers, groups


def _inside(text, patches) -> bool:
    x, y = text.get_position()
    return any(
        p.get_x() <= x <= p.get_x() + p.get_width() and p.get_y() <= y <= p.get_y() + p.get_height()
        for p in patches
    )


def _check_boxes_apart(fig) -> None:
    renderer = render(fig)
    layers, _ = _boxes(fig)
    extents = {n: t.get_bbox_patch().get_window_extent(renderer) for n, t in layers.items()}
    names = list(extents)
    for i, a in enumerate(names):
        box = extents[a]
        assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1, a
        assert fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1, a
        for b in names[i + 1 :]:
            assert not overlap(box, extents[b]), f"{a} and {b} overlap"


def test_a_27_layer_sequential_model_wraps_into_columns_with_its_stages(
    tmp_path: Path, saved_figures: list
) -> None:
    model = _sequential_27()
    assert len(model.layers) == 27
    out = tmp_path / "graph.png"
    console = Console(file=io.StringIO(), width=100)
    graph_view(Source(model, None, None, tmp_path / "m", False), out, False, console)
    width, height = Image.open(out).size
    assert height <= 1100, f"{width}x{height}: one tall column again"  # was 2,600 px
    assert width <= 1800
    # Stages, by the spatial size each layer reads (Keras' own shapes); then the head.
    expected: dict[str, list[str]] = {}
    for layer in model.layers:
        shape = layer.input.shape
        spatial = len(shape) == 4 and len(layer.output.shape) == 4
        key = f"{shape[1]}x{shape[2]}" if spatial else "head"
        expected.setdefault(key, []).append(layer.name)
    (fig,) = saved_figures
    layers, groups = _boxes(fig)
    stage_labels = [f"stage {i}: {size}" for i, size in enumerate(expected, start=1)][:-1]
    assert set(groups) == {*stage_labels, "head"}
    for label, (size, members) in zip([*stage_labels, "head"], expected.items(), strict=True):
        for name in members:
            assert _inside(layers[name], groups[label]), f"{name} not in {label} ({size})"
    _check_boxes_apart(fig)


def test_recipe_blocks_are_boxed_per_repeat(
    tmp_path: Path, saved_figures: list, repo_root: Path
) -> None:
    src = load_source(repo_root / "recipes" / "residual_cnn.yaml", False, need_weights=False)
    out = tmp_path / "graph.svg"
    graph_view(src, out, False, Console(file=io.StringIO(), width=100))
    (fig,) = saved_figures
    layers, groups = _boxes(fig)
    assert set(groups) == {"residual 1/2", "residual 2/2"}
    for k in (1, 2):
        members = [name for name in layers if name.startswith(f"residual_{k}_")]
        assert len(members) == 7
        for name in layers:
            assert _inside(layers[name], groups[f"residual {k}/2"]) == (name in members), name
    _check_boxes_apart(fig)
    assert "residual 1/2" in out.read_text()  # the label is in the picture itself
