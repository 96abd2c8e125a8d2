"""The third step of a training session: the state the epochs start from.

A new run adapts the model's preprocessing layers once and checkpoints epoch 0 (so it is
resumable from the very start). ``--resume`` restores the last checkpoint instead, refuses
fewer epochs than already done, trains on after an early stop when more epochs are asked
for, and says what changed (remaining epochs, schedule position, recipe differences).
Either way the learning-rate schedule is moved to the first epoch to run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from dlcli.errors import UsageError
from dlcli.training.events import Notice
from dlcli.training.hooks import BestTracker, EarlyStopping
from dlcli.training.rundir import recipe_changes
from dlcli.training.session import Session, usable_monitor
from dlcli.training.stages import epochs_into_stage, start_stages
from dlcli.training.state import RunState, restore_checkpoint, save_checkpoint
from dlcli.training.trainee import Trainee


@dataclass
class StartingPoint:
    state: RunState  # changed by the epoch loop as it goes
    notices: list[Notice]  # said after RunStarted: what resuming continues and changes
    prior_wall_s: float  # wall time of earlier sessions, each up to its last checkpoint

    def wall_time_s(self, t_start: float) -> float:
        """The run's wall time so far: earlier sessions plus this one since ``t_start``."""
        return self.prior_wall_s + time.perf_counter() - t_start


def starting_point(session: Session, trainee: Trainee) -> StartingPoint:
    state = _new_state(session)
    staged = start_stages(session, trainee, state)  # the optimizer a checkpoint holds
    warm: list[Notice] = []
    if session.options.resume:
        _restore(session, trainee, state)
    else:
        warm = _warm_start(session, trainee)  # before adapting: the new data's statistics win
        _adapt(session, trainee, state)
    previous_epochs, state.epochs_planned = state.epochs_planned, session.epochs
    previous_steps, state.steps_per_epoch = state.steps_per_epoch, session.steps
    # the lr schedule's position is in epochs (of the current stage, with train.stages)
    trainee.step_fns.resume_schedule(epochs_into_stage(session, trainee, state.epoch))
    notices = []
    if session.options.resume:
        from dlcli.training.diagnostics import resume_notices

        notices = resume_notices(
            completed=state.epoch,
            epochs=session.epochs,
            epochs_option=session.options.epochs_option,
            previous_epochs=previous_epochs,
            # a stage's schedule spans the stage: its line says where it continues
            schedule=None if session.spec.stages else trainee.step_fns.schedule,
            steps_per_epoch=session.steps,
            previous_steps_per_epoch=previous_steps,
        )
    prior_wall = float(state.totals.get("wall_time_s", 0.0))
    return StartingPoint(state=state, notices=[*warm, *staged, *notices], prior_wall_s=prior_wall)


def _warm_start(session: Session, trainee: Trainee) -> list[Notice]:
    """``model.init_from``: weights copied by layer name, said layer group by layer group."""
    source = session.recipe.model.init_from
    if source is None:
        return []
    from dlcli.modeling.warm_start import warm_start

    return [Notice(line) for line in warm_start(trainee.model, source).lines()]


def _new_state(session: Session) -> RunState:
    best = BestTracker.for_monitor(session.checkpoint_monitor)
    state = RunState(best=best, started=session.launch.started)
    early_spec = session.spec.early_stopping
    if early_spec is not None:
        state.early = EarlyStopping.from_spec(early_spec)
        state.early.tracker.monitor = usable_monitor(
            state.early.tracker.monitor, list(session.log_keys), session.notes, "early_stopping"
        )
    return state


def _restore(session: Session, trainee: Trainee, state: RunState) -> None:
    from dlcli.training.adapt import restore_adapted

    run = session.run
    restore_checkpoint(run, state, trainee.variables)
    restore_adapted(trainee.model, state.adapted)  # adapted once, at the start of the run
    session.notes.extend(recipe_changes(run, session.recipe_yaml))
    epochs = session.epochs
    if epochs < state.epoch:
        raise UsageError(
            f"train.epochs is {epochs} but this run already completed {state.epoch} epochs",
            file=run.read_path,
            field="--epochs",
            expected=f"at least {state.epoch}",
            received=epochs,
            hint=f"resume with --epochs {state.epoch} (or more to train further)",
        )
    if state.stopped_early and epochs > state.epoch:
        state.stopped_early = False  # more epochs asked for: train on
        if state.early:
            state.early.wait = 0


def _adapt(session: Session, trainee: Trainee, state: RunState) -> None:
    from dlcli.training.adapt import adapt_model

    bundle = session.bundle
    batches = bundle.make_train_unshuffled(session.global_batch_size)
    adapted = adapt_model(trainee.model, batches, bundle.num_train)
    state.adapted = [a.to_dict() for a in adapted]
    save_checkpoint(session.run, state, trainee.variables, session.seed, 0)  # epoch 0
