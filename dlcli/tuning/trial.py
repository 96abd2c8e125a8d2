"""One trial: sample the space, validate the recipe, train it into a run folder.

Each epoch's monitored value goes to Optuna's pruner through ``train``'s ``on_event``;
when the pruner says stop, ``halt.StopTraining`` ends the run cleanly (its final files are
written) and the trial is told pruned. ``trial.json`` in the run folder says how the trial
ended (complete, pruned at which epoch, failed and why).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli import atomic
from dlcli.errors import DlcliError, Interrupted
from dlcli.tuning.events import TrialEpoch, TrialRow, TrialStarted, TuneCallback
from dlcli.tuning.rows import SURPLUS, is_counted
from dlcli.tuning.space import Param, Space, Value

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage

    from dlcli.training.events import Event


class TrialFailed(Exception):
    """The trial's recipe was refused or its training failed; the study goes on."""


class EnoughTrials(Exception):
    """The study already has the requested count of trials (other workers run them)."""


@dataclass(frozen=True)
class TrialPlan:
    """What every trial of this process shares."""

    recipe: Path
    space: Space
    fixed: list[str]  # --set values for every trial
    flags: dict[str, Any]  # train.epochs / train.device from the command line
    out: Path
    requested: int
    monitor: str
    on_event: TuneCallback
    storage: BaseStorage | None = None  # the study's storage (to fail dead workers' trials)


def sample(trial: optuna.Trial, param: Param) -> Value:
    if param.kind == "choice":
        simple = all(isinstance(c, (bool, int, float, str)) or c is None for c in param.choices)
        if simple:
            return trial.suggest_categorical(param.key, list(param.choices))  # type: ignore[arg-type]
        texts = [json.dumps(c) for c in param.choices]
        return json.loads(trial.suggest_categorical(param.key, texts))
    if param.kind == "int":
        step = int(param.step or 1)
        return trial.suggest_int(
            param.key, int(param.low), int(param.high), step=step, log=param.log
        )
    return trial.suggest_float(param.key, param.low, param.high, step=param.step, log=param.log)


def trial_dir(out: Path, number: int) -> Path:
    return out / "trials" / f"trial-{number:04d}"


def run_trial(plan: TrialPlan, trial: optuna.Trial) -> float:
    """Optuna's objective: the best monitored value of the trial's run."""
    import optuna

    _claim(plan, trial)
    values = {p.key: sample(trial, p) for p in plan.space}
    run_dir = trial_dir(plan.out, trial.number)
    trial.set_user_attr("run_dir", str(run_dir.absolute()))
    retry = trial.user_attrs.get("retry_of")
    note = f"retries trial {retry}" if retry is not None else trial.user_attrs.get("note", "")
    row = TrialRow(trial.number, "running", dict(trial.params), None, note=note, run_dir=None)
    plan.on_event(TrialStarted(row))
    recipe = _load(plan, trial, values)
    pruned_at = _train(plan, trial, recipe, run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    value = (metrics.get("best") or {}).get("value")
    if pruned_at is not None:
        note = f"pruned after epoch {pruned_at}"
        _record(trial, run_dir, "pruned", value, note, values)
        raise optuna.TrialPruned(note)
    if value is None:
        _record(trial, run_dir, "failed", None, f"no {plan.monitor} value", values)
        raise TrialFailed(f"the run reported no {plan.monitor} value")
    _record(trial, run_dir, "complete", value, "", values)
    return float(value)


def _claim(plan: TrialPlan, trial: optuna.Trial) -> None:
    """Who runs this trial; refuse it when the study already has the requested count."""
    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("pid", os.getpid())
    others = trial.study.get_trials(deepcopy=False)
    ahead = [t for t in others if t.number < trial.number and is_counted(t)]
    if len(ahead) >= plan.requested:
        trial.set_user_attr(SURPLUS, True)
        raise EnoughTrials()


def _load(plan: TrialPlan, trial: optuna.Trial, values: dict[str, Value]) -> Any:
    from dlcli.recipe import load_recipe

    try:
        return load_recipe(
            plan.recipe, overrides=[*plan.fixed, *plan.space.overrides(values)], flags=plan.flags
        )
    except DlcliError as exc:
        trial.set_user_attr("note", f"recipe refused: {exc.problem.format()}")
        raise TrialFailed(exc.problem.format()) from None


def _train(plan: TrialPlan, trial: optuna.Trial, recipe: Any, run_dir: Path) -> int | None:
    """Train; the epoch after which the pruner stopped it, or None."""
    from dlcli.training import EpochEnded, TrainOptions, train
    from dlcli.training.halt import StopTraining

    pruned: list[int] = []

    def on_event(event: Event) -> None:
        if not isinstance(event, EpochEnded):
            return
        value = _monitored(event.logs, plan.monitor)
        if value is not None:
            trial.report(value, event.epoch)
        plan.on_event(TrialEpoch(trial.number, event.epoch, event.epochs, value))
        if event.epoch < event.epochs and trial.should_prune():
            pruned.append(event.epoch)
            raise StopTraining(f"pruned after epoch {event.epoch}")

    try:
        train(recipe, TrainOptions(out=run_dir), on_event=on_event)
    except Interrupted:
        trial.set_user_attr("note", "interrupted")
        raise
    except DlcliError as exc:
        note = exc.problem.format()
        trial.set_user_attr("note", note)
        _record(trial, run_dir, "failed", None, note, dict(trial.params))
        raise TrialFailed(note) from None
    return pruned[0] if pruned else None


def _monitored(logs: dict[str, float], monitor: str) -> float | None:
    """The monitored value (``val_x`` falls back to ``x`` without validation, as in train)."""
    for key in (monitor, monitor.removeprefix("val_")):
        if key in logs:
            return float(logs[key])
    return None


def _record(
    trial: optuna.Trial,
    run_dir: Path,
    state: str,
    value: float | None,
    note: str,
    params: dict[str, Any],
) -> None:
    """``trial.json`` in the run folder: the study, the trial and how it ended."""
    if note:
        trial.set_user_attr("note", note)
    if not run_dir.is_dir():
        return
    doc = {
        "study": trial.study.study_name,
        "trial": trial.number,
        "state": state,
        "value": value,
        "params": params,
        "note": note,
    }
    atomic.write_text(run_dir / "trial.json", json.dumps(doc, indent=2) + "\n")
