"""``train.stages`` in real runs: which layers change per stage (numpy on the saved models),
frozen BatchNormalization in inference mode, resume across stage boundaries and after
kill -9 inside a stage (real subprocesses), and the stage in history.csv/metrics.json."""

from __future__ import annotations

import csv
import json
import signal
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import make_image_folder
from train_helpers import image_data, write_recipe
from train_processes import saved_epoch, start_dlcli, wait_until

from dlcli.recipe import load_recipe
from dlcli.training import TrainOptions, train

LAYERS = [
    {"Rescaling": {"scale": 1 / 255, "name": "scale"}},
    {"Conv2D": {"filters": 4, "kernel_size": 3, "name": "conv"}},
    {"BatchNormalization": {"name": "bn"}},
    {"Flatten": {"name": "flat"}},
    {"Dense": {"units": 8, "activation": "relu", "name": "hidden"}},
    {"Dense": {"units": 2, "activation": "softmax", "name": "out"}},
]
STAGES = [
    {"name": "frozen", "epochs": 1, "trainable": "none"},
    {"name": "head", "epochs": 1, "trainable": {"top": 1}},
    {"name": "upper", "epochs": 1, "trainable": {"top": 3}, "learning_rate": 0.005},
    {"name": "from_bn", "epochs": 1, "trainable": {"from": "bn"}, "optimizer": "sgd"},
]


def _weights(run: Path) -> dict[str, list[np.ndarray]]:
    from dlcli.backend import keras

    model = keras.saving.load_model(run / "model.keras", compile=False)
    return {
        layer.name: [keras.ops.convert_to_numpy(w) for w in layer.weights] for layer in model.layers
    }


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def _changed(before: dict, after: dict) -> set[str]:
    return {name for name, ws in after.items() if ws and not _same(before[name], ws)}


def _recipe(tmp_path: Path, stages: list[dict], name: str = "r.yaml") -> Path:
    train_dir = tmp_path / "train"
    if not train_dir.exists():
        make_image_folder(train_dir, per_class=4, size=8, seed=5)
    path = write_recipe(
        tmp_path / name,
        data=image_data(train_dir, image_size=[8, 8], batch_size=4),
        layers=LAYERS,
        stages=stages,
    )
    text = path.read_text().replace("  epochs: 2\n", "", 1)  # with stages: their sum
    path.write_text(text)
    return path


@pytest.mark.slow
def test_each_stage_changes_exactly_its_layers_and_resume_at_boundaries(tmp_path: Path):
    run = tmp_path / "run"
    seen = []
    for count in range(1, len(STAGES) + 1):  # each session adds a stage and resumes
        recipe = load_recipe(_recipe(tmp_path, STAGES[:count]))
        assert recipe.train.epochs == count
        train(recipe, TrainOptions(out=run, resume=count > 1))
        seen.append(_weights(run))

    init = seen[0]  # stage "frozen": nothing trains, BatchNormalization in inference mode
    assert np.array_equal(init["bn"][2], np.zeros(4)) and np.array_equal(init["bn"][3], np.ones(4))
    assert _changed(init, seen[1]) == {"out"}
    assert _changed(seen[1], seen[2]) == {"hidden", "out"}  # top 3: flat has no weights
    assert _changed(seen[2], seen[3]) == {"bn", "hidden", "out"}
    moving_mean = seen[3]["bn"][2]
    assert not np.array_equal(moving_mean, np.zeros(4))  # trained: batch statistics

    straight = tmp_path / "straight"
    train(load_recipe(_recipe(tmp_path, STAGES, "all.yaml")), TrainOptions(out=straight))
    final = _weights(straight)
    for name, ws in seen[-1].items():
        assert _same(ws, final[name]), name

    # model.keras holds the last stage's optimizer, which fits its trainable variables
    # (the first one built did not: Keras warned on every compiled load).
    from dlcli.backend import keras

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = keras.saving.load_model(straight / "model.keras")
    assert type(loaded.optimizer).__name__ == "SGD"

    with open(straight / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["epoch"], r["stage"]) for r in rows] == [
        ("1", "frozen"),
        ("2", "head"),
        ("3", "upper"),
        ("4", "from_bn"),
    ]
    metrics = json.loads((straight / "metrics.json").read_text())
    assert "stage" not in metrics["final"]
    from dlcli.evaluation.engine import recorded_metrics

    best_epoch = metrics["best"]["epoch"]
    recorded, _ = recorded_metrics(straight, "best.keras")  # read from history.csv
    assert recorded["accuracy"] == float(rows[best_epoch - 1]["accuracy"])
    by_name = {s["name"]: s for s in metrics["stages"]}
    assert [s["epochs_run"] for s in metrics["stages"]] == [[1], [2], [3], [4]]
    assert by_name["frozen"]["trainable_params"] == 0
    assert by_name["head"]["trainable_params"] == 8 * 2 + 2  # independent: Dense(2) on 8
    assert by_name["upper"]["trainable_layers"] == ["flat", "hidden", "out"]
    assert by_name["upper"]["optimizer"] == {"name": "adam", "learning_rate": 0.005}
    assert by_name["from_bn"]["optimizer"]["name"] == "sgd"


