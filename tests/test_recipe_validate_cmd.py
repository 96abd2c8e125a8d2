"""`dlcli validate`: summary on success, every problem on failure, model built unless --no-build."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlcli.cli import main

MLP = """\
name: tiny_mlp
model:
  input: [4]
  layers:
    - Dense: {units: 3, activation: relu}
    - Dense: {units: 2, activation: softmax}
train: {epochs: 5}
"""


def write(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_valid_recipe_summary_and_params(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, MLP)
    assert main(["validate", str(path), "--set", "train.epochs=9"]) == 0
    out = capsys.readouterr().out
    assert f"ok: {path} is a valid recipe" in out
    out = " ".join(out.split())  # the key column width depends on the longest key
    assert "tiny_mlp" in out and "epochs 9" in out and "layers 2" in out
    # 4*3 + 3 weights and biases, then 3*2 + 2
    assert "params 23" in out.replace(",", "")


def test_input_shape_from_image_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (
        "name: img\ndata: {train: imgs, image_size: [6, 5], color_mode: rgba}\n"
        "model:\n  layers:\n    - Conv2D: {filters: 2, kernel_size: 3}\n    - Flatten\n"
    )
    assert main(["validate", str(write(tmp_path, text))]) == 0
    out = capsys.readouterr().out
    out = " ".join(out.split())
    assert "input 6x5x4" in out
    assert "params 74" in out  # 3*3*4*2 + 2


def test_csv_without_features_builds_from_the_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "t.csv").write_text("a,b,c,label\n1,2,3,x\n")
    text = "name: csv\ndata: {kind: csv, train: t.csv}\nmodel: {layers: [Dense: 2]}\n"
    assert main(["validate", str(write(tmp_path, text))]) == 0
    out = capsys.readouterr().out
    # Three feature columns (all but the label) -> Dense(2) has 3*2 + 2 weights.
    out = " ".join(out.split())
    assert "input 3" in out and "params 8" in out


def test_csv_with_missing_label_column_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "t.csv").write_text("a,b,c\n1,2,3\n")
    text = "name: csv\ndata: {kind: csv, train: t.csv}\nmodel: {layers: [Dense: 2]}\n"
    assert main(["validate", str(write(tmp_path, text))]) == 2
    assert "label column 'label' not in the CSV header" in capsys.readouterr().err


def test_no_build_skips_shape_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = MLP.replace("input: [4]", "input: [4, 4, 1]").replace(
        "- Dense: {units: 3", "- Conv1D: {filters: 3, kernel_size: 9"
    )
    path = write(tmp_path, text)
    assert main(["validate", str(path), "--no-build"]) == 0
    capsys.readouterr()
    assert main(["validate", str(path)]) == 2
    assert "r.yaml:5:7" in capsys.readouterr().err


def test_all_problems_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = MLP.replace("units: 3", "unit: 3").replace("epochs: 5", "epochs: five")
    assert main(["validate", str(write(tmp_path, text)), "--set", "seed=x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "r.yaml:5:15: model.layers[0].Dense.unit: unknown argument 'unit'" in err
    assert "r.yaml:7:17: train.epochs: bad value" in err
    assert "seed: bad seed" in err and "set by --set seed=x" in err


def test_optimizer_arguments_are_checked_when_building(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = "name: o\nmodel: {input: [4], layers: [Dense: 2]}\ntrain: {optimizer: {name: sgd}}\n"
    assert main(["validate", str(write(tmp_path, good))]) == 0
    assert "sgd, lr 0.01" in capsys.readouterr().out  # Keras's SGD default rate
    bad = good.replace("{name: sgd}", "{name: sgd, bogus: 1}")
    assert main(["validate", str(write(tmp_path, bad))]) == 2
    err = capsys.readouterr().err
    assert "train.optimizer" in err and "bogus" in err
