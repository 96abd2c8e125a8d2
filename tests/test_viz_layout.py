"""Layout of the inspect pictures (issue 18's visual fixes), checked on what is drawn.

The figures are caught as they are saved (``Figure.savefig`` wrapped), then measured with
matplotlib's own renderer: boxes that must not meet, labels that must be there, values
that must equal what plain Keras computes. The terminal preview is read back from the
ANSI text it prints, pixel by pixel.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from figure_capture import capture_figures, overlap, render
from PIL import Image
from rich.console import Console

from dlcli.backend import keras
from dlcli.viz.inspect_views import Source, activations_view, filters_view


@pytest.fixture
def saved_figures(monkeypatch: pytest.MonkeyPatch) -> list:
    return capture_figures(monkeypatch)


def _quiet() -> Console:
    return Console(file=io.StringIO(), force_terminal=False, width=120)


def _terminal(width: int) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    console = Console(
        file=buf,
        force_terminal=True,
        width=width,
        color_system="truecolor",
        _environ={"TERM": "xterm-256color"},
    )
    return console, buf


LONG_NAME = "stage_two_residual_block_three_second_convolution_before_the_norm"


def _conv_model(inputs: int, filters: int) -> keras.Model:
    keras.utils.set_random_seed(5)
    inp = keras.Input((10, 10, inputs))
    x = keras.layers.Conv2D(inputs, 1, name="mix")(inp)
    x = keras.layers.Conv2D(filters, 3, name=LONG_NAME)(x)
    return keras.Model(inp, x)


@pytest.mark.parametrize(("inputs", "filters"), [(4, 16), (1, 3), (3, 1), (3, 2)])
def test_filters_title_clears_the_tiles_and_labels_are_drawn(
    tmp_path: Path, saved_figures: list, inputs: int, filters: int
) -> None:
    model = _conv_model(inputs, filters)
    src = Source(model, None, None, tmp_path / "m", False)
    layer = model.get_layer(LONG_NAME)
    filters_view(src, layer.name, tmp_path / "out", False, _quiet())
    (fig,) = saved_figures
    renderer = render(fig)
    title = fig._suptitle.get_window_extent(renderer)
    page = fig.bbox
    assert page.x0 <= title.x0 and title.x1 <= page.x1 and title.y1 <= page.y1
    for ax in fig.axes:
        box = ax.get_tightbbox(renderer)  # the axes with its title, labels and ticks
        assert not overlap(title, box), f"title {title} runs into axes {box}"
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0, box
    kernel = np.asarray(layer.kernel)
    colour = inputs == 3
    tiles = [ax for ax in fig.axes if ax.images]
    bars = [ax for ax in fig.axes if not ax.images]
    if colour:
        assert len(tiles) == filters and not bars  # RGB tiles: each scaled on its own
        assert sorted(ax.get_title() for ax in tiles) == sorted(f"f{i}" for i in range(filters))
        return
    (bar,) = bars  # one colour bar for the shared, symmetric weight scale
    bound = float(np.abs(kernel).max())
    assert bar.get_ylim() == pytest.approx((-bound, bound), rel=1e-5)
    assert bar.get_ylabel() == "weight"
    if inputs > 1:  # one column per input channel, labelled above the first row
        tops = max(ax.get_position().y1 for ax in tiles)
        first_row = sorted(
            (ax for ax in tiles if ax.get_position().y1 == tops), key=lambda a: a.get_position().x0
        )
        assert [ax.get_title() for ax in first_row] == [f"in {i}" for i in range(inputs)]
        assert len(tiles) == inputs * filters


def _softmax_cnn() -> keras.Model:
    keras.utils.set_random_seed(2)
    inp = keras.Input((12, 12, 1))
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = keras.layers.Conv2D(3, 3, activation="relu", name="conv")(x)
    x = keras.layers.Flatten(name="flat")(x)
    out = keras.layers.Dense(4, activation="softmax", name="probs")(x)
    return keras.Model(inp, out)


def test_activation_bars_show_their_values_inside_the_axes(
    tmp_path: Path, saved_figures: list
) -> None:
    model = _softmax_cnn()
    arr = np.random.default_rng(1).integers(0, 255, size=(12, 12), dtype=np.uint8)
    Image.fromarray(arr, mode="L").save(tmp_path / "x.png")
    names = ["cat", "dog", "a_rather_long_class_name", "horse"]
    src = Source(model, names, None, tmp_path / "m", False)
    activations_view(src, tmp_path / "x.png", [], tmp_path / "acts", False, _quiet())
    expected = np.asarray(model(arr[None, :, :, None].astype("float32")))[0]
    overview = saved_figures[-1]
    assert overview.get_suptitle().startswith("activations")
    renderer = render(overview)
    for ax in overview.axes:
        box = ax.get_tightbbox(renderer)
        assert overview.bbox.x0 <= box.x0 and box.x1 <= overview.bbox.x1 + 0.5, ax.get_title()
    (probs,) = [ax for ax in overview.axes if ax.get_title().startswith("probs")]
    lo, hi = probs.get_xlim()
    assert lo <= 0.0 and hi >= 1.0  # the whole probability range
    texts = [t for t in probs.texts if t.get_text()]
    assert sorted(float(t.get_text()) for t in texts) == pytest.approx(sorted(expected), abs=6e-4)
    axes_box = probs.get_window_extent(renderer)
    for t in texts:
        box = t.get_window_extent(renderer)
        assert axes_box.x0 <= box.x0 and box.x1 <= axes_box.x1, t.get_text()  # not clipped
    labels = {t.get_text() for t in probs.get_yticklabels()}
    assert labels == set(names)
    layer_png = [f for f in saved_figures if f.get_suptitle().startswith("probs")]
    (single,) = layer_png
    assert sorted(float(t.get_text()) for t in single.axes[0].texts) == pytest.approx(
        sorted(expected), abs=6e-4
    )
    # Every bar picture (probabilities, top units) shows its whole axis: tick labels and
    # the axis title inside the picture, clear of the title.
    for fig in saved_figures:
        if not any(ax.patches for ax in fig.axes):
            continue
        renderer = render(fig)
        title = fig._suptitle.get_window_extent(renderer) if fig._suptitle else None
        for ax in fig.axes:
            box = ax.get_tightbbox(renderer)
            assert fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1, fig.get_suptitle()
            assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 + 0.5, fig.get_suptitle()
            if title is not None and fig is not overview:
                assert not overlap(title, box), fig.get_suptitle()
            labels = [t for t in ax.get_xticklabels() if t.get_text()]
            assert labels, "the value axis has no tick labels"


_SGR = re.compile(r"\x1b\[([0-9;]*)m")


def _pixels(ansi: str) -> np.ndarray:
    """The half-block picture printed in ``ansi`` as an ``H x W x 3`` array (black where a
    cell has no colour)."""
    rows: list[list[tuple[int, int, int]]] = []
    for line in ansi.splitlines():
        if "▀" not in line:
            continue
        fg = bg = (0, 0, 0)
        top: list[tuple[int, int, int]] = []
        bottom: list[tuple[int, int, int]] = []
        pos = 0
        for match in _SGR.finditer(line + "\x1b[m"):
            for ch in line[pos : match.start()]:
                if ch == "▀":
                    top.append(fg)
                    bottom.append(bg)
            pos = match.end()
            codes = [int(c) for c in match.group(1).split(";") if c] or [0]
            i = 0
            while i < len(codes):
                if codes[i] == 0:
                    fg = bg = (0, 0, 0)
                elif codes[i] in (38, 48) and codes[i + 1] == 2:
                    rgb = tuple(codes[i + 2 : i + 5])
                    fg, bg = (rgb, bg) if codes[i] == 38 else (fg, rgb)
                    i += 4
                i += 1
        rows += [top, bottom]
    width = max(len(r) for r in rows)
    return np.array([r + [(0, 0, 0)] * (width - len(r)) for r in rows], dtype=np.int32)


@pytest.mark.parametrize("columns", [40, 80, 120, 200])
def test_terminal_maps_preview_keeps_tiles_readable(columns: int) -> None:
    from dlcli.viz.activations import LayerActivation, rank
    from dlcli.viz.preview import preview_activation

    # 16 maps of 48 x 48, each constant (map c holds c + 1), so each tile is one colour.
    array = np.ones((48, 48, 16), dtype=np.float32) * np.arange(1, 17, dtype=np.float32)
    ranked, scores = rank(array, "maps")
    act = LayerActivation("conv", "Conv2D", array, "maps", ranked, scores)
    console, buf = _terminal(columns)
    preview_activation(act, console)
    pixels = _pixels(buf.getvalue())
    assert pixels.shape[1] <= columns
    colours = {tuple(p) for p in pixels.reshape(-1, 3)} - {(0, 0, 0)}
    sides = []
    for colour in colours:
        ys, xs = np.nonzero(np.all(pixels == colour, axis=-1))
        sides += [ys.max() - ys.min() + 1, xs.max() - xs.min() + 1]
    assert colours, "no picture printed"
    # At least 24 px a side (MIN_TILE_PX; nearest-neighbour scaling may lose a pixel or two).
    assert min(sides) >= 22, f"{len(colours)} tiles of {min(sides)} px at {columns} columns"
    shown = len(colours)
    if shown < 16:
        plain = " ".join(_SGR.sub("", buf.getvalue()).split())
        assert f"{shown} of the 16 strongest maps at {columns} columns" in plain
    if columns >= 80:
        assert shown >= 4  # room for several maps side by side
