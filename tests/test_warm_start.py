"""``model.init_from``: a digits run starts a 5-class model (issue 13, warm start).

Oracle: the source run's ``best.keras`` opened with plain Keras, compared weight by weight.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO_ROOT

from dlcli.errors import DlcliError, RecipeError
from dlcli.recipe import load_recipe

DIGITS = REPO_ROOT / "data" / "digits" / "train"
LAYERS = [
    {"Rescaling": {"scale": 1 / 255}},
    {"Conv2D": {"filters": 4, "kernel_size": 3, "activation": "relu", "name": "conv"}},
    {"MaxPooling2D": 4},
    {"Flatten": None},
    {"Dense": {"units": 10, "activation": "softmax", "name": "probs"}},
]


def _subset(root: Path, classes: list[str], per_class: int = 6) -> Path:
    """A few shipped digits per class (links, not copies)."""
    for cls in classes:
        (root / cls).mkdir(parents=True)
        for image in sorted((DIGITS / cls).iterdir())[:per_class]:
            (root / cls / image.name).symlink_to(image)
    return root


def _write(path: Path, images: Path, units: int, **model: object) -> Path:
    layers = [dict(x) for x in LAYERS]
    layers[-1] = {"Dense": {"units": units, "activation": "softmax", "name": "probs"}}
    doc = {
        "name": path.stem,
        "seed": 5,
        "data": {
            "kind": "images",
            "train": str(images),
            "image_size": [16, 16],
            "color_mode": "grayscale",
            "batch_size": 8,
        },
        "model": {**model, "layers": layers},
        "train": {"epochs": 1},
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dlcli.training import TrainOptions, train

    root = tmp_path_factory.mktemp("digits")
    images = _subset(root / "images", [str(d) for d in range(10)])
    train(load_recipe(_write(root / "digits.yaml", images, 10)), TrainOptions(out=root / "run"))
    return root / "run"


def test_warm_start_copies_by_name_and_reinitialises_the_head(tmp_path: Path, digits_run: Path):
    from dlcli.backend import keras
    from dlcli.modeling.builder import build_model
    from dlcli.modeling.warm_start import warm_start

    images = _subset(tmp_path / "five", [str(d) for d in range(5)])
    recipe = load_recipe(_write(tmp_path / "five.yaml", images, 5, init_from=str(digits_run)))
    assert recipe.model.init_from == digits_run
    model = build_model(recipe.model, (16, 16, 1))
    fresh_head = [w.numpy() for w in model.get_layer("probs").weights]
    report = warm_start(model, recipe.model.init_from)
    source = keras.saving.load_model(digits_run / "best.keras")  # plain Keras as the oracle
    for got, want in zip(
        model.get_layer("conv").weights, source.get_layer("conv").weights, strict=True
    ):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    for got, fresh in zip(model.get_layer("probs").weights, fresh_head, strict=True):
        np.testing.assert_array_equal(got.numpy(), fresh)  # untouched: other shapes
    assert report.source == digits_run / "best.keras"
    assert report.matched == ("conv",) and report.missing == () and report.unused == ()
    (misfit,) = report.reinitialised
    assert misfit.layer == "probs"
    assert misfit.shapes == ((36, 5), (5,)) and misfit.source_shapes == ((36, 10), (10,))
    assert report.copied_params == 3 * 3 * 1 * 4 + 4


def test_a_warm_started_run_says_which_layers_it_reinitialised(tmp_path: Path, digits_run: Path):
    from dlcli.training import Notice, TrainOptions, train

    images = _subset(tmp_path / "five", [str(d) for d in range(5)])
    recipe = load_recipe(_write(tmp_path / "five.yaml", images, 5, init_from=str(digits_run)))
    events: list = []
    train(recipe, TrainOptions(out=tmp_path / "run"), on_event=events.append)
    said = [e.text for e in events if isinstance(e, Notice)]
    summary = next(t for t in said if t.startswith("warm start from"))
    assert str(digits_run / "best.keras") in summary
    assert "1 layer(s) copied by name (40 weights), 1 re-initialised" in summary
    assert any(
        t.startswith(
            "layer 'probs' re-initialised: weights (36, 5), (5,) here, "
            "(36, 10), (10,) in the source"
        )
        for t in said
    )
    again = load_recipe(tmp_path / "run" / "recipe.yaml")  # the resolved recipe keeps it
    assert again.model.init_from == digits_run


def test_init_from_must_be_a_path_and_exist(tmp_path: Path):
    from dlcli.modeling.builder import build_model
    from dlcli.modeling.warm_start import warm_start

    images = tmp_path / "images"
    with pytest.raises(RecipeError, match=r"model\.init_from: bad init_from"):
        load_recipe(_write(tmp_path / "bad.yaml", images, 5, init_from=3))
    recipe = load_recipe(_write(tmp_path / "gone.yaml", images, 5, init_from="no/such/run"))
    model = build_model(recipe.model, (16, 16, 1))
    with pytest.raises(DlcliError) as info:
        warm_start(model, recipe.model.init_from)
    assert info.value.exit_code == 2 and "no/such/run" in str(info.value)


def test_a_path_typed_with_set_is_relative_to_the_current_folder(tmp_path: Path, monkeypatch):
    """In the file: relative to the recipe; with --set: relative to where it was typed."""
    (tmp_path / "recipes").mkdir()
    path = _write(tmp_path / "recipes" / "r.yaml", tmp_path / "images", 5, init_from="runs/a")
    assert load_recipe(path).model.init_from == tmp_path / "recipes" / "runs" / "a"
    monkeypatch.chdir(tmp_path)
    recipe = load_recipe(path, overrides=["model.init_from=runs/b"])
    assert recipe.model.init_from == tmp_path / "runs" / "b"
    weights = "model.layers[0].Backbone.weights=w/bb.weights.h5"
    doc = yaml.safe_load(path.read_text())
    doc["model"]["layers"] = [{"Backbone": {"name": "MobileNetV3Small", "weights": None}}]
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    recipe = load_recipe(path, overrides=[weights])
    assert recipe.model.layers[0].args["weights"] == str(tmp_path / "w" / "bb.weights.h5")