@pytest.mark.slow
def test_kill_9_in_stage_2_then_resume_equals_uninterrupted(tmp_path: Path):
    train_dir = make_image_folder(tmp_path / "train", per_class=40, size=32, seed=3)
    stages = [
        {"name": "head", "epochs": 2, "trainable": {"top": 1}},
        {"name": "all", "epochs": 3, "trainable": "all", "learning_rate": 0.001},
    ]
    path = write_recipe(
        tmp_path / "slow.yaml",
        data=image_data(train_dir, image_size=[32, 32], batch_size=2),
        layers=LAYERS,
        stages=stages,
    )
    path.write_text(path.read_text().replace("  epochs: 2\n", "", 1))
    run = tmp_path / "run"
    proc = start_dlcli("train", str(path), "--out", str(run), cwd=tmp_path)
    wait_until(lambda: saved_epoch(run) >= 3, proc, "a checkpoint in stage 2")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    if state["epoch"] >= 5:
        pytest.fail("the run finished before the kill: make its epochs slower")
    assert state["stage"] == 2 and state["epoch"] in (3, 4)

    resumed = start_dlcli("train", str(path), "--out", str(run), "--resume", cwd=tmp_path)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    assert "stage 2/2 'all': epochs 3-5, trainable: all" in out

    straight = tmp_path / "straight"
    train(load_recipe(path), TrainOptions(out=straight))
    a, b = _weights(run), _weights(straight)
    for name, ws in b.items():
        assert _same(a[name], ws), name
    with open(run / "history.csv", newline="") as fh:
        stages_run = [row["stage"] for row in csv.DictReader(fh)]
    assert stages_run == ["head", "head", "all", "all", "all"]


def test_inspect_shows_trainable_parameters_per_stage(tmp_path: Path, capsys) -> None:
    from dlcli.cli import main

    path = _recipe(tmp_path, STAGES)
    assert main(["inspect", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    # By hand, 8x8x1 input: conv 3*3*1*4+4 = 40; bn gamma+beta 8 (+8 moving statistics);
    # hidden 6*6*4*8+8 = 1160; out 8*2+2 = 18.
    counts = {s["name"]: s["trainable_params"] for s in doc["stages"]}
    assert counts == {"frozen": 0, "head": 18, "upper": 1160 + 18, "from_bn": 8 + 1160 + 18}
    assert {s["total_params"] for s in doc["stages"]} == {40 + 16 + 1160 + 18}
    frozen = {layer["name"] for layer in doc["layers"] if layer.get("frozen")}
    assert frozen == {"conv", "bn", "hidden", "out"}  # the table: the first stage

    assert main(["inspect", str(path)]) == 0
    text = capsys.readouterr().out
    assert "stage 3 upper (epoch 3): trainable top 3, 1,178 of 1,234 parameters" in text


@pytest.mark.slow
def test_stage_freezes_a_backbone_with_its_batchnorm_and_unfreezes_it() -> None:
    from dlcli.backend import keras
    from dlcli.errors import RecipeError
    from dlcli.modeling.builder import build_model
    from dlcli.recipe import load_recipe_text
    from dlcli.training.stages import set_trainable, trainable_count

    recipe = load_recipe_text(
        "name: b\nmodel:\n  input: [32, 32, 3]\n  layers:\n"
        "    - Backbone: {name: MobileNetV2, alpha: 0.35, weights: null, pooling: avg}\n"
        "    - Dense: {units: 3, activation: softmax, name: probs}\n"
        "train:\n  stages:\n"
        "    - {name: head, epochs: 1, trainable: {top: 1}}\n"
        "    - {name: all, epochs: 1, trainable: all}\n"
        "    - {name: top, epochs: 1, trainable: {from: backbone/block_16_expand}}\n"
        "    - {name: typo, epochs: 1, trainable: {from: backbone/block_16_expnd}}\n"
    )
    model = build_model(recipe.model, (32, 32, 3), name="b")
    names = [layer.name for layer in recipe.model.layers]
    inner = model.get_layer(names[0]).application
    norms = [layer for layer in inner.layers if isinstance(layer, keras.layers.BatchNormalization)]
    plain = keras.applications.MobileNetV2(
        alpha=0.35, include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg"
    )
    plain_trainable = sum(int(np.prod(w.shape)) for w in plain.trainable_weights)
    head = plain.output_shape[-1] * 3 + 3

    set_trainable(model, names, recipe.train.stages[0])
    assert trainable_count(model) == head
    assert norms and not any(layer.trainable for layer in norms)  # inference mode in Keras
    set_trainable(model, names, recipe.train.stages[1])
    assert trainable_count(model) == plain_trainable + head
    assert all(layer.trainable for layer in norms)

    # from: backbone/LAYER: the application's layers from LAYER on (Keras's order), as the
    # TensorFlow fine-tuning tutorial freezes base_model.layers[:fine_tune_at]
    at = [layer.name for layer in plain.layers].index("block_16_expand")
    for layer in plain.layers[:at]:
        layer.trainable = False
    upper = sum(int(np.prod(w.shape)) for w in plain.trainable_weights)
    set_trainable(model, names, recipe.train.stages[2], 3)
    assert trainable_count(model) == upper + head < plain_trainable
    with pytest.raises(RecipeError) as info:
        set_trainable(model, names, recipe.train.stages[3], 4)
    assert info.value.problem.field == "train.stages[3].trainable.from"
    assert "did you mean 'block_16_expand'" in info.value.problem.format()


def test_validate_builds_and_checks_a_layer_inside_the_backbone(tmp_path: Path, capsys) -> None:
    from dlcli.cli import main

    path = tmp_path / "b.yaml"
    path.write_text(
        "name: b\nmodel:\n  input: [32, 32, 3]\n  layers:\n"
        "    - Backbone: {name: MobileNetV2, alpha: 0.35, weights: null, pooling: avg}\n"
        "    - Dense: {units: 3, activation: softmax}\n"
        "train:\n  stages:\n    - {epochs: 1, trainable: {from: backbone/block_16_expnd}}\n"
    )
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "train.stages[0].trainable.from:" in err and "block_16_expand" in err
    assert main(["validate", str(path), "--no-build"]) == 0  # the name needs the backbone
