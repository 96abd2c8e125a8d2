"""The fifth step of a training session: the epoch loop.

One iterator serves the whole run (``epoch_batches``). Each epoch runs its steps in
compiled chunks; between chunks the host reports progress and looks for a stop request
(Ctrl-C/SIGTERM, ``signals.StopRequest``). After the steps: validation, the epoch's row in
the history, the best value and early stopping, then the checkpoint (the commit point of
the epoch) and the ``EpochEnded`` event.

Stopping: an ``on_event`` callback raising ``halt.StopTraining`` at ``EpochEnded`` ends
the run like early stopping (the final files are written); a non-finite loss saves
``best.keras`` and raises ``RunFailure``; a stop request saves ``best.keras`` and raises
``interrupts.StopSignal`` after the current chunk (or, when it came during an epoch's end,
after that epoch's checkpoint). The engine turns the signal into ``Interrupted`` with what
is saved and how to resume.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from dlcli import interrupts
from dlcli.errors import RunFailure
from dlcli.training.events import (
    EpochEnded,
    EpochStarted,
    EventCallback,
    StepsDone,
    TracingFinished,
    TracingStarted,
)
from dlcli.training.halt import StopTraining
from dlcli.training.reporting import TensorBoardLog
from dlcli.training.resume import StartingPoint
from dlcli.training.session import Session
from dlcli.training.signals import StopRequest
from dlcli.training.skips import report_new_skips
from dlcli.training.stages import history_fields, next_stage
from dlcli.training.state import RunState, save_checkpoint
from dlcli.training.trainee import Trainee

PROGRESS_INTERVAL_S = 0.1  # StepsDone events at most this often


@dataclass(frozen=True)
class EpochLoop:
    """What the loop runs on; ``start.state`` is what it advances."""

    session: Session
    trainee: Trainee
    start: StartingPoint
    iterator: Any  # over the distributed training batches of every remaining epoch
    board: TensorBoardLog
    on_event: EventCallback

    @property
    def state(self) -> RunState:
        return self.start.state


@dataclass(frozen=True)
class TrainedEpoch:
    """An epoch whose steps all ran."""

    epoch: int
    started: float  # time.perf_counter() at its start
    train_time_s: float  # its steps, without validation


@dataclass(frozen=True)
class MeasuredEpoch:
    """An epoch's logs (validation included) and timings."""

    epoch: int
    logs: dict[str, float]
    lr: float  # the learning rate at the epoch's end
    epoch_time_s: float  # steps and validation
    train_time_s: float  # steps only


@dataclass(frozen=True)
class Tracked:
    """What the best value and early stopping made of an epoch."""

    improved: bool  # a new best value for the checkpoint monitor
    stop_now: bool  # early stopping ends the run after this epoch
    arrays: dict[str, list[Any]] = field(default_factory=dict)  # extra checkpoint arrays


def epoch_batches(session: Session, state: RunState) -> Any:
    """An iterator over the remaining epochs' distributed batches, back to back.

    One iterator for the whole run (no per-epoch start-up and tear-down); each epoch's
    shuffle order depends on the seed and epoch number only, so resuming needs no replay.
    Augmentation runs inside the compiled step: in a parallel tf.data map its random draws
    happened in thread order, so the same seed gave different runs.
    """
    from dlcli.training import setup

    dataset = session.bundle.make_train_epochs(
        session.global_batch_size, state.epoch, session.epochs, augment=False
    )
    return iter(setup.distribute(session.launch.strategy, dataset))


def run_epochs(loop: EpochLoop) -> None:
    """Run the remaining epochs (until early stopping); close the TensorBoard log."""
    epochs, state = loop.session.epochs, loop.state
    with StopRequest() as stop:
        for epoch in range(state.epoch + 1, epochs + 1):
            if state.stopped_early:
                break
            for notice in next_stage(loop.session, loop.trainee, state, epoch):
                loop.on_event(notice)
            loop.on_event(EpochStarted(epoch=epoch, epochs=epochs, steps=loop.session.steps))
            trained = _train_epoch(loop, epoch, stop)
            try:
                stop_now = _end_epoch(loop, trained)
            except StopTraining:  # the caller ended the run at EpochEnded (halt.py)
                state.stopped_early = True
                break
            if stop.requested and epoch < epochs and not stop_now:
                _stop(loop, stop)
        if stop.requested:  # during the last epoch's saving: the final files are not written
            raise interrupts.StopSignal(stop.signal_name or "SIGINT")
    loop.board.close()


def _train_epoch(loop: EpochLoop, epoch: int, stop: StopRequest) -> TrainedEpoch:
    """Run one epoch's steps in chunks, reporting progress and honouring a stop request."""
    fns, steps = loop.trainee.step_fns, loop.session.steps
    fns.reset()
    t0 = last_report = time.perf_counter()
    if not fns.traced:  # tracing takes seconds in which no step completes
        loop.on_event(TracingStarted())
        fns.trace(loop.iterator)
        loop.on_event(TracingFinished(time.perf_counter() - t0))
    done = 0
    while done < steps:
        n = min(loop.session.steps_per_call, steps - done)
        bad = int(fns.train_chunk(loop.iterator, n))
        done += n
        if bad:
            loop.trainee.save_best(loop.session.run, loop.state)
            raise _nan_failure(loop, epoch, done - n + bad)
        if stop.requested:
            _stop(loop, stop)
        now = time.perf_counter()
        if done < steps and now - last_report >= PROGRESS_INTERVAL_S:
            # Reading metrics syncs with the device: at most ~10 times a second.
            last_report = now
            rate = done * loop.session.global_batch_size / max(now - t0, 1e-9)
            loop.on_event(StepsDone(epoch, done, steps, fns.logs(validation=False), rate))
    return TrainedEpoch(epoch=epoch, started=t0, train_time_s=time.perf_counter() - t0)


