"""``StopTraining`` raised by an ``on_event`` callback ends a run cleanly (used by tune)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from train_helpers import write_csv, write_recipe

from dlcli.recipe import load_recipe
from dlcli.training import EpochEnded, Event, TrainOptions, train
from dlcli.training.halt import StopTraining


def test_stop_training_at_epoch_end_writes_the_final_files(tmp_path: Path) -> None:
    data = {"kind": "csv", "train": str(write_csv(tmp_path / "d.csv")), "batch_size": 8}
    layers = [{"Dense": {"units": 2, "activation": "softmax", "name": "probs"}}]
    recipe = load_recipe(write_recipe(tmp_path / "r.yaml", data=data, layers=layers, epochs=5))
    seen: list[int] = []

    def stop_after_two(event: Event) -> None:
        if isinstance(event, EpochEnded):
            seen.append(event.epoch)
            if event.epoch == 2:
                raise StopTraining("pruned")

    out = tmp_path / "run"
    result = train(recipe, TrainOptions(out=out), on_event=stop_after_two)
    assert seen == [1, 2]
    assert result.epochs_run == 2 and result.stopped_early
    for name in ("model.keras", "best.keras", "history.csv", "metrics.json"):
        assert (out / name).is_file(), name
    with (out / "history.csv").open() as fh:
        assert [row["epoch"] for row in csv.DictReader(fh)] == ["1", "2"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and metrics["stopped_early"] is True
    assert not (out / ".dlcli.lock").exists()
