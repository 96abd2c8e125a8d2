"""``train(recipe, options)``: the training run from first check to last file.

Prints nothing; reports progress through ``on_event`` (``dlcli.training.events``) and
returns a ``TrainResult``. ``train`` opens and locks the run folder and turns a stop
(Ctrl-C, SIGTERM, a full disk) into an error that says what is saved and how to resume;
``_session`` runs the steps of one session, each in its own module:

1. ``session.open_session``: seed, data, batch sizes and steps, the checkpoint monitor;
2. ``trainee.build_trainee``: model, optimizer, schedule and compiled steps;
3. ``resume.starting_point``: a fresh state (preprocessing adapted) or the checkpoint's;
4. ``epochs.epoch_batches`` and ``announce.announce``: the batches, the opening files and
   ``RunStarted``;
5. ``epochs.run_epochs``: the epoch loop, with stop requests between chunks of steps;
6. ``finish.finish``: the final files and the ``TrainResult``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from dlcli import interrupts
from dlcli.errors import RecipeError, StorageFullError
from dlcli.training.announce import announce
from dlcli.training.epochs import EpochLoop, epoch_batches, run_epochs
from dlcli.training.events import EventCallback, TrainResult, ignore_events
from dlcli.training.finish import finish
from dlcli.training.resume import starting_point
from dlcli.training.rundir import RunDirectory
from dlcli.training.runstart import RunStart, open_run_dir
from dlcli.training.session import Launch, TrainOptions, open_session
from dlcli.training.stopped import default_resume_command, disk_full, stopped_by_signal
from dlcli.training.trainee import build_trainee

if TYPE_CHECKING:
    from dlcli.recipe import Recipe, TrainSpec

__all__ = ["TrainOptions", "train"]


def train(
    recipe: Recipe, options: TrainOptions, on_event: EventCallback = ignore_events
) -> TrainResult:
    """Train ``recipe`` into ``options.out``; see docs/training.md.

    The run folder is locked for the whole run. SIGINT/SIGTERM anywhere (start-up, the
    epoch loop, the final save) end it with ``Interrupted`` (exit 130) and a full disk with
    ``StorageFullError`` (exit 1), both saying what is saved and the ``--resume`` command.
    """
    t_start = time.perf_counter()
    from dlcli.training.reporting import now_iso

    started = now_iso()
    if recipe.data is None:
        raise RecipeError(
            "training needs a data section",
            field="data",
            expected="data: {kind: images, train: path/to/folder, ...}",
        )
    out = Path(options.out).expanduser().absolute()
    command = options.resume_command or default_resume_command(recipe, out)
    start: RunStart | None = None
    resumable = False  # stopped in a way the message says --resume continues: keep the folder
    with interrupts.stop_signals_raise():
        try:
            if _expect_chief(recipe.train):
                with interrupts.held():  # once locked, ``start`` must be set to release it
                    start = open_run_dir(out, resume=options.resume, overwrite=options.overwrite)
                options = replace(options, out=start.path, resume=start.resume)
            return _start(recipe, options, on_event, start, t_start, started)
        except KeyboardInterrupt as exc:
            resumable = True
            raise stopped_by_signal(exc, out, recipe.train.epochs, command) from None
        except (StorageFullError, OSError) as exc:
            full = disk_full(exc, out, recipe.train.epochs, command)
            if full is None:
                raise
            resumable = True
            raise full from exc
        finally:
            if start is not None:
                start.release(remove_empty=not resumable)


def _start(
    recipe: Recipe,
    options: TrainOptions,
    on_event: EventCallback,
    start: RunStart | None,
    t_start: float,
    started: str,
) -> TrainResult:
    from dlcli.devices import global_precision_kept
    from dlcli.training import setup

    with global_precision_kept():  # a run's precision policy ends with the run
        dist = setup.start_strategy(recipe.train, options.device)  # first TensorFlow work
        out = Path(options.out).absolute()
        run = RunDirectory(out) if dist.plan.is_chief else RunDirectory.scratch_for(out)
        launch = Launch(
            recipe=recipe,
            options=options,
            plan=dist.plan,
            strategy=dist.strategy,
            run=run,
            t_start=t_start,
            started=started,
            notes=tuple(start.notes if start is not None else ()),
        )
        try:
            return _session(launch, on_event)
        finally:
            run.cleanup()


def _session(launch: Launch, on_event: EventCallback) -> TrainResult:
    session = open_session(launch)
    trainee = build_trainee(session)
    start = starting_point(session, trainee)
    iterator = epoch_batches(session, start.state)
    board = announce(session, start, on_event)
    run_epochs(EpochLoop(session, trainee, start, iterator, board, on_event))
    return finish(session, trainee, start, on_event)


def _expect_chief(train_spec: TrainSpec) -> bool:
    from dlcli.devices import read_tf_config

    if str(train_spec.distribute) not in ("auto", "multi_worker"):
        return True
    cluster = read_tf_config()
    return cluster is None or cluster.is_chief
