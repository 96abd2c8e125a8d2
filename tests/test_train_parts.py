"""Pure parts of training: lr schedules, best/early stopping, run-dir checks, the renderer."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
from rich.console import Console

from dlcli.errors import OutputExistsError, UsageError
from dlcli.recipe import EarlyStoppingSpec, LRScheduleSpec
from dlcli.render.train_output import TrainRenderer
from dlcli.training.events import (
    EpochEnded,
    EpochStarted,
    RunFinished,
    RunStarted,
    StepsDone,
    TrainResult,
)
from dlcli.training.hooks import BestTracker, EarlyStopping, monitor_mode
from dlcli.training.rundir import RunDirectory
from dlcli.training.runstart import open_run_dir
from dlcli.training.schedules import Schedule


def _sched(kind: str, **kw) -> Schedule:
    spec = LRScheduleSpec(kind=kind, **kw)
    return Schedule.from_spec(spec, 0.1, epochs=10, steps_per_epoch=4)


def test_schedules_follow_their_formulas():
    cos = _sched("cosine", min_lr=0.02)
    assert cos.at(0) == pytest.approx(0.1)
    assert cos.at(20) == pytest.approx(0.06)  # half way: (0.1 + 0.02) / 2
    assert cos.at(40) == pytest.approx(0.02)
    step = _sched("step", decay_rate=0.5, step_epochs=3)
    assert [step.at(4 * e) for e in (0, 2, 3, 6, 9)] == pytest.approx(
        [0.1, 0.1, 0.05, 0.025, 0.0125]
    )
    exp = _sched("exponential", decay_rate=0.5, step_epochs=2)
    assert exp.at(4) == pytest.approx(0.1 * 0.5**0.5)
    warm = _sched("constant", warmup_epochs=2)  # 8 warm-up steps
    assert [warm.at(s) for s in (0, 3, 7, 8, 30)] == pytest.approx([0.0125, 0.05, 0.1, 0.1, 0.1])
    warm_cos = _sched("cosine", warmup_epochs=2)  # cosine over the 8 epochs after warm-up
    assert warm_cos.at(8) == pytest.approx(0.1) and warm_cos.at(24) == pytest.approx(0.05)
    assert _sched("constant").is_constant and not warm.is_constant


def test_tf_schedule_matches_python():
    from dlcli.backend import tf

    for s in (
        _sched("cosine", warmup_epochs=1.5, min_lr=0.01),
        _sched("step"),
        _sched("exponential"),
    ):
        for step in (0, 1, 5, 13, 39, 60):
            graph = float(s.tf_at(tf.constant(step, tf.int64)))
            assert graph == pytest.approx(s.at(step), rel=1e-6)


def test_best_and_early_stopping():
    assert monitor_mode("val_accuracy") == "max" and monitor_mode("val_loss") == "min"
    best = BestTracker.for_monitor("val_loss")
    values = [1.0, 0.5, 0.7, math.nan]
    assert [best.update({"val_loss": v}, e) for e, v in enumerate(values, 1)] == [
        True, True, False, False
    ]  # fmt: skip
    assert (best.value, best.epoch) == (0.5, 2)
    assert BestTracker.from_dict(json.loads(json.dumps(best.to_dict()))) == best

    early = EarlyStopping.from_spec(
        EarlyStoppingSpec(monitor="val_accuracy", patience=2, min_delta=0.01)
    )
    stops = [early.update({"val_accuracy": v}, e) for e, v in enumerate([0.5, 0.6, 0.605, 0.61], 1)]
    assert stops == [False, False, False, True]  # 0.605 and 0.61 are within min_delta of 0.6
    again = EarlyStopping.from_spec(EarlyStoppingSpec(monitor="val_accuracy", patience=2))
    again.load(early.to_dict())
    assert again.wait == 2 and again.tracker.epoch == 2


def test_open_run_dir(tmp_path: Path):
    with open_run_dir(tmp_path / "new", resume=False, overwrite=False).lock as lock:
        assert lock.path.parent.is_dir()
    run = tmp_path / "old"
    (run / "checkpoints").mkdir(parents=True)
    (run / "model.keras").write_text("x")
    (run / "mine.txt").write_text("keep")
    with pytest.raises(OutputExistsError):
        open_run_dir(run, resume=False, overwrite=False)
    with pytest.raises(UsageError, match="nothing to resume"):
        open_run_dir(run, resume=True, overwrite=False)
    open_run_dir(run, resume=False, overwrite=True).lock.release()
    assert sorted(p.name for p in run.iterdir()) == ["mine.txt"]  # only run files removed


def test_checkpoint_commit_point(tmp_path: Path):
    import numpy as np

    run = RunDirectory(tmp_path)
    files = run.save_checkpoint({"epoch": 1}, {"model": [np.ones(3)], "optimizer": [np.zeros(2)]})
    run.save_checkpoint({"epoch": 2, "files": files}, {"model": [np.full(3, 2.0)]})
    state = run.load_state()
    # epoch 2 replaced the model arrays; the optimizer file of epoch 1 is still named and kept
    assert state["files"] == {
        "model": "epoch-0002-model.npz",
        "optimizer": "epoch-0001-optimizer.npz",
    }
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "epoch-0001-optimizer.npz", "epoch-0002-model.npz", "state.json"
    ]  # fmt: skip
    assert run.load_arrays(state, "model")[0].tolist() == [2.0, 2.0, 2.0]


def _events(tmp_path: Path) -> list:
    logs = {"loss": 0.5, "accuracy": 0.75}
    result = TrainResult(
        run_dir=tmp_path,
        metrics={"final": logs, "best": {"monitor": "loss", "value": 0.5, "epoch": 2},
                 "wall_time_s": 1.0, "samples_per_s": 100.0},
        files={"model.keras": tmp_path / "model.keras"},
        epochs_run=2,
        epochs_planned=2,
    )  # fmt: skip
    started = RunStarted(
        name="t", run_dir=tmp_path, device="CPU", strategy="default", replicas=1,
        precision="float32", epochs=2, start_epoch=0, steps_per_epoch=3, num_train=6,
        num_validation=0, global_batch_size=2, warnings=("heads up",),
    )  # fmt: skip
    events: list = [started]
    for epoch in (1, 2):
        events.append(EpochStarted(epoch, 2, 3))
        events += [StepsDone(epoch, s, 3, logs, 50.0) for s in (1, 2, 3)]
        events.append(EpochEnded(epoch, 2, logs, 0.01, 0.2, 30.0, epoch == 1, 0.5))
    return [*events, RunFinished(result)]


def test_plain_renderer_one_line_per_epoch(tmp_path: Path):
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, width=120)
    renderer = TrainRenderer(console)
    for event in _events(tmp_path):
        renderer(event)
    text = buf.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert [ln.split()[1] for ln in lines if ln.startswith("epoch ")] == ["1/2", "2/2"]
    assert "warning: heads up" in lines and any(ln.endswith("*best") for ln in lines)


def test_terminal_renderer_draws_bars_and_table(tmp_path: Path):
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120)
    renderer = TrainRenderer(console)
    for event in _events(tmp_path):
        renderer(event)
    text = buf.getvalue()
    assert "\x1b" in text and "final metrics" in text and "model.keras" in text
    assert renderer.progress is None  # stopped
    quiet = io.StringIO()
    renderer = TrainRenderer(Console(file=quiet, force_terminal=True), quiet=True)
    for event in _events(tmp_path):
        renderer(event)
    assert quiet.getvalue().strip() == str(tmp_path)


def test_digits_recipe_validates_and_builds(repo_root: Path):
    from dlcli.modeling.builder import build_model
    from dlcli.recipe import load_recipe

    recipe = load_recipe(repo_root / "recipes" / "digits.yaml")
    assert recipe.data.train == (repo_root / "data" / "digits" / "train").resolve()
    assert recipe.data.validation == (repo_root / "data" / "digits" / "test").resolve()
    model = build_model(recipe.model, (32, 32, 1))
    assert model.output_shape == (None, 10)
    assert [s.type for s in recipe.data.augment] == ["RandomTranslation"]
