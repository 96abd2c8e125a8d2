"""Preprocessing layers are adapted on the training split before the first step (issue 11).

The oracle is numpy: the saved ``Normalization`` layer must hold the training rows' mean
and (population) variance per feature, never the validation rows', and a resumed run must
keep those statistics (restored, not adapted again).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from train_helpers import write_recipe

from dlcli.recipe import load_recipe
from dlcli.training import Notice, TrainOptions, train

SCALES = np.array([1000.0, 0.5, -30.0])  # features of very different size, like wine's


def _write_rows(path: Path, n: int, seed: int, shift: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = (rng.normal(size=(n, 3)) * 0.2 + 1.0 + 0.3 * y[:, None]) * SCALES * shift
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["f1", "f2", "f3", "label"])
        for row, t in zip(x, y, strict=True):
            writer.writerow([f"{v:.6f}" for v in row] + [str(t)])
    with open(path, newline="") as fh:  # the values as written, parsed back
        rows = list(csv.DictReader(fh))
    return np.array([[float(r[k]) for k in ("f1", "f2", "f3")] for r in rows])


def _recipe(tmp_path: Path, norm: dict | None = None, epochs: int = 2) -> tuple[Path, np.ndarray]:
    x_train = _write_rows(tmp_path / "train.csv", 40, seed=1)
    _write_rows(tmp_path / "val.csv", 12, seed=2, shift=5.0)  # adapting on it would show
    data = {
        "kind": "csv",
        "train": str(tmp_path / "train.csv"),
        "validation": str(tmp_path / "val.csv"),
        "batch_size": 8,
    }
    layers = [
        {"Normalization": {**(norm or {}), "name": "norm"}},
        {"Dense": {"units": 2, "activation": "softmax"}},
    ]
    return write_recipe(tmp_path / "r.yaml", data=data, layers=layers, epochs=epochs), x_train


def _norm_layer(model_file: Path):
    from dlcli.backend import keras

    return keras.models.load_model(model_file).get_layer("norm")


def test_normalization_adapted_on_training_split_only(tmp_path: Path):
    path, x_train = _recipe(tmp_path)
    events: list[object] = []
    train(load_recipe(path), TrainOptions(out=tmp_path / "run"), on_event=events.append)

    layer = _norm_layer(tmp_path / "run" / "model.keras")
    mean = np.asarray(layer.adapt_mean).ravel()
    var = np.asarray(layer.adapt_variance).ravel()
    assert mean == pytest.approx(x_train.mean(axis=0), rel=1e-5)
    assert var == pytest.approx(x_train.var(axis=0), rel=1e-4)

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    [record] = metrics["adapted"]
    assert record["layer"] == "norm" and record["type"] == "Normalization"
    assert record["adapted"] is True and record["split"] == "training"
    assert record["examples"] == 40
    lines = [e.text for e in events if isinstance(e, Notice)]
    assert any(line.startswith("adapted Normalization layer 'norm' on 40 train") for line in lines)
    # standardised inputs: the first epoch's loss is near ln 2, not thousands
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    first_loss = float(history[1].split(",")[1])
    assert first_loss < 2.0


def test_normalization_given_in_the_recipe_is_not_adapted(tmp_path: Path):
    path, _ = _recipe(tmp_path, norm={"mean": 3.0, "variance": 4.0}, epochs=1)
    events: list[object] = []
    train(load_recipe(path), TrainOptions(out=tmp_path / "run"), on_event=events.append)
    layer = _norm_layer(tmp_path / "run" / "model.keras")
    assert np.asarray(layer.mean).ravel() == pytest.approx([3.0, 3.0, 3.0])
    assert np.asarray(layer.variance).ravel() == pytest.approx([4.0, 4.0, 4.0])
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [(r["layer"], r["adapted"]) for r in metrics["adapted"]] == [("norm", False)]
    assert "Normalization layer 'norm' uses the state given in the recipe" in [
        e.text for e in events if isinstance(e, Notice)
    ]


def test_resume_restores_the_adapted_statistics(tmp_path: Path):
    path, x_train = _recipe(tmp_path)
    train(load_recipe(path), TrainOptions(out=tmp_path / "straight"))
    train(load_recipe(path, flags={"train.epochs": 1}), TrainOptions(out=tmp_path / "resumed"))
    # New training rows before resuming: adapting again would move the statistics.
    _write_rows(tmp_path / "train.csv", 40, seed=1, shift=3.0)
    events: list[object] = []
    options = TrainOptions(out=tmp_path / "resumed", resume=True)
    train(load_recipe(path), options, on_event=events.append)
    layer = _norm_layer(tmp_path / "resumed" / "model.keras")
    assert np.asarray(layer.adapt_mean).ravel() == pytest.approx(x_train.mean(axis=0), rel=1e-5)
    assert any(
        "restored from the checkpoint, not adapted again" in e.text
        for e in events
        if isinstance(e, Notice)
    )
    # The restored statistics are the ones the step uses: on the original rows, the
    # resumed run's validation loss matches the uninterrupted run's.
    _write_rows(tmp_path / "train.csv", 40, seed=1)
    train(load_recipe(path, flags={"train.epochs": 1}), TrainOptions(out=tmp_path / "again"))
    train(load_recipe(path), TrainOptions(out=tmp_path / "again", resume=True))

    def val_losses(run: str) -> list[float]:
        with open(tmp_path / run / "history.csv", newline="") as fh:
            return [float(r["val_loss"]) for r in csv.DictReader(fh)]

    assert val_losses("again") == pytest.approx(val_losses("straight"), rel=1e-5)


def test_discretization_bins_restored_on_resume(tmp_path: Path):
    x_train = _write_rows(tmp_path / "train.csv", 40, seed=1)
    data = {"kind": "csv", "train": str(tmp_path / "train.csv"), "batch_size": 8}
    layers = [
        {"Discretization": {"num_bins": 4, "output_mode": "one_hot", "name": "bins"}},
        {"Flatten": None},
        {"Dense": {"units": 2, "activation": "softmax"}},
    ]
    path = write_recipe(
        tmp_path / "r.yaml", data=data, layers=layers, epochs=2, checkpoint={"monitor": "loss"}
    )
    train(load_recipe(path, flags={"train.epochs": 1}), TrainOptions(out=tmp_path / "run"))
    state = json.loads((tmp_path / "run" / "checkpoints" / "state.json").read_text())
    [record] = state["adapted"]
    bins = record["state"]
    assert len(bins) == 3 and bins == sorted(bins)
    # quartiles of all training values (Keras' approximate quantiles: close, not exact)
    assert bins == pytest.approx(np.quantile(x_train, [0.25, 0.5, 0.75]), rel=0.1, abs=5)
    _write_rows(tmp_path / "train.csv", 40, seed=1, shift=3.0)  # adapting again would move them
    train(load_recipe(path), TrainOptions(out=tmp_path / "run", resume=True))
    from dlcli.backend import keras

    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    assert model.get_layer("bins").bin_boundaries == pytest.approx(bins)


def test_a_registered_adapter_runs_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The registry is the extension point: a toy adapter learns Rescaling's scale."""
    from dlcli.backend import keras
    from dlcli.training import adapt

    monkeypatch.setattr(adapt, "_ADAPTERS", list(adapt._ADAPTERS))  # undone after the test

    def learn_scale(layer, batches) -> None:
        layer.scale = 1.0 / max(float(np.abs(np.asarray(b)).max()) for b in batches)

    def set_scale(layer, state) -> None:
        layer.scale = state

    adapt.register_adapter(
        keras.layers.Rescaling,
        adapt.Adapter(
            preset=lambda layer: False,
            describe=lambda layer: f"scale {layer.scale:.6g}",
            save=lambda layer: layer.scale,
            load=set_scale,
            adapt=learn_scale,
        ),
    )
    x_train = _write_rows(tmp_path / "train.csv", 40, seed=1)
    data = {"kind": "csv", "train": str(tmp_path / "train.csv"), "batch_size": 8}
    layers = [
        {"Rescaling": {"scale": 1.0, "name": "unit"}},
        {"Dense": {"units": 2, "activation": "softmax"}},
    ]
    path = write_recipe(
        tmp_path / "r.yaml", data=data, layers=layers, epochs=1, checkpoint={"monitor": "loss"}
    )
    events: list[object] = []
    train(load_recipe(path), TrainOptions(out=tmp_path / "run"), on_event=events.append)
    scale = keras.models.load_model(tmp_path / "run" / "model.keras").get_layer("unit").scale
    assert scale == pytest.approx(1.0 / np.abs(x_train).max(), rel=1e-6)
    assert any(
        isinstance(e, Notice) and e.text.startswith("adapted Rescaling layer 'unit' on 40")
        for e in events
    )


def test_normalization_adapts_under_mixed_float16(tmp_path: Path):
    """Keras's own adapt fails under mixed_float16 (float16 batches, float32 totals)."""
    path, x_train = _recipe(tmp_path, epochs=1)
    recipe = load_recipe(path, flags={"train.mixed_precision": "float16"})
    from dlcli.backend import keras

    before = keras.mixed_precision.global_policy().name
    result = train(recipe, TrainOptions(out=tmp_path / "run"))
    assert result.metrics["precision_policy"] == "mixed_float16"
    # The run's policy ends with the run: the process's next model is not built in float16.
    assert keras.mixed_precision.global_policy().name == before == "float32"
    layer = _norm_layer(tmp_path / "run" / "model.keras")
    assert np.asarray(layer.adapt_mean).ravel() == pytest.approx(x_train.mean(axis=0), rel=1e-5)
