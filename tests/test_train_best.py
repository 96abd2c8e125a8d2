"""``best.keras``: written once from the best epoch's weights (at the end, or on Ctrl-C).

Oracle: epoch e's batches depend only on the seed and e (and the learning rate is
constant), so a separate run of exactly ``best_epoch`` epochs ends with the weights the
long run had at its best epoch.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from conftest import make_image_folder
from train_helpers import image_data, write_recipe

from dlcli.errors import Interrupted
from dlcli.recipe import load_recipe
from dlcli.training import EpochEnded, TrainOptions, train


def _weights(path: Path) -> list[np.ndarray]:
    from dlcli.modeling.loading import load_model_file

    return load_model_file(path).get_weights()


def _assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


@pytest.fixture(scope="module")
def recipe_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("best")
    train_dir = make_image_folder(root / "train", per_class=6, seed=11)
    val_dir = make_image_folder(root / "val", per_class=3, seed=12)
    # val_accuracy reaches its maximum early and stays there; a tie is no improvement, so
    # the best epoch is the first at the maximum and later epochs keep changing the weights.
    return write_recipe(
        root / "r.yaml",
        data=image_data(train_dir, val_dir, shuffle=True),
        epochs=6,
        checkpoint={"monitor": "val_accuracy"},
    )


def _short_run(recipe_path: Path, out: Path, epochs: int) -> list[np.ndarray]:
    train(load_recipe(recipe_path, flags={"train.epochs": epochs}), TrainOptions(out=out))
    return _weights(out / "model.keras")


def test_best_keras_holds_the_best_epoch(tmp_path: Path, recipe_path: Path):
    run = tmp_path / "full"
    result = train(load_recipe(recipe_path), TrainOptions(out=run))
    best = json.loads((run / "metrics.json").read_text())["best"]
    accuracy = [float(r["val_accuracy"]) for r in _history(run)]
    assert best["epoch"] == 1 + int(np.argmax(accuracy)) < 6  # first epoch at the maximum
    assert result.files["best.keras"] == run / "best.keras"
    expected = _short_run(recipe_path, tmp_path / "short", best["epoch"])
    _assert_same(_weights(run / "best.keras"), expected)
    # the final model moved on; best.keras did not
    assert not np.allclose(_weights(run / "model.keras")[0], expected[0])
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    assert state["files"]["best"] == f"epoch-{best['epoch']:04d}-best.npz"


def test_best_keras_written_on_interrupt_and_after_resume(tmp_path: Path, recipe_path: Path):
    run = tmp_path / "run"

    def interrupt_after_epoch_3(event: object) -> None:
        if isinstance(event, EpochEnded) and event.epoch == 3:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted):
        train(load_recipe(recipe_path), TrainOptions(out=run), on_event=interrupt_after_epoch_3)
    assert not (run / "model.keras").exists()
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 3
    accuracy = [row["val_accuracy"] for row in state["history"]]
    best_epoch = 1 + int(np.argmax(accuracy))
    expected = _short_run(recipe_path, tmp_path / "short", best_epoch)
    _assert_same(_weights(run / "best.keras"), expected)

    (run / "best.keras").unlink()  # must come back from the checkpoint's best arrays
    result = train(load_recipe(recipe_path), TrainOptions(out=run, resume=True))
    assert result.epochs_run == 6 and result.files["best.keras"].is_file()
    final_best = result.metrics["best"]["epoch"]
    if final_best == best_epoch:
        _assert_same(_weights(run / "best.keras"), expected)
    else:  # a later epoch was better: best.keras came from the resumed session's memory
        assert final_best > 3
        other = _short_run(recipe_path, tmp_path / "short2", final_best)
        _assert_same(_weights(run / "best.keras"), other)


def _history(run: Path) -> list[dict[str, str]]:
    import csv

    with open(run / "history.csv", newline="") as fh:
        return list(csv.DictReader(fh))
