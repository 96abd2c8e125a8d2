"""`dlcli inspect` on recipes and saved models, and `dlcli layers`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dlcli.backend import keras
from dlcli.cli import main

RECIPE = """\
name: tiny
model:
  input: [12, 12, 1]
  layers:
    - Conv2D: {filters: 4, kernel_size: 3, activation: relu}
    - MaxPooling2D
    - Flatten
    - Dense: {units: 3, activation: softmax}
"""


def _json(capsys, *args: str) -> dict:
    capsys.readouterr()
    assert main(["inspect", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_on_a_recipe_matches_the_hand_written_model(tmp_path: Path, capsys) -> None:
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(RECIPE)
    data = _json(capsys, str(recipe))
    inp = keras.Input((12, 12, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    x = keras.layers.Flatten()(keras.layers.MaxPooling2D()(x))
    oracle = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))
    assert data["total_params"] == oracle.count_params() == 40 + 303
    assert data["trainable_params"] == 343 and data["non_trainable_params"] == 0
    assert data["weight_bytes"] == 343 * 4
    assert [layer["type"] for layer in data["layers"]] == [
        "InputLayer",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dense",
    ]
    conv = data["layers"][1]
    assert conv["output_shape"] == [None, 10, 10, 4] and conv["params"] == 40
    assert conv["flops"] == 2 * 100 * 9 * 4 + 400  # multiply-adds x2, + relu
    assert data["total_flops"] == sum(layer["flops"] for layer in data["layers"])
    assert {"index", "name", "trainable_params"} <= set(conv)


def test_set_override_changes_the_built_model(tmp_path: Path, capsys) -> None:
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(RECIPE)
    data = _json(capsys, str(recipe), "--set", "model.layers[0].Conv2D.filters=8")
    assert data["layers"][1]["params"] == 8 * 9 + 8


def test_json_on_a_plain_keras_file(tmp_path: Path, capsys) -> None:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(3, 3),
            keras.layers.BatchNormalization(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    path = tmp_path / "plain.keras"
    model.save(path)
    data = _json(capsys, str(path))
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    assert data["total_params"] == model.count_params() == 57 + 12 + 8
    assert data["trainable_params"] == trainable
    assert data["non_trainable_params"] == model.count_params() - trainable == 6
    assert [layer["index"] for layer in data["layers"]] == [1, 2, 3, 4]


def test_table_on_a_recipe_is_plain_text_when_piped(tmp_path: Path, capsys) -> None:
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(RECIPE)
    assert main(["inspect", str(recipe)]) == 0
    out = capsys.readouterr().out
    assert "\x1b[" not in out
    assert "total params: 343" in out and "non-trainable: 0" in out
    assert "weight memory: 1.3 KiB" in out
    assert any(line.split()[:3] == ["1", "conv2d", "Conv2D"] for line in out.splitlines())


def test_shape_error_exits_2_with_line_and_hint(run_dlcli, tmp_path: Path) -> None:
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(RECIPE.replace("    - Flatten\n", ""))
    result = run_dlcli("inspect", str(recipe))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "bad.yaml:7:" in result.stderr and "(Dense)" in result.stderr
    assert "add Flatten or GlobalAveragePooling2D before Dense" in result.stderr


def test_usage_errors(tmp_path: Path, capsys) -> None:
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(RECIPE)
    assert main(["inspect", str(recipe), "--graph", "-", "--json"]) == 2
    assert "cannot be combined" in capsys.readouterr().err
    no_input = tmp_path / "noinput.yaml"
    no_input.write_text(RECIPE.replace("  input: [12, 12, 1]\n", ""))
    assert main(["inspect", str(no_input)]) == 2
    assert "no input shape" in capsys.readouterr().err


def test_graph_view_from_a_recipe(tmp_path: Path, capsys) -> None:
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(RECIPE)
    assert main(["inspect", str(recipe), "--graph", "-"]) == 0
    assert "conv2d" in capsys.readouterr().out


def _run_fresh(*args: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys; from dlcli.cli import main; rc = main(sys.argv[1:]); "
        "heavy = [m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules]; "
        "print('HEAVY', heavy, file=sys.stderr); sys.exit(rc)"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60
    )


def test_layers_lists_and_describes_without_tensorflow() -> None:
    listing = _run_fresh("layers")
    assert listing.returncode == 0, listing.stderr
    assert "HEAVY []" in listing.stderr
    names = {line.split()[0] for line in listing.stdout.splitlines() if line.startswith("  ")}
    assert {"Conv2D", "Dense", "Add", "BatchNormalization"} <= names
    assert "Lambda" not in names
    conv = _run_fresh("layers", "Conv2D")
    assert conv.returncode == 0 and "HEAVY []" in conv.stderr
    args = {line.split()[0]: line.split()[1] for line in conv.stdout.splitlines()[1:5]}
    assert args["filters"] == "required" and args["kernel_size"] == "required"
    assert "padding" in conv.stdout


def test_layers_unknown_name_suggests(capsys) -> None:
    assert main(["layers", "Conv2d"]) == 2
    assert "did you mean Conv2D" in capsys.readouterr().err
    assert main(["layers", "Lambda"]) == 2
    assert "not available" in capsys.readouterr().err
    assert main(["layers", "Dense", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["first_arg"] == "units"
    assert {"name": "units", "required": True}.items() <= data["args"][0].items()