def _end_epoch(loop: EpochLoop, trained: TrainedEpoch) -> bool:
    """Validate, record, checkpoint and report the epoch; True when early stopping ends the run."""
    measured = _measure(loop, trained)
    tracked = _commit(loop, measured)
    _report(loop, measured, tracked)
    return tracked.stop_now


def _measure(loop: EpochLoop, trained: TrainedEpoch) -> MeasuredEpoch:
    """Validation and the epoch's logs; a non-finite loss fails the run."""
    session, fns = loop.session, loop.trainee.step_fns
    if session.validation is not None:
        fns.validate(session.validation)
    logs = fns.logs(validation=session.validation is not None)
    if not math.isfinite(logs["loss"]):
        loop.trainee.save_best(session.run, loop.state)
        raise _nan_failure(loop, trained.epoch, session.steps)
    return MeasuredEpoch(
        epoch=trained.epoch,
        logs=logs,
        lr=fns.current_lr(),
        epoch_time_s=time.perf_counter() - trained.started,
        train_time_s=trained.train_time_s,
    )


def _commit(loop: EpochLoop, measured: MeasuredEpoch) -> Tracked:
    """The epoch into the state, the checkpoint (the epoch's commit point) and history.csv."""
    session, state, epoch = loop.session, loop.state, measured.epoch
    num_train = session.bundle.num_train
    _add(state.totals, train_time_s=measured.train_time_s, train_samples=num_train)
    epoch_time_s = round(measured.epoch_time_s, 4)
    stage = history_fields(session.spec, loop.trainee.stage)
    state.history.append(
        {"epoch": epoch, **stage, **measured.logs, "lr": measured.lr, "epoch_time_s": epoch_time_s}
    )
    tracked = _track(loop, measured.logs, epoch)
    state.epoch = epoch
    state.stopped_early = tracked.stop_now
    state.totals["wall_time_s"] = loop.start.wall_time_s(session.launch.t_start)
    iterations = loop.trainee.step_fns.iterations()
    save_checkpoint(
        session.run, state, loop.trainee.variables, session.seed, iterations, tracked.arrays
    )
    session.run.write_history(state.history)
    return tracked


def _report(loop: EpochLoop, measured: MeasuredEpoch, tracked: Tracked) -> None:
    """TensorBoard scalars, ``EpochEnded`` and, at chance level, a warning."""
    epoch, logs, lr = measured.epoch, measured.logs, measured.lr
    loop.board.write(epoch, logs, lr)
    loop.on_event(
        EpochEnded(
            epoch=epoch,
            epochs=loop.session.epochs,
            logs=logs,
            lr=lr,
            epoch_time_s=measured.epoch_time_s,
            samples_per_s=loop.session.bundle.num_train / max(measured.train_time_s, 1e-9),
            improved=tracked.improved,
            best_value=loop.state.best.value,
            stop_reason="early_stopping" if tracked.stop_now else None,
        )
    )
    stuck = loop.trainee.chance.check(epoch, logs, lr)
    if stuck is not None:
        loop.on_event(stuck)
    report_new_skips(loop.session.run, loop.session.bundle.skipped, loop.on_event)


def _track(loop: EpochLoop, logs: dict[str, float], epoch: int) -> Tracked:
    """Update the best value and early stopping; keep the weights either needs later."""
    from dlcli.training import setup

    state, model_vars = loop.state, loop.trainee.variables["model"]
    improved = state.best.update(logs, epoch)
    arrays: dict[str, list[Any]] = {}
    if improved and loop.session.spec.checkpoint.best:
        # Kept in memory and in the checkpoint; best.keras is written once at the end.
        state.best_weights = setup.read_values(model_vars)
        arrays["best"] = state.best_weights
    stop_now = False
    if state.early is not None:
        before = state.early.tracker.epoch
        stop_now = state.early.update(logs, epoch)
        if state.early.restore_best and state.early.tracker.epoch != before:
            state.early_best = setup.read_values(model_vars)
            arrays["early_best"] = state.early_best
    return Tracked(improved=improved, stop_now=stop_now, arrays=arrays)


def _stop(loop: EpochLoop, stop: StopRequest) -> None:
    """Honour a stop request: ``best.keras`` from the best epoch so far, then the signal."""
    loop.trainee.save_best(loop.session.run, loop.state)
    raise interrupts.StopSignal(stop.signal_name or "SIGINT")


def _nan_failure(loop: EpochLoop, epoch: int, step: int) -> RunFailure:
    run, state = loop.session.run, loop.state
    return RunFailure(
        f"the training loss became NaN or infinite in epoch {epoch}, step {step} of "
        f"{loop.session.steps}; training stopped. The last good checkpoint (epoch "
        f"{state.epoch}) is in {run.read_path / 'checkpoints'}",
        hint=f"lower the learning rate (now {loop.trainee.base_lr:g}, train.optimizer "
        "learning_rate), check the data for NaN/huge values, or scale inputs (e.g. a "
        "Rescaling layer)",
    )


def _add(totals: dict[str, float], **values: float) -> None:
    for key, value in values.items():
        totals[key] = float(totals.get(key, 0.0)) + float(value)
