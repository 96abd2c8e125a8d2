"""inspect --activations/--filters/--graph engines checked against plain Keras sub-models.

Models are built by hand here; the oracle for every saved array is
``keras.Model(model.inputs, layer.output)`` on the image decoded independently with PIL.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

from dlcli.backend import keras
from dlcli.data.kinds.image_kind import ImagePreprocessing
from dlcli.errors import OutputExistsError, UsageError
from dlcli.viz.inspect_views import Source, activations_view, filters_view, graph_view


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    """A console like dlcli.console.make_console gives, writing into a buffer."""
    buf = io.StringIO()
    if terminal:
        # Rich reads TERM; CI often sets TERM=dumb, which dlcli treats as "no previews".
        return Console(
            file=buf,
            force_terminal=True,
            width=100,
            color_system="truecolor",
            _environ={"TERM": "xterm-256color"},
        ), buf
    return Console(file=buf, force_terminal=False, width=120, soft_wrap=True), buf


def _cnn(channels: int = 1) -> keras.Model:
    keras.utils.set_random_seed(3)
    inp = keras.Input((12, 12, channels), name="image")
    x = keras.layers.Rescaling(1 / 255.0, name="rescale")(inp)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv_a")(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(6, 3, activation="relu", name="conv_b")(x)
    x = keras.layers.Flatten(name="flat")(x)
    x = keras.layers.Dense(7, activation="relu", name="dense")(x)
    out = keras.layers.Dense(3, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="tiny")


def _png(tmp_path: Path, mode: str = "L") -> Path:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, size=(12, 12), dtype=np.uint8)
    arr[3:8, 3:8] = 250
    path = tmp_path / "x.png"
    Image.fromarray(arr, mode="L").convert(mode).save(path)
    return path


def _not_blank(path: Path) -> tuple[int, int]:
    image = Image.open(path)
    assert np.asarray(image.convert("L"), dtype=float).var() > 0
    return image.size


@pytest.fixture(scope="module")
def cnn() -> keras.Model:
    return _cnn()


def test_saved_activations_equal_keras_submodel_outputs(tmp_path: Path, cnn) -> None:
    image_path = _png(tmp_path)
    src = Source(
        cnn,
        ["cat", "dog", "owl"],
        ImagePreprocessing(image_size=(12, 12), color_mode="grayscale"),
        tmp_path / "model",
        False,
    )
    console, buf = _console(terminal=False)
    out = tmp_path / "acts"
    acts = activations_view(src, image_path, [], out, False, console)

    x = np.asarray(Image.open(image_path), dtype="float32")[None, :, :, None]
    names = ["rescale", "conv_a", "pool", "conv_b", "flat", "dense", "probs"]
    assert [a.name for a in acts] == names
    files = sorted(p.name for p in out.iterdir())
    assert "overview.png" in files
    for i, name in enumerate(names, start=1):
        oracle = keras.Model(cnn.inputs, cnn.get_layer(name).output)(x).numpy()[0]
        saved = np.load(out / f"{i}_{name}.npy")
        np.testing.assert_allclose(saved, oracle, rtol=1e-5, atol=1e-6)
        _not_blank(out / f"{i}_{name}.png")

    conv = next(a for a in acts if a.name == "conv_a")
    means = np.load(out / "2_conv_a.npy").mean(axis=(0, 1))
    assert conv.ranked == list(np.argsort(-means, kind="stable"))  # strongest first
    # 4 maps -> 2 x 2 grid of 1.5 in tiles, at least 5 in wide, 0.6 in for the title; 100 dpi.
    assert Image.open(out / "2_conv_a.png").size == (500, 360)
    probs = np.load(out / "7_probs.npy")
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)

    text = buf.getvalue()
    assert "\x1b[" not in text and "▀" not in text
    lines = [line for line in text.splitlines() if line.startswith("conv_a (Conv2D) 10x10x4")]
    assert len(lines) == 1 and "by mean activation" in lines[0] and "2_conv_a.png" in lines[0]

    # Refuses to overwrite and leaves the files alone; --overwrite replaces them.
    before = (out / "overview.png").stat().st_mtime_ns
    with pytest.raises(OutputExistsError):
        activations_view(src, image_path, [], out, False, console)
    assert (out / "overview.png").stat().st_mtime_ns == before
    again = activations_view(src, image_path, ["conv_b"], out, True, console)
    assert [a.name for a in again] == ["conv_b"]
    assert again[0].files == [str(out / "4_conv_b.png"), str(out / "4_conv_b.npy")]


def test_terminal_preview_uses_half_blocks(tmp_path: Path, cnn) -> None:
    src = Source(cnn, ["cat", "dog", "owl"], None, tmp_path / "model", False)
    console, buf = _console(terminal=True)
    activations_view(src, _png(tmp_path), ["conv_a", "probs"], tmp_path / "o", False, console)
    text = buf.getvalue()
    assert "▀" in text
    assert "\x1b[38;2;" in text
    assert "48;2;" in text
    assert "owl" in text  # class names label the probabilities


def test_unknown_layer_suggests_names(tmp_path: Path, cnn) -> None:
    src = Source(cnn, None, None, tmp_path / "m", False)
    console, _ = _console(terminal=False)
    with pytest.raises(UsageError, match="conv_a"):
        activations_view(src, _png(tmp_path), ["conv_x"], tmp_path / "o", False, console)


def test_halfblock_cells_carry_the_two_pixels() -> None:
    from dlcli.viz.halfblock import render_halfblock

    rgb = np.array(
        [
            [[255, 0, 0], [0, 255, 0]],
            [[0, 0, 255], [10, 20, 30]],
            [[1, 2, 3], [200, 100, 50]],
        ],
        dtype=np.uint8,
    )
    text = render_halfblock(rgb)
    assert text.plain == "▀▀\n▀▀"
    cells = [(s.start, s.style) for s in text.spans]
    by_offset = dict(cells)
    # Line 1: top pixel rows 0, bottom row 1. Line 2 (offset 3..4): row 2 over nothing.
    for offset, top, bottom in (
        (0, (255, 0, 0), (0, 0, 255)),
        (1, (0, 255, 0), (10, 20, 30)),
        (3, (1, 2, 3), None),
        (4, (200, 100, 50), None),
    ):
        style = by_offset[offset]
        assert tuple(style.color.triplet) == top
        if bottom is None:
            assert style.bgcolor is None
        else:
            assert tuple(style.bgcolor.triplet) == bottom
    console, buf = _console(terminal=True)
    console.print(text)
    assert "\x1b[38;2;10;20;30" not in buf.getvalue()  # (10,20,30) is a background only
    assert "48;2;10;20;30" in buf.getvalue() and "38;2;200;100;50" in buf.getvalue()


def test_filter_tiles_equal_kernel_weights(tmp_path: Path) -> None:
    model = _cnn(channels=3)
    src = Source(model, None, None, tmp_path / "m", False)
    console, buf = _console(terminal=True)
    first = filters_view(src, None, tmp_path / "f", False, console)
    kernel = model.get_layer("conv_a").get_weights()[0]
    assert first.layer == "conv_a" and first.colour
    for o in range(4):
        np.testing.assert_array_equal(first.tiles[o], kernel[:, :, :, o])
    np.testing.assert_array_equal(np.load(tmp_path / "f" / "conv_a_kernel.npy"), kernel)
    _not_blank(tmp_path / "f" / "conv_a_filters.png")
    assert "▀" in buf.getvalue()

    second = filters_view(src, "conv_b", tmp_path / "f", False, console)
    kernel_b = model.get_layer("conv_b").get_weights()[0]
    assert not second.colour and second.tiles.shape == (6, 4, 3, 3)
    for o in range(6):
        for i in range(4):
            np.testing.assert_array_equal(second.tiles[o, i], kernel_b[:, :, i, o])
    with pytest.raises(UsageError, match="no 2-D convolution kernel"):
        filters_view(src, "dense", tmp_path / "f", False, console)


def _residual() -> keras.Model:
    inp = keras.Input((8, 8, 1), name="input")
    a = keras.layers.Conv2D(4, 3, padding="same", name="c1")(inp)
    b = keras.layers.Conv2D(4, 3, padding="same", name="c2")(a)
    c = keras.layers.Add(name="add")([a, b])
    d = keras.layers.GlobalAveragePooling2D(name="gap")(c)
    return keras.Model(inp, keras.layers.Dense(2, name="out")(d))


def test_graph_tree_shows_branch_and_merge(tmp_path: Path) -> None:
    from dlcli.viz.graph import graph_text, model_graph

    nodes = model_graph(_residual())
    by_name = {n.name: n for n in nodes}
    assert by_name["add"].inputs == ["c1", "c2"]
    assert by_name["c1"].outputs == ["c2", "add"]
    text = graph_text(nodes)
    lines = text.splitlines()
    add_line = next(line for line in lines if "add (Add)" in line)
    assert "merge of c1 + c2" in add_line and "(None, 8, 8, 4)" in add_line
    assert "branches to 2" in next(line for line in lines if "c1 (Conv2D)" in line)
    # add hangs under c2 (its last input), one level deeper than c2.
    c2_line = next(line for line in lines if "c2 (Conv2D)" in line)
    assert add_line.index("add") > c2_line.index("c2")

    src = Source(_residual(), None, None, tmp_path / "m", True)
    console, _buf = _console(terminal=False)
    for name in ("g.png", "g.svg", "g.txt"):
        graph_view(src, tmp_path / name, False, console)
    _not_blank(tmp_path / "g.png")
    assert (tmp_path / "g.svg").read_text().lstrip().startswith("<?xml")
    assert "merge of c1 + c2" in (tmp_path / "g.txt").read_text()
    with pytest.raises(OutputExistsError):
        graph_view(src, tmp_path / "g.txt", False, console)
    with pytest.raises(UsageError, match="--graph"):
        graph_view(src, tmp_path / "g.dot", False, console)


def test_sequential_logits_and_sigmoid_outputs(tmp_path: Path) -> None:
    from dlcli.viz.activations import compute_activations, inspectable_layers, unit_label

    keras.utils.set_random_seed(1)
    logits = keras.Sequential(
        [keras.Input((12, 12, 1)), keras.layers.Flatten(), keras.layers.Dense(3, name="logits")]
    )
    x = np.asarray(Image.open(_png(tmp_path)), dtype="float32")[:, :, None]
    acts = compute_activations(logits, x, inspectable_layers(logits))
    oracle = logits(x[None]).numpy()[0]
    assert acts[-1].kind == "scores"
    np.testing.assert_allclose(acts[-1].array, oracle, rtol=1e-5)
    assert acts[-1].ranked == list(np.argsort(-oracle))
    assert unit_label(acts[-1], 2, ["a", "b", "c"]) == "c"

    sigmoid = keras.Sequential(
        [keras.Input((12, 12, 1)), keras.layers.Flatten(), keras.layers.Dense(1, "sigmoid")]
    )
    out = compute_activations(sigmoid, x, inspectable_layers(sigmoid))[-1]
    assert out.kind == "probabilities"
    assert unit_label(out, 0, ["neg", "pos"]) == "P(pos)"


def test_run_views_on_a_run_directory(tmp_path: Path, cnn) -> None:
    """End to end through the model loader (dlcli.modeling.loading) and labels.json."""
    import json

    pytest.importorskip("dlcli.modeling.loading")
    from dlcli.viz.inspect_views import run_views

    run = tmp_path / "run"
    run.mkdir()
    cnn.save(run / "model.keras")
    labels = {
        "class_names": ["cat", "dog", "owl"],
        "kind": "images",
        "image_size": [12, 12],
        "color_mode": "grayscale",
        "channels": 1,
        "interpolation": "bilinear",
    }
    (run / "labels.json").write_text(json.dumps(labels))
    console, buf = _console(terminal=False)
    code = run_views(
        run,
        activations=_png(tmp_path),
        layers=["conv_a", "probs"],
        filters="",
        graph=tmp_path / "g.txt",
        out=None,
        trust_model=False,
        overwrite=False,
        console=console,
    )
    assert code == 0
    out = tmp_path / "run_activations"
    assert sorted(p.name for p in out.iterdir()) == [
        "2_conv_a.npy",  # numbered by position in the model, not in the selection
        "2_conv_a.png",
        "7_probs.npy",
        "7_probs.png",
        "overview.png",
    ]
    assert (tmp_path / "run_filters" / "conv_a_kernel.npy").is_file()
    assert "top class" in buf.getvalue()
    assert any(name in buf.getvalue() for name in ("cat", "dog", "owl"))
    with pytest.raises(UsageError):
        run_views(
            run,
            activations=None,
            layers=["conv_a"],
            filters=None,
            graph=None,
            out=None,
            trust_model=False,
            overwrite=False,
            console=console,
        )
