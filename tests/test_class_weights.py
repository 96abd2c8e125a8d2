"""Class and sample weights (train.class_weight, data.sample_weight): the minority class's
recall rises, a weight column equals the class weights it spells out, mistakes are refused
at their recipe line, and image folders take class weights too."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from target_helpers import feature_rows, keras_predict, line_of, write_table
from train_helpers import write_recipe

from dlcli.errors import RecipeError
from dlcli.recipe import load_recipe
from dlcli.training import TrainOptions, train

# --- class weights -------------------------------------------------------------------


def _imbalanced(path: Path, n_major: int, n_minor: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    major = rng.normal(loc=-0.5, size=(n_major, 2))
    minor = rng.normal(loc=0.5, size=(n_minor, 2))
    rows = [[*r.round(5).tolist(), "major"] for r in major]
    rows += [[*r.round(5).tolist(), "minor"] for r in minor]
    return write_table(path, ["a", "b", "label"], rows)


def test_class_weight_raises_minority_recall(tmp_path: Path) -> None:
    train_csv = _imbalanced(tmp_path / "train.csv", 500, 50, 0)
    test_csv = _imbalanced(tmp_path / "test.csv", 200, 200, 1)
    x_test = feature_rows(test_csv, ["a", "b"])
    layers = [{"Dense": {"units": 2, "activation": "softmax"}}]
    recalls = {}
    events: list = []
    for weight in (None, "balanced"):
        extra = {"class_weight": weight} if weight else {}
        data = {"kind": "csv", "train": str(train_csv), "batch_size": 32}
        recipe = write_recipe(
            tmp_path / f"{weight}.yaml", data=data, layers=layers, epochs=15, **extra
        )
        run = tmp_path / f"run-{weight}"
        train(load_recipe(recipe), TrainOptions(out=run), on_event=events.append)
        pred = keras_predict(run, x_test).argmax(axis=1)
        recalls[weight] = float((pred[200:] == 1).mean())  # "minor" is class 1
    assert recalls["balanced"] > recalls[None] + 0.2, recalls
    texts = [getattr(e, "text", "") for e in events]
    assert any("major 500, minor 50" in t for t in texts)
    assert any("imbalanced classes" in t and "class_weight" in t for t in texts)
    # 550 / (2 x 500) and 550 / (2 x 50): scikit-learn's "balanced"
    assert any("class weights in the training loss: major 0.55, minor 5.5" in t for t in texts)


def test_sample_weight_column_matches_class_weight(tmp_path: Path) -> None:
    """Weights from a column equal to the balanced class weights train the same model."""
    base = _imbalanced(tmp_path / "t.csv", 60, 12, 0)
    with open(base, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    weight = {"major": 72 / 120, "minor": 72 / 24}
    rows = [[*rows[0], "w"]] + [[*r, weight[r[2]]] for r in rows[1:]]
    weighted = write_table(tmp_path / "w.csv", rows[0], rows[1:])
    layers = [{"Dense": {"units": 2, "activation": "softmax"}}]
    outs = []
    for name, data, extra in (
        ("cw", {"train": str(base)}, {"class_weight": "balanced"}),
        ("sw", {"train": str(weighted), "sample_weight": "w"}, {}),
    ):
        recipe = write_recipe(
            tmp_path / f"{name}.yaml",
            data={"kind": "csv", "batch_size": 8, "shuffle": False, **data},
            layers=layers,
            epochs=2,
            **extra,
        )
        train(load_recipe(recipe), TrainOptions(out=tmp_path / name))
        outs.append(keras_predict(tmp_path / name, feature_rows(base, ["a", "b"])))
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-5)


# --- bad input -----------------------------------------------------------------------


def test_class_weight_mistakes(tmp_path: Path) -> None:
    from train_helpers import write_csv

    data = {"kind": "csv", "train": str(write_csv(tmp_path / "d.csv"))}
    layers = [{"Dense": {"units": 2, "activation": "softmax"}}]
    recipe = write_recipe(
        tmp_path / "r.yaml",
        data=data,
        layers=layers,
        epochs=1,
        class_weight={"yes": 1.0, "sevn": 2.0},
    )
    with pytest.raises(RecipeError) as info:
        train(load_recipe(recipe), TrainOptions(out=tmp_path / "run"))
    assert f"{recipe}:{line_of(recipe, 'sevn')}:" in str(info.value)
    assert "does not have: ['sevn']" in str(info.value)
    data = {"kind": "csv", "train": str(tmp_path / "d.csv"), "target": "regression"}
    recipe = write_recipe(
        tmp_path / "g.yaml", data=data, layers=[{"Dense": 1}], class_weight="balanced"
    )
    with pytest.raises(RecipeError, match="class_weight weighs classes"):
        load_recipe(recipe)


def test_class_weight_applies_to_image_folders(tmp_path: Path) -> None:
    from conftest import make_image_folder
    from train_helpers import image_data

    root = make_image_folder(tmp_path / "imgs", classes=("many",), per_class=9)
    make_image_folder(root, classes=("few",), per_class=3, seed=3)
    recipe = write_recipe(
        tmp_path / "r.yaml", data=image_data(root), epochs=1, class_weight={"few": 3.0}
    )
    events: list = []
    result = train(load_recipe(recipe), TrainOptions(out=tmp_path / "run"), on_event=events.append)
    assert result.epochs_run == 1
    texts = [getattr(e, "text", "") for e in events]
    assert "class weights in the training loss: few 3, many 1" in texts
