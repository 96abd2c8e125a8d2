"""A run's resumable state: what ``checkpoints/`` holds and how it comes back.

``checkpoints/state.json`` (the commit point, written last) records the last completed
epoch, the history so far, the best value, early stopping's patience count, timing totals,
the seed, the optimizer's step count, the epochs planned and steps per epoch, the
preprocessing layers adapted before the first step (``dlcli.training.adapt``), the stage
whose optimizer state it holds (``train.stages``), and names
the array files: every model variable (weights and RNG seed states), every optimizer
variable, the model variables of the best epoch (``best.keras`` is written from them at the
end), and for early stopping with ``restore_best`` the weights of its best epoch. An array
file is only rewritten when its content changed; ``state.json`` keeps naming the older file
otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlcli.errors import RunFailure
from dlcli.training.hooks import BestTracker, EarlyStopping
from dlcli.training.rundir import RunDirectory


@dataclass
class RunState:
    """What a checkpoint restores besides variables (kept in ``state.json``)."""

    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best: BestTracker | None = None
    early: EarlyStopping | None = None
    stopped_early: bool = False
    totals: dict[str, float] = field(default_factory=dict)
    started: str = ""
    files: dict[str, str] = field(default_factory=dict)  # checkpoint array files
    early_best: list[Any] | None = None  # weights of early stopping's best epoch
    best_weights: list[Any] | None = None  # model variables at ``best``'s epoch (best.keras)
    adapted: list[dict[str, Any]] = field(default_factory=list)  # preprocessing layers adapted
    epochs_planned: int | None = None  # train.epochs of the session that wrote the checkpoint
    steps_per_epoch: int | None = None  # optimizer steps per epoch in that session
    stage: int = 0  # the train.stages entry whose optimizer the checkpoint holds (0: none)


def save_checkpoint(
    run: RunDirectory,
    state: RunState,
    variables: dict[str, list[Any]],
    seed: int,
    step: int,
    extra: dict[str, list[Any]] | None = None,
) -> None:
    """Write the state after ``state.epoch`` (``step``: optimizer iterations so far)."""
    from dlcli.training import setup

    arrays = {key: setup.read_values(vs) for key, vs in variables.items()}
    arrays.update(extra or {})
    doc = {
        "epoch": state.epoch,
        "history": state.history,
        "best": state.best.to_dict() if state.best else None,
        "early_stopping": state.early.to_dict() if state.early else None,
        "stopped_early": state.stopped_early,
        "totals": state.totals,
        "started": state.started,
        "seed": seed,
        "lr_schedule_step": int(step),
        "epochs_planned": state.epochs_planned,
        "steps_per_epoch": state.steps_per_epoch,
        "adapted": state.adapted,
        "stage": state.stage,
        "files": state.files,
    }
    state.files = run.save_checkpoint(doc, arrays)


def restore_checkpoint(run: RunDirectory, state: RunState, variables: dict[str, list[Any]]) -> None:
    """Load variables and bookkeeping from ``run.read_path``'s last checkpoint."""
    from dlcli.training import setup

    doc = run.load_state()
    for key, vs in variables.items():
        values = run.load_arrays(doc, key)
        if values is None and key == "augment":
            continue  # a checkpoint from before augmentation state was saved: fresh draws
        if values is None:
            raise RunFailure(f"checkpoint has no {key} arrays", file=run.read_path / "checkpoints")
        setup.assign_values(vs, values, key)
    state.epoch = int(doc["epoch"])
    state.history = list(doc.get("history") or [])
    state.totals = dict(doc.get("totals") or {})
    state.started = doc.get("started") or state.started
    state.stopped_early = bool(doc.get("stopped_early"))
    state.files = dict(doc.get("files") or {})
    state.adapted = list(doc.get("adapted") or [])
    state.stage = int(doc.get("stage") or 0)
    planned, steps = doc.get("epochs_planned"), doc.get("steps_per_epoch")
    state.epochs_planned = int(planned) if isinstance(planned, int) else None
    state.steps_per_epoch = int(steps) if isinstance(steps, int) else None
    best = doc.get("best")
    if best and state.best is not None and best.get("monitor") == state.best.monitor:
        state.best = BestTracker.from_dict(best)
    if state.best is not None and state.best.epoch is not None:
        state.best_weights = run.load_arrays(doc, "best")
    early = doc.get("early_stopping")
    es = state.early
    if early and es is not None and early["best"]["monitor"] == es.tracker.monitor:
        es.load(early)
        state.early_best = run.load_arrays(doc, "early_best")


def write_best(
    run: RunDirectory,
    model: Any,
    model_vars: list[Any],
    state: RunState,
    final: Path | None = None,
) -> Path | None:
    """Write ``best.keras`` from the best epoch's weights (kept in memory); None if none.

    ``final``: the just-saved ``model.keras``; copied when it holds the same weights.
    """
    if state.best_weights is None:
        return None
    from dlcli.training import setup

    current = setup.read_values(model_vars)
    if final is not None and _same_arrays(current, state.best_weights):
        import shutil

        from dlcli import atomic

        with atomic.atomic_path(run.file("best.keras"), suffix=".keras") as tmp:
            shutil.copyfile(final, tmp)
        return run.file("best.keras")
    setup.assign_values(model_vars, state.best_weights, "model")
    try:
        return run.save_model(model, "best.keras")
    finally:
        setup.assign_values(model_vars, current, "model")


def _same_arrays(a: list[Any], b: list[Any]) -> bool:
    import numpy as np

    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
