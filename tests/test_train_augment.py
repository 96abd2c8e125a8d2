"""Augmented runs are reproducible: same seed, same history; resume equals a straight run.

Augmentation runs inside the compiled step (its random draws in a fixed order, its RNG
state in the checkpoint). In a parallel tf.data map the draws happened in thread order and
two runs of the same recipe differed.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import make_image_folder
from train_helpers import image_data, write_recipe

from dlcli.recipe import load_recipe
from dlcli.training import TrainOptions, train

KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
AUGMENT = [{"RandomTranslation": {"height_factor": 0.2, "width_factor": 0.2}}]


def _history(run: Path) -> list[dict[str, float]]:
    with open(run / "history.csv", newline="") as fh:
        return [{k: float(r[k]) for k in KEYS} for r in csv.DictReader(fh)]


def test_augmented_runs_repeat_and_resume_exactly(tmp_path: Path):
    train_dir = make_image_folder(tmp_path / "train", per_class=8, seed=5)
    val_dir = make_image_folder(tmp_path / "val", per_class=2, seed=6)
    path = write_recipe(
        tmp_path / "r.yaml",
        data=image_data(train_dir, val_dir, augment=AUGMENT, shuffle=True),
        epochs=3,
    )
    train(load_recipe(path), TrainOptions(out=tmp_path / "a"))
    train(load_recipe(path), TrainOptions(out=tmp_path / "b"))
    a, b = _history(tmp_path / "a"), _history(tmp_path / "b")
    assert a == b and len(a) == 3

    # Without augmentation the same seed trains differently: the layer did something.
    plain = write_recipe(
        tmp_path / "plain.yaml", data=image_data(train_dir, val_dir, shuffle=True), epochs=3
    )
    train(load_recipe(plain), TrainOptions(out=tmp_path / "plain"))
    assert _history(tmp_path / "plain")[0]["loss"] != a[0]["loss"]

    train(load_recipe(path, flags={"train.epochs": 1}), TrainOptions(out=tmp_path / "c"))
    train(load_recipe(path), TrainOptions(out=tmp_path / "c", resume=True))
    c = _history(tmp_path / "c")
    for row_a, row_c in zip(a, c, strict=True):
        for k in KEYS:
            assert row_c[k] == pytest.approx(row_a[k], rel=1e-5, abs=1e-7)
