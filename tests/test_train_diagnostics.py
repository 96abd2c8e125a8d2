"""Lines printed at the start of training and early in it (issue 11).

- an inferred ``image_size`` says what it is and where it came from, and warns when the
  training images' sizes vary more than 2x (oracle: sizes read with Pillow here);
- per-class training counts, with a warning above a 5x imbalance (oracle: files counted);
- a model still at chance after 3 epochs gets a warning with likely causes.

Every line goes through the event stream; it is checked in the plain and the Rich output.
"""

from __future__ import annotations

import io
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import make_image_folder
from PIL import Image
from rich.console import Console
from train_helpers import image_data, write_csv, write_recipe

from dlcli.recipe import load_recipe
from dlcli.render.train_output import TrainRenderer
from dlcli.training import TrainOptions, train

CSV_MODEL = [{"Dense": {"units": 2, "activation": "softmax"}}]


def _train_and_render(recipe: Path, out: Path) -> tuple[str, str]:
    """Train once; replay the events through a plain and a terminal renderer."""
    events: list[object] = []
    train(load_recipe(recipe), TrainOptions(out=out), on_event=events.append)
    texts = []
    for terminal in (False, True):
        buf = io.StringIO()
        renderer = TrainRenderer(Console(file=buf, force_terminal=terminal, width=100))
        for event in events:
            renderer(event)
        renderer.close()
        plain = re.sub(r"\x1b\[[0-9;]*m", "", buf.getvalue())  # colour codes off
        texts.append(" ".join(plain.split()))  # and Rich's wrapping undone
    return texts[0], texts[1]


