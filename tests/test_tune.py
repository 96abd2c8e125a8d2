"""``dlcli tune``: trials are ordinary runs, best.yaml, pictures, pruning, sharing, kill -9.

Oracles: Optuna's own API reading the study database, the csv module reading each run's
history.csv, PyYAML reading each recipe.yaml, Pillow opening the pictures.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from PIL import Image
from tune_helpers import wine_recipe, wine_space

from dlcli.recipe import load_recipe

pytestmark = pytest.mark.slow
LR = "train.optimizer.learning_rate"
UNITS = "model.layers[1].Dense.units"


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("DLCLI_DEBUG", None)
    return env


def _tune_args(tmp_path: Path, out: Path, *extra: str) -> list[str]:
    recipe = tmp_path / "r.yaml"
    if not recipe.exists():
        wine_recipe(recipe)
    space = tmp_path / "s.yaml"
    if not space.exists():
        wine_space(space)
    command = [sys.executable, "-m", "dlcli", "tune", str(recipe), "--space", str(space)]
    return [*command, "--out", str(out), *extra]


def _run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _study(out: Path, name: str = "wine_tune") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{out / 'study.db'}")


def _best_val_loss(run_dir: Path) -> float:
    with (run_dir / "history.csv").open() as fh:
        return min(float(row["val_loss"]) for row in csv.DictReader(fh))


def _recipe_values(run_dir: Path) -> tuple[float, int]:
    doc = yaml.safe_load((run_dir / "recipe.yaml").read_text())
    units = doc["model"]["layers"][1]["Dense"]["units"]
    return float(doc["train"]["optimizer"]["learning_rate"]), int(units)


def test_trials_are_runs_and_best_yaml_is_the_best(tmp_path: Path) -> None:
    out = tmp_path / "study"
    proc = _run(_tune_args(tmp_path, out, "--trials", "3", "--pruner", "none"), tmp_path)
    assert proc.returncode == 0, proc.stderr
    study = _study(out)
    trials = study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 3
    values = {}
    for t in trials:
        run_dir = out / "trials" / f"trial-{t.number:04d}"
        assert t.user_attrs["run_dir"] == str(run_dir)
        lr, units = _recipe_values(run_dir)
        assert lr == pytest.approx(t.params[LR]) and units == t.params[UNITS]
        assert t.value == pytest.approx(_best_val_loss(run_dir), rel=1e-5)
        trial_doc = json.loads((run_dir / "trial.json").read_text())
        assert trial_doc["state"] == "complete" and trial_doc["trial"] == t.number
        values[t.number] = _best_val_loss(run_dir)
    best_number = min(values, key=values.__getitem__)
    best = load_recipe(out / "best.yaml")  # standalone: loads on its own
    assert best.train.optimizer.args["learning_rate"] == pytest.approx(
        trials[best_number].params[LR]
    )
    assert best.model.layers[1].args["units"] == trials[best_number].params[UNITS]
    for name in ("history.png", "importances.png", "parallel.png"):
        with Image.open(out / name) as img:
            assert img.format == "PNG" and img.width > 100
    assert f"best trial {best_number}:" in proc.stdout

    shown = _run(
        [sys.executable, "-m", "dlcli", "tune", "--show", "wine_tune", "--out", str(out)], tmp_path
    )
    assert shown.returncode == 0, shown.stderr
    assert f"best trial {best_number}:" in shown.stdout and "3 complete" in shown.stdout

    compare = _run(
        [sys.executable, "-m", "dlcli", "runs", "--compare", str(out / "trials")], tmp_path
    )
    assert compare.returncode == 0, compare.stderr
    assert "learning_rate" in compare.stdout and "trial-0002" in compare.stdout

    # a larger count continues the study; --timeout 1s starts one trial, then no more
    again = _run(_tune_args(tmp_path, out, "--trials", "5", "--timeout", "1s"), tmp_path)
    assert again.returncode == 0, again.stderr
    assert "3 of 5 trials finished" in again.stdout
    assert len(_study(out).get_trials()) == 4


def test_pruned_trial_ends_cleanly_and_says_so(tmp_path: Path) -> None:
    from dlcli.tuning.space import read_space
    from dlcli.tuning.trial import TrialPlan, run_trial

    class PruneAfterFirstEpoch(optuna.pruners.BasePruner):
        def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
            return bool(trial.intermediate_values)

    recipe = wine_recipe(tmp_path / "r.yaml", epochs=4)
    plan = TrialPlan(
        recipe=recipe,
        space=read_space(wine_space(tmp_path / "s.yaml")),
        fixed=[],
        flags={},
        out=tmp_path / "study",
        requested=1,
        monitor="val_loss",
        on_event=lambda event: None,
    )
    study = optuna.create_study(pruner=PruneAfterFirstEpoch())
    study.optimize(lambda trial: run_trial(plan, trial), n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    run_dir = tmp_path / "study" / "trials" / "trial-0000"
    with (run_dir / "history.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1
    assert trial.intermediate_values == {1: pytest.approx(float(rows[0]["val_loss"]))}
    doc = json.loads((run_dir / "trial.json").read_text())
    assert doc["state"] == "pruned" and "epoch 1" in doc["note"]
    assert (run_dir / "model.keras").is_file() and (run_dir / "best.keras").is_file()
    assert json.loads((run_dir / "metrics.json").read_text())["stopped_early"] is True


def _counted(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return [t for t in study.get_trials() if t.state in done]


def test_two_processes_share_one_sqlite_study(tmp_path: Path) -> None:
    out = tmp_path / "study"
    args = _tune_args(tmp_path, out, "--trials", "4")
    procs = [
        subprocess.Popen(
            args,
            cwd=tmp_path,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    study = _study(out)
    done = _counted(study)
    assert len(done) == 4  # none lost, none beyond the count
    numbers = [t.number for t in done]
    assert len(set(numbers)) == 4
    dirs = [t.user_attrs["run_dir"] for t in done]
    assert len(set(dirs)) == 4
    for d in dirs:
        assert json.loads((Path(d) / "trial.json").read_text())["state"] in ("complete", "pruned")
    started = [
        line
        for _, (o, _) in zip(procs, outputs, strict=True)
        for line in o.splitlines()
        if " started: " in line
    ]
    assert len(started) == 4  # each trial trained by exactly one process


def _start_and_stop_at(args: list[str], cwd: Path, history: Path, sig: int) -> tuple[int, str]:
    """Start ``args``; once ``history`` exists (its trial has an epoch done) send ``sig``."""
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not history.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
        time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def test_ctrl_c_and_kill_9_then_the_same_command_continues(tmp_path: Path) -> None:
    out = tmp_path / "study"
    wine_recipe(tmp_path / "r.yaml", epochs=20)
    args = _tune_args(tmp_path, out, "--trials", "3", "--pruner", "none")
    trials = out / "trials"
    # Ctrl-C while trial 1 trains: exit 130, trial 1 failed and queued again
    code, err = _start_and_stop_at(args, tmp_path, trials / "trial-0001" / "history.csv", 2)
    assert code == 130, err
    assert "run the same command again to continue" in err and "Traceback" not in err
    first = _study(out).get_trials()
    assert first[0].state == optuna.trial.TrialState.COMPLETE
    assert first[1].state == optuna.trial.TrialState.FAIL
    assert first[2].state == optuna.trial.TrialState.WAITING
    assert first[2].user_attrs["retry_of"] == 1
    # kill -9 while the retry (trial 2) trains
    code, _ = _start_and_stop_at(args, tmp_path, trials / "trial-0002" / "history.csv", 9)
    assert code == -signal.SIGKILL
    before = _study(out).get_trials()
    assert before[2].state == optuna.trial.TrialState.RUNNING

    again = _run(args, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "trial 2: its process" in again.stdout
    after = _study(out).get_trials()
    assert after[0].state == optuna.trial.TrialState.COMPLETE
    assert after[0].value == before[0].value  # the completed trial kept
    assert after[2].state == optuna.trial.TrialState.FAIL
    retry = [t for t in after if t.user_attrs.get("retry_of") == 2]
    assert len(retry) == 1 and retry[0].params == first[1].params == before[2].params
    assert retry[0].state == optuna.trial.TrialState.COMPLETE
    assert len(_counted(_study(out))) == 3
