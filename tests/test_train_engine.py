"""The training engine in-process: run files, oracles for the step math, resume, seeds."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_image_folder
from train_helpers import image_data, write_csv, write_recipe

from dlcli.recipe import load_recipe
from dlcli.training import EpochEnded, RunStarted, TrainOptions, train


def _history(run: Path) -> list[dict[str, str]]:
    with open(run / "history.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _images(tmp_path: Path, per_class: int = 4) -> tuple[Path, Path]:
    train_dir = make_image_folder(tmp_path / "train", per_class=per_class, seed=1)
    val_dir = make_image_folder(tmp_path / "val", per_class=2, seed=2)
    return train_dir, val_dir


def test_image_run_writes_every_file(tmp_path: Path):
    from dlcli.backend import keras
    from dlcli.modeling.loading import load_model_file

    train_dir, val_dir = _images(tmp_path)
    recipe = load_recipe(
        write_recipe(
            tmp_path / "r.yaml",
            data=image_data(train_dir, val_dir),
            lr_schedule={"kind": "cosine", "warmup_epochs": 0.5},
            checkpoint={"monitor": "val_accuracy"},
        )
    )
    events: list = []
    result = train(recipe, TrainOptions(out=tmp_path / "run"), on_event=events.append)
    run = tmp_path / "run"
    for name in ("recipe.yaml", "model.keras", "best.keras", "labels.json", "history.csv"):
        assert (run / name).is_file(), name
    for name in ("metrics.json", "curves.png", "checkpoints/state.json"):
        assert (run / name).is_file(), name
    assert any((run / "logs" / "train").iterdir()) and not (run / "skipped.txt").exists()
    labels = json.loads((run / "labels.json").read_text())
    assert labels["class_names"] == ["circle", "square"]
    assert labels["image_size"] == [16, 16] and labels["color_mode"] == "grayscale"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs_run"] == metrics["epochs_planned"] == 2
    assert metrics["replicas"] == 1 and metrics["name"] == "tiny"
    assert set(metrics["final"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert metrics["best"]["monitor"] == "val_accuracy"
    rows = _history(run)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert list(rows[0]) == [
        "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_time_s"
    ]  # fmt: skip
    assert float(rows[1]["lr"]) < float(rows[0]["lr"])  # cosine decays
    assert [type(e) for e in events if isinstance(e, (RunStarted, EpochEnded))] == [
        RunStarted, EpochEnded, EpochEnded
    ]  # fmt: skip
    assert result.metrics == metrics

    # Oracle: val_loss/val_accuracy recomputed from the saved model on the raw files.
    model = load_model_file(run / "model.keras")
    x, y = [], []
    from PIL import Image

    for ci, cls in enumerate(labels["class_names"]):
        for p in sorted((val_dir / cls).iterdir()):
            x.append(np.asarray(Image.open(p), np.float32)[..., None])
            y.append(ci)
    probs = model.predict(np.stack(x), verbose=0)
    loss = keras.losses.sparse_categorical_crossentropy(np.array(y), probs)
    assert metrics["final"]["val_loss"] == pytest.approx(float(np.mean(loss)), rel=1e-4)
    acc = float(np.mean(np.argmax(probs, 1) == np.array(y)))
    assert metrics["final"]["val_accuracy"] == pytest.approx(acc)


def test_steps_match_model_fit(tmp_path: Path):
    """One epoch of SGD equals Keras' own model.fit on the same batches (independent oracle)."""
    from dlcli.backend import keras
    from dlcli.modeling.builder import build_model
    from dlcli.modeling.loading import load_model_file

    csv_path = write_csv(tmp_path / "d.csv", n=48)
    layers = [
        {"Dense": {"units": 4, "activation": "tanh"}},
        {"Dense": {"units": 2, "activation": "softmax"}},
    ]
    recipe = load_recipe(
        write_recipe(
            tmp_path / "r.yaml",
            data={"kind": "csv", "train": str(csv_path), "batch_size": 8, "shuffle": False},
            layers=layers,
            epochs=1,
            optimizer={"name": "sgd", "learning_rate": 0.1},
            mixed_precision="off",  # float32 steps, as model.fit runs them
        )
    )
    train(recipe, TrainOptions(out=tmp_path / "run", steps_per_call=4))
    ours = load_model_file(tmp_path / "run" / "model.keras").get_weights()

    keras.utils.set_random_seed(recipe.effective_seed)
    oracle = build_model(recipe.model, (3,))
    data = np.loadtxt(csv_path, delimiter=",", skiprows=1, usecols=(0, 1, 2), dtype=np.float32)
    y = np.arange(48) % 2  # "no" < "yes": class 0 = no
    oracle.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in oracle.get_weights()]
    oracle.fit(data, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert not np.allclose(before[0], ours[0])  # training moved the weights
    for a, b in zip(ours, oracle.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_augmentation_only_on_training(tmp_path: Path):
    """Augment = multiply by 0: the kernel gets no gradient; validation still sees real pixels."""
    from dlcli.backend import keras
    from dlcli.modeling.builder import build_model
    from dlcli.modeling.loading import load_model_file

    train_dir, val_dir = _images(tmp_path)
    next((train_dir / "square").iterdir()).unlink()  # unbalanced: the bias gets a gradient
    recipe = load_recipe(
        write_recipe(
            tmp_path / "r.yaml",
            data=image_data(train_dir, val_dir, augment=[{"Rescaling": {"scale": 0.0}}]),
            epochs=1,
        )
    )
    train(recipe, TrainOptions(out=tmp_path / "run"))
    model = load_model_file(tmp_path / "run" / "model.keras")
    keras.utils.set_random_seed(recipe.effective_seed)
    initial = build_model(recipe.model, (16, 16, 1)).get_weights()
    kernel, bias = model.get_layer("probs").get_weights()
    np.testing.assert_array_equal(kernel, initial[0])  # zero inputs: kernel untouched
    assert not np.array_equal(bias, initial[1])  # but training did happen
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    zeros = model.predict(np.zeros((1, 16, 16, 1), np.float32), verbose=0)
    zero_loss = float(-np.mean(np.log(zeros[0])))  # both classes balanced in val
    assert metrics["final"]["val_loss"] != pytest.approx(zero_loss, rel=1e-3)


def test_csv_run_and_missing_validation_monitor(tmp_path: Path):
    csv_path = write_csv(tmp_path / "d.csv")
    layers = [
        {"Dense": {"units": 8, "activation": "relu"}},
        {"Dense": {"units": 2, "activation": "softmax"}},
    ]
    recipe = load_recipe(
        write_recipe(
            tmp_path / "r.yaml",
            data={"kind": "csv", "train": str(csv_path), "batch_size": 16},
            layers=layers,
            epochs=1,
        )
    )
    events: list = []
    train(recipe, TrainOptions(out=tmp_path / "run"), on_event=events.append)
    started = next(e for e in events if isinstance(e, RunStarted))
    assert any("no validation data" in w for w in started.warnings)
    labels = json.loads((tmp_path / "run" / "labels.json").read_text())
    assert labels == {
        "class_names": ["no", "yes"], "version": 1, "kind": "csv",
        "feature_columns": ["f1", "f2", "f3"], "label_column": "label",
    }  # fmt: skip
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["best"]["monitor"] == "loss" and set(metrics["final"]) == {"loss", "accuracy"}


def test_same_seed_same_history_and_resume_equals_straight_run(tmp_path: Path):
    train_dir, val_dir = _images(tmp_path)
    path = write_recipe(tmp_path / "r.yaml", data=image_data(train_dir, val_dir, shuffle=True))
    recipe = load_recipe(path)
    train(recipe, TrainOptions(out=tmp_path / "a"))
    train(recipe, TrainOptions(out=tmp_path / "b"))
    keys = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")
    a = [{k: r[k] for k in keys} for r in _history(tmp_path / "a")]
    b = [{k: r[k] for k in keys} for r in _history(tmp_path / "b")]
    assert a == b and len(a) == 2

    # 1 epoch, then --resume with --epochs 2: Adam's moments come back from the checkpoint,
    # and epoch 2 sees the same shuffled batches as in the uninterrupted run.
    train(load_recipe(path, flags={"train.epochs": 1}), TrainOptions(out=tmp_path / "c"))
    state = json.loads((tmp_path / "c" / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 1 and state["lr_schedule_step"] == 2
    result = train(recipe, TrainOptions(out=tmp_path / "c", resume=True))
    assert result.epochs_run == 2 and result.metrics["epochs_planned"] == 2
    c = [{k: r[k] for k in keys} for r in _history(tmp_path / "c")]
    for row_a, row_c in zip(a, c, strict=True):
        for k in keys:
            assert float(row_c[k]) == pytest.approx(float(row_a[k]), rel=1e-5, abs=1e-7)
