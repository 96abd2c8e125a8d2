"""Target mistakes, each at its place: bad label cells at file:row:column, an empty tag
(exit 2 in a real process), a loss or last activation that cannot learn the target at its
recipe line, and output units that disagree with the target's columns."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from target_helpers import line_of, write_table
from train_helpers import write_recipe

from dlcli.errors import DataError, RecipeError
from dlcli.recipe import load_recipe
from dlcli.training import TrainOptions, train


def test_bad_cells_name_file_row_and_column(tmp_path: Path) -> None:
    reg = write_table(tmp_path / "reg.csv", ["a", "y"], [[1, 2.5], [2, "lots"], [3, 1.0]])
    data = {"kind": "csv", "train": str(reg), "label": "y", "target": "regression"}
    recipe = write_recipe(tmp_path / "r.yaml", data=data, layers=[{"Dense": 1}], epochs=1)
    with pytest.raises(DataError) as info:
        train(load_recipe(recipe), TrainOptions(out=tmp_path / "run"))
    assert f"{reg}:3:2: non-numeric value in target column 'y'" in str(info.value)
    assert "'lots'" in str(info.value)

    weights = write_table(tmp_path / "w.csv", ["a", "label", "w"], [[1, "x", 1], [2, "y", -1]])
    data = {"kind": "csv", "train": str(weights), "sample_weight": "w"}
    recipe = write_recipe(tmp_path / "w.yaml", data=data, layers=[{"Dense": 2}], epochs=1)
    with pytest.raises(DataError, match=r"w\.csv:3:3: bad sample weight"):
        train(load_recipe(recipe), TrainOptions(out=tmp_path / "run2"))


def test_empty_tag_exits_2_with_its_place(tmp_path: Path) -> None:
    table = write_table(tmp_path / "t.csv", ["a", "tags"], [[1, "x|y"], [2, "x||y"], [3, "y"]])
    data = {"kind": "csv", "train": str(table), "label": "tags", "target": "multi_label"}
    layers = [{"Dense": {"units": 2, "activation": "sigmoid"}}]
    recipe = write_recipe(tmp_path / "r.yaml", data=data, layers=layers, epochs=1)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("DLCLI_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "dlcli.cli", "train", str(recipe), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert f"{table}:3:2: empty tag in column 'tags'" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("target", "layers", "loss", "where", "message"),
    [
        (
            "multi_label",
            [{"Dense": {"units": 3, "activation": "softmax"}}],
            None,
            "Dense",
            "softmax last layer makes the tags compete",
        ),
        (
            "regression",
            [{"Dense": 1}],
            "sparse_categorical_crossentropy",
            "loss:",
            "is not a regression loss",
        ),
        (
            "regression",
            [{"Dense": {"units": 1, "activation": "softmax"}}],
            None,
            "Dense",
            "softmax last layer outputs shares",
        ),
        (
            "multi_label",
            [{"Dense": {"units": 3, "activation": "sigmoid"}}],
            "mse",
            "loss:",
            "does not learn independent tags",
        ),
    ],
)
def test_target_mismatch_refused_at_its_place(
    tmp_path: Path, target: str, layers: list, loss: str | None, where: str, message: str
) -> None:
    data = {"kind": "csv", "train": str(tmp_path / "t.csv"), "target": target}
    extra = {"loss": loss} if loss else {}
    recipe = write_recipe(tmp_path / "r.yaml", data=data, layers=layers, **extra)
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe)
    text = str(info.value)
    assert f"{recipe}:{line_of(recipe, where)}:" in text
    assert message in text


def test_units_against_target_columns(tmp_path: Path) -> None:
    data = {
        "kind": "csv",
        "train": str(tmp_path / "t.csv"),
        "label": ["u", "v", "w"],
        "target": "regression",
    }
    recipe = write_recipe(tmp_path / "r.yaml", data=data, layers=[{"Dense": 2}])
    with pytest.raises(RecipeError, match="has 2 unit\\(s\\) but the regression target has 3"):
        load_recipe(recipe)
    # Tags found only in the data: checked when training starts, at the layer's line.
    table = write_table(tmp_path / "t.csv", ["a", "tags"], [[1, "x|y"], [2, "z"], [3, "y"]])
    data = {"kind": "csv", "train": str(table), "label": "tags", "target": "multi_label"}
    layers = [{"Dense": {"units": 2, "activation": "sigmoid"}}]
    recipe = write_recipe(tmp_path / "m.yaml", data=data, layers=layers, epochs=1)
    with pytest.raises(RecipeError) as info:
        train(load_recipe(recipe), TrainOptions(out=tmp_path / "run"))
    assert f"{recipe}:{line_of(recipe, 'Dense')}:" in str(info.value)
    assert "multi_label target has 3 (x, y, z)" in str(info.value)