def _write_images(folder: Path, sizes: list[tuple[int, int]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(sizes))
    for i, (h, w) in enumerate(sizes):
        pixels = rng.integers(0, 255, size=(h, w), dtype=np.uint8)
        Image.fromarray(pixels, mode="L").save(folder / f"img_{i:02d}.png")


def _pillow_sizes(root: Path) -> list[tuple[int, int]]:
    sizes = []
    for path in sorted(root.rglob("*.png")):
        with Image.open(path) as img:
            sizes.append((img.height, img.width))
    return sizes


def test_inferred_image_size_and_size_variation(tmp_path: Path):
    from dlcli.data import load_datasets

    root = tmp_path / "mixed"
    _write_images(root / "a", [(20, 60), (20, 60), (48, 150)])
    _write_images(root / "b", [(20, 60), (21, 61)])
    sizes = _pillow_sizes(root)
    common = max(set(sizes), key=sizes.count)
    recipe = write_recipe(tmp_path / "r.yaml", data=image_data(root, image_size=None), epochs=1)
    plain, rich = _train_and_render(recipe, tmp_path / "run")
    heights, widths = [h for h, _ in sizes], [w for _, w in sizes]
    for text in (plain, rich):
        assert (
            f"image_size not set: using {common[0]}x{common[1]} (height x width), the most "
            f"common size ({sizes.count(common)} of {len(sizes)} readable; {len(sizes)} "
            "training images)" in text
        )
        assert (
            f"warning: training image sizes vary more than 2x (heights {min(heights)}-"
            f"{max(heights)} px, widths {min(widths)}-{max(widths)} px)" in text
        )

    same = make_image_folder(tmp_path / "same", per_class=3, size=16)
    bundle = load_datasets(load_recipe(recipe).data.model_copy(update={"train": same}), seed=1)
    note, cache = bundle.notes  # the size, then the pixel cache chosen (streaming)
    assert cache.text.startswith("pixel cache: ")
    assert not note.warning
    assert note.text.startswith("image_size not set: using 16x16 (height x width), the size")
    assert "all 6 training images" in note.text


def test_image_size_sample_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from dlcli.data import images, load_datasets

    monkeypatch.setattr(images, "SIZE_SAMPLE", 4)
    root = make_image_folder(tmp_path / "many", per_class=5, size=16)
    recipe = load_recipe(write_recipe(tmp_path / "r.yaml", data=image_data(root, image_size=None)))
    bundle = load_datasets(recipe.data, seed=1)
    assert "4 training images sampled evenly from 10" in bundle.notes[0].text


def test_class_counts_and_imbalance_warning(tmp_path: Path):
    root = make_image_folder(tmp_path / "big", classes=("big",), per_class=12)
    make_image_folder(root, classes=("tiny",), per_class=2, seed=5)
    counts = {c: len(os.listdir(root / c)) for c in ("big", "tiny")}
    recipe = write_recipe(tmp_path / "r.yaml", data=image_data(root), epochs=1)
    plain, rich = _train_and_render(recipe, tmp_path / "run")
    ratio = counts["big"] / counts["tiny"]
    for text in (plain, rich):
        assert (
            f"training examples per class (2 classes): big {counts['big']}, "
            f"tiny {counts['tiny']}" in text
        )
        assert (
            f"warning: imbalanced classes: 'big' has {counts['big']} training examples, "
            f"{ratio:.1f}x the {counts['tiny']} of 'tiny'" in text
        )

    balanced = make_image_folder(tmp_path / "fair", per_class=5)
    recipe = write_recipe(tmp_path / "f.yaml", data=image_data(balanced), epochs=1)
    plain, _ = _train_and_render(recipe, tmp_path / "fair_run")
    assert "training examples per class (2 classes): circle 5, square 5" in plain
    assert "imbalanced" not in plain


def test_chance_level_after_three_epochs_is_warned(tmp_path: Path):
    flat = tmp_path / "flat.csv"  # every feature 0: nothing to learn but the class prior
    flat.write_text("f1,f2,label\n" + "".join(f"0,0,{i % 2}\n" for i in range(32)))
    data = {"kind": "csv", "train": str(flat), "batch_size": 8}
    recipe = write_recipe(
        tmp_path / "r.yaml", data=data, layers=CSV_MODEL, epochs=3, checkpoint={"monitor": "loss"}
    )
    plain, rich = _train_and_render(recipe, tmp_path / "run")
    for text in (plain, rich):
        assert "warning: after 3 epochs the model is at chance level" in text
        assert f"the class frequencies gives loss {math.log(2):.4f} = ln(2)" in text
        assert "Likely causes: a learning rate too high or too low (now 0.01)" in text

    squared = write_recipe(  # one linear unit, squared error: chance is predicting 0.5
        tmp_path / "m.yaml",
        data=data,
        layers=[{"Dense": {"units": 1}}],
        loss="mean_squared_error",
        metrics=[],
        epochs=3,
        checkpoint={"monitor": "loss"},
    )
    plain, _ = _train_and_render(squared, tmp_path / "squared")
    assert "always answering the class frequencies gives loss 0.2500). Likely" in plain

    learnable = {"kind": "csv", "train": str(write_csv(tmp_path / "good.csv")), "batch_size": 8}
    recipe = write_recipe(
        tmp_path / "g.yaml",
        data=learnable,
        layers=CSV_MODEL,
        epochs=3,
        optimizer={"name": "adam", "learning_rate": 0.1},
        checkpoint={"monitor": "loss"},
    )
    plain, _ = _train_and_render(recipe, tmp_path / "good")
    assert "chance level" not in plain


def test_start_lines_on_stdout_of_the_cli(tmp_path: Path):
    root = make_image_folder(tmp_path / "imgs", classes=("many",), per_class=11)
    make_image_folder(root, classes=("few",), per_class=2, seed=3)
    recipe = write_recipe(tmp_path / "r.yaml", data=image_data(root, image_size=None), epochs=1)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    env.pop("DLCLI_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "dlcli", "train", str(recipe), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert "training examples per class (2 classes): few 2, many 11" in lines
    assert any(line.startswith("warning: imbalanced classes: 'many' has 11") for line in lines)
    assert any(line.startswith("image_size not set: using 16x16") for line in lines)


def test_many_classes_listed_by_their_extremes():
    from dlcli.training.diagnostics import class_count_notices

    names = [f"c{i:02d}" for i in range(20)]
    labels = np.repeat(np.arange(20), [10 + i for i in range(20)])  # c00: 10 ... c19: 29
    [line] = [n.text for n in class_count_notices(names, labels)]
    assert line == (
        "training examples per class (20 classes): fewest: c00 10, c01 11, c02 12; "
        "most: c19 29, c18 28, c17 27"
    )
