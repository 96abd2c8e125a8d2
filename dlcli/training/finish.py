"""The last step of a training session: the final files and the result.

Early stopping with ``restore_best`` puts its best epoch's weights back first; then
``model.keras``, ``best.keras`` (from the best epoch's weights, or a copy of ``model.keras``
when they are the same), ``history.csv``, ``metrics.json`` and ``curves.png``. A worker
that is not the chief writes into a scratch folder and returns no files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli.training.events import EventCallback, RunFinished, TrainResult
from dlcli.training.reporting import metrics_document
from dlcli.training.resume import StartingPoint
from dlcli.training.session import Session
from dlcli.training.stages import stages_document
from dlcli.training.state import RunState
from dlcli.training.trainee import Trainee

if TYPE_CHECKING:
    from dlcli.viz.plots import CurveMarks

TEST_WORKER_WEIGHTS_ENV = "DLCLI_TEST_WORKER_WEIGHTS"


def finish(
    session: Session, trainee: Trainee, start: StartingPoint, on_event: EventCallback
) -> TrainResult:
    state = start.state
    _restore_early_best(trainee, state)
    state.totals["wall_time_s"] = start.wall_time_s(session.launch.t_start)
    files, metrics = _write_files(session, trainee, state)
    _save_worker_weights(trainee.model, session.plan.is_chief)
    result = TrainResult(
        run_dir=session.run.read_path,
        metrics=metrics,
        files=files if session.plan.is_chief else {},
        epochs_run=state.epoch,
        epochs_planned=session.epochs,
        stopped_early=state.stopped_early,
        is_chief=session.plan.is_chief,
    )
    on_event(RunFinished(result))
    return result


def _restore_early_best(trainee: Trainee, state: RunState) -> None:
    """Early stopping's best weights, when it stopped the run after a worse epoch."""
    early = state.early
    if (
        state.stopped_early
        and early is not None
        and early.restore_best
        and state.early_best is not None
        and early.tracker.epoch != state.epoch
    ):
        from dlcli.training import setup

        setup.assign_values(trainee.variables["model"], state.early_best, "model")


def _write_files(
    session: Session, trainee: Trainee, state: RunState
) -> tuple[dict[str, Path], dict[str, Any]]:
    """Write the final files; return them by name, and the metrics document."""
    run, recipe = session.run, session.recipe
    files = {"recipe.yaml": run.file("recipe.yaml"), "labels.json": run.file("labels.json")}
    files["model.keras"] = run.save_model(trainee.model, "model.keras")
    best = trainee.save_best(run, state, final=files["model.keras"])
    if best is not None or run.file("best.keras").is_file():
        files["best.keras"] = run.file("best.keras")  # else from an older session
    files["history.csv"] = run.write_history(state.history)
    metrics = metrics_document(
        name=recipe.name,
        history=state.history,
        best=state.best.to_dict(),
        epochs_planned=session.epochs,
        stopped_early=state.stopped_early,
        totals=state.totals,
        plan=session.plan,
        global_batch_size=session.global_batch_size,
        seed=session.seed,
        bundle=session.bundle,
        started=state.started,
        adapted=state.adapted,
    )
    stages = stages_document(session, trainee, state.history)
    if stages is not None:
        metrics["stages"] = stages
    files["metrics.json"] = run.write_json("metrics.json", metrics)
    if state.history:
        from dlcli.viz.plots import plot_curves

        files["curves.png"] = plot_curves(
            state.history, run.file("curves.png"), title=recipe.name, marks=_curve_marks(state)
        )
    if session.bundle.skipped:
        files["skipped.txt"] = run.file("skipped.txt")
    files["checkpoints"] = run.checkpoints
    files["logs"] = run.path / "logs"
    return files, metrics


def _curve_marks(state: RunState) -> CurveMarks:
    """The best epoch (of the checkpoint monitor: what best.keras holds) and an early stop."""
    from dlcli.viz.plots import CurveMarks

    best, early = state.best, state.early
    last = state.history[-1].get("epoch", len(state.history)) if state.history else None
    stopped = state.stopped_early and early is not None and last is not None
    return CurveMarks(
        monitor=best.monitor if best else None,
        best_epoch=best.epoch if best else None,
        best_value=best.value if best else None,
        stopped_at=float(last) if stopped and last is not None else None,
        stop_monitor=early.tracker.monitor if early is not None else None,
        patience=early.patience if early is not None else None,
    )


def _save_worker_weights(model: Any, is_chief: bool) -> None:
    """For tests: a non-chief saves its final weights where ``DLCLI_TEST_WORKER_WEIGHTS`` says."""
    target = os.environ.get(TEST_WORKER_WEIGHTS_ENV)
    if not target or is_chief:
        return
    from dlcli import atomic

    if target.endswith(".weights.h5"):
        with atomic.atomic_path(target, suffix=".weights.h5") as tmp:
            model.save_weights(tmp)
    else:
        import numpy as np

        with atomic.atomic_path(target, suffix=".npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, *model.get_weights())
