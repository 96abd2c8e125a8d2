"""Resuming keeps the learning-rate schedule's position in epochs (issue 11).

A run is stopped after epoch 2 (its checkpoint written), resumed in-process with a
different batch size up to epoch 4, then resumed through the CLI with ``--epochs 8``. The
``lr`` column of history.csv must follow the cosine formula, computed here by hand, at
each epoch's last step, whatever the steps per epoch.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from train_helpers import write_csv, write_recipe

from dlcli.recipe import load_recipe
from dlcli.training import EpochEnded, Notice, TrainOptions, train

BASE_LR, MIN_LR = 0.05, 0.001
CSV_MODEL = [{"Dense": {"units": 2, "activation": "softmax"}}]


class _StopAfter(Exception):
    pass


def _stop_after(epoch: int, notices: list[str] | None = None):
    def on_event(event: object) -> None:
        if isinstance(event, Notice) and notices is not None:
            notices.append(event.text)
        if isinstance(event, EpochEnded) and event.epoch == epoch:
            raise _StopAfter  # the checkpoint of ``epoch`` is already written: a kill here

    return on_event


def _cosine_at_last_step(epoch: int, steps: int, planned: int) -> float:
    """The rate of the last optimizer step of 1-based ``epoch`` (what history.csv shows)."""
    position = (epoch - 1) + (steps - 1) / steps
    return MIN_LR + (BASE_LR - MIN_LR) * 0.5 * (1 + math.cos(math.pi * min(position / planned, 1)))


def test_resume_with_other_batch_size_and_more_epochs_continues_the_curve(tmp_path: Path):
    data = {"kind": "csv", "train": str(write_csv(tmp_path / "d.csv", n=48)), "batch_size": 16}
    path = write_recipe(
        tmp_path / "r.yaml",
        data=data,
        layers=CSV_MODEL,
        epochs=6,
        optimizer={"name": "sgd", "learning_rate": BASE_LR},
        lr_schedule={"kind": "cosine", "min_lr": MIN_LR},
        checkpoint={"monitor": "loss"},
    )
    run = tmp_path / "run"
    with pytest.raises(_StopAfter):  # 48 rows / 16 = 3 steps per epoch
        train(load_recipe(path), TrainOptions(out=run), on_event=_stop_after(2))
    notices: list[str] = []
    with pytest.raises(_StopAfter):  # batch 8: 6 steps per epoch
        train(
            load_recipe(path, flags={"data.batch_size": 8}),
            TrainOptions(out=run, resume=True),
            on_event=_stop_after(4, notices),
        )
    assert "4 of 6 epochs remain (train.epochs 6 in the recipe)" in notices
    assert (
        "learning-rate schedule continues at epoch 2 of 6 with lr "
        f"{_cosine_at_last_step(3, 1, 6):.4g}: 6 steps per epoch instead of 3 "
        "(batch size or data changed)" in notices
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    env.pop("DLCLI_DEBUG", None)
    resume = ["--out", str(run), "--resume", "--epochs", "8", "--batch-size", "12"]  # 4 steps
    proc = subprocess.run(
        [sys.executable, "-m", "dlcli", "train", str(path), *resume],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "4 of 8 epochs remain (--epochs 8; the run was planned for 6 epochs)" in proc.stdout
    assert "learning-rate schedule continues at epoch 4 of 8" in proc.stdout
    assert "4 steps per epoch instead of 6" in proc.stdout
    assert "the cosine curve now spans 8 epochs instead of 6" in proc.stdout

    with open(run / "history.csv", newline="") as fh:
        lrs = [float(row["lr"]) for row in csv.DictReader(fh)]
    sessions = [(1, 3, 6), (2, 3, 6), (3, 6, 6), (4, 6, 6)] + [(e, 4, 8) for e in (5, 6, 7, 8)]
    expected = [_cosine_at_last_step(e, steps, planned) for e, steps, planned in sessions]
    assert lrs == pytest.approx(expected, rel=1e-5)
    assert min(lrs[:-1]) > MIN_LR  # never at the floor before the last epoch


def test_schedule_position_is_in_epochs_after_resume():
    """The same epoch position gives the same rate whatever the steps per epoch."""
    from dlcli.recipe import LRScheduleSpec
    from dlcli.training.schedules import Schedule

    spec = LRScheduleSpec(kind="cosine", warmup_epochs=1.0, min_lr=0.0)
    first = Schedule.from_spec(spec, 0.1, epochs=10, steps_per_epoch=4)
    # 3 epochs of 4 steps done (12 iterations); now 10 steps per epoch
    later = Schedule.from_spec(spec, 0.1, epochs=10, steps_per_epoch=10).resumed(epoch=3, step=12)
    half = 0.5 * 0.1 * (1 + math.cos(math.pi * 2.5 / 9))  # 2.5 epochs after warm-up, of 9
    assert later.at(12 + 5) == pytest.approx(half)
    assert first.at(12) == pytest.approx(0.5 * 0.1 * (1 + math.cos(math.pi * 2 / 9)))
    assert later.at(12) == pytest.approx(first.at(12))


def test_resume_lines_name_only_what_changed():
    from dlcli.recipe import LRScheduleSpec
    from dlcli.training.diagnostics import resume_notices
    from dlcli.training.schedules import Schedule

    def lines(kind: str, previous_epochs: int, previous_steps: int) -> list[str]:
        spec = LRScheduleSpec(kind=kind, decay_rate=0.5, step_epochs=2)
        schedule = Schedule.from_spec(spec, 0.1, epochs=8, steps_per_epoch=5)
        found = resume_notices(
            completed=4,
            epochs=8,
            epochs_option=None,
            previous_epochs=previous_epochs,
            schedule=schedule,
            steps_per_epoch=5,
            previous_steps_per_epoch=previous_steps,
        )
        return [n.text for n in found]

    # step decay does not depend on the planned epochs: nothing to say about its curve
    assert lines("step", 6, 5) == [
        "4 of 8 epochs remain (train.epochs 8 in the recipe; the run was planned for 6 epochs)"
    ]
    assert lines("step", 8, 10)[1] == (
        f"learning-rate schedule continues at epoch 4 of 8 with lr {0.1 * 0.5**2:.4g}: "
        "5 steps per epoch instead of 10 (batch size or data changed)"
    )
    assert lines("cosine", 8, 5) == ["4 of 8 epochs remain (train.epochs 8 in the recipe)"]
