"""``train(recipe, options)``: the training run from first check to last file.

Prints nothing; reports progress through ``on_event`` (``dlcli.training.events``) and
returns a ``TrainResult``. The TensorFlow-heavy parts live in ``setup`` (strategy, data,
model) and ``loop`` (the compiled steps); the files in ``rundir``.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dlcli import interrupts
from dlcli.errors import RecipeError, RunFailure, StorageFullError, UsageError
from dlcli.training.checks import (
    check_class_count,
    check_loss,
    check_output_units,
    prior_loss,
)
from dlcli.training.events import (
    EpochEnded,
    EpochStarted,
    EventCallback,
    RunFinished,
    RunStarted,
    StepsDone,
    TracingFinished,
    TracingStarted,
    TrainResult,
    ignore_events,
)
from dlcli.training.hooks import BestTracker, EarlyStopping
from dlcli.training.rundir import RunDirectory, recipe_changes
from dlcli.training.runstart import RunStart, open_run_dir
from dlcli.training.signals import StopRequest
from dlcli.training.state import RunState, restore_checkpoint, save_checkpoint, write_best
from dlcli.training.stopped import default_resume_command, disk_full, stopped_by_signal

TEST_WORKER_WEIGHTS_ENV = "DLCLI_TEST_WORKER_WEIGHTS"
PROGRESS_INTERVAL_S = 0.1  # StepsDone events at most this often


@dataclass
class TrainOptions:
    out: Path
    resume: bool = False
    overwrite: bool = False
    strict: bool = False
    device: str | None = None
    steps_per_call: int | None = None  # steps per tf.function call; default ~8 calls/epoch
    recipe_yaml: str | None = None  # the resolved recipe text to save (default: to_yaml())
    resume_command: str | None = None  # how to continue, as typed (default: from the recipe)
    epochs_option: int | None = None  # --epochs as given (to say where train.epochs came from)


def train(
    recipe: Any, options: TrainOptions, on_event: EventCallback = ignore_events
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


def _start(recipe, options, on_event, start: RunStart | None, t_start: float, started: str):
    from dlcli.training import setup

    dist = setup.start_strategy(recipe.train, options.device)  # first TensorFlow work
    plan, strategy = dist.plan, dist.strategy
    out = Path(options.out).absolute()
    run = RunDirectory(out) if plan.is_chief else RunDirectory.scratch_for(out)
    notes = start.notes if start is not None else []
    try:
        return _run(recipe, options, on_event, plan, strategy, run, t_start, started, notes)
    finally:
        run.cleanup()


def _expect_chief(train_spec: Any) -> bool:
    from dlcli.devices import read_tf_config

    if str(train_spec.distribute) not in ("auto", "multi_worker"):
        return True
    cluster = read_tf_config()
    return cluster is None or cluster.is_chief


def _run(
    recipe,
    options,
    on_event,
    plan,
    strategy,
    run: RunDirectory,
    t_start: float,
    started,
    start_notes: list[str],
):
    from dlcli.backend import keras
    from dlcli.data import load_datasets
    from dlcli.training import diagnostics as diag
    from dlcli.training import setup
    from dlcli.training.adapt import adapt_model, restore_adapted, summaries
    from dlcli.training.loop import StepFunctions
    from dlcli.training.reporting import TensorBoardLog, metrics_document
    from dlcli.training.schedules import Schedule

    # tf.data warns while tracing loops over distributed datasets; it is about graph-mode
    # introspection of options, which we do not use.
    warnings.filterwarnings(
        "ignore", message="To make it possible to preserve tf.data options", category=UserWarning
    )
    spec = recipe.train
    seed = int(recipe.effective_seed)
    keras.utils.set_random_seed(seed)
    bundle = load_datasets(recipe.data, seed=seed, strict=options.strict)
    check_class_count(bundle.class_names, recipe.data)
    global_bs = int(recipe.data.batch_size) * plan.replicas
    steps = setup.steps_for(bundle.num_train, global_bs)
    k = options.steps_per_call or _steps_per_call(steps)
    val = bundle.make_validation(global_bs)
    val_ds = setup.distribute(strategy, val) if val is not None else None

    notes = [*plan.warnings, *start_notes]
    known = _log_keys(spec.metrics, validation=val_ds is not None)
    ckpt_monitor = _usable_monitor(spec.checkpoint.monitor, known, notes, "checkpoint")

    with strategy.scope():
        model = setup.build_network(recipe.model, bundle.input_shape, recipe.name)
        check_output_units(model, len(bundle.class_names))
        check_loss(spec.loss, len(bundle.class_names), _output_width(model))
        chance = diag.ChanceWatch.for_data(
            bundle.train.y,
            len(bundle.class_names),
            prior_loss(spec.loss, bundle.train.y, len(bundle.class_names), _output_width(model)),
        )
        augment = bundle.augmentation()
        optimizer, base_lr = setup.make_optimizer(spec.optimizer, plan.precision_policy)
        model.compile(optimizer=optimizer, loss=spec.loss, metrics=list(spec.metrics))
        optimizer.build(model.trainable_variables)
        schedule = Schedule.from_spec(
            spec.lr_schedule, base_lr, epochs=spec.epochs, steps_per_epoch=steps
        )
        fns = StepFunctions(
            strategy=strategy,
            model=model,
            optimizer=optimizer,
            loss_name=spec.loss,
            metric_names=spec.metrics,
            global_batch_size=global_bs,
            schedule=schedule,
            jit_compile=plan.jit_compile,
            augment=augment,
            onednn_bfloat16=plan.onednn_bfloat16,
        )
    variables = setup.variables_of(model, optimizer, augment)

    state = RunState(best=BestTracker.for_monitor(ckpt_monitor), started=started)
    if spec.early_stopping is not None:
        state.early = EarlyStopping.from_spec(spec.early_stopping)
        state.early.tracker.monitor = _usable_monitor(
            state.early.tracker.monitor, known, notes, "early_stopping"
        )
    if options.resume:
        restore_checkpoint(run, state, variables)
        restore_adapted(model, state.adapted)  # adapted once, at the start of the run
        notes.extend(recipe_changes(run, options.recipe_yaml or _recipe_yaml(recipe)))
        if spec.epochs < state.epoch:
            raise UsageError(
                f"train.epochs is {spec.epochs} but this run already completed "
                f"{state.epoch} epochs",
                file=run.read_path,
                field="--epochs",
                expected=f"at least {state.epoch}",
                received=spec.epochs,
                hint=f"resume with --epochs {state.epoch} (or more to train further)",
            )
        if state.stopped_early and spec.epochs > state.epoch:
            state.stopped_early = False  # more epochs asked for: train on
            if state.early:
                state.early.wait = 0
    else:
        adapted = adapt_model(model, bundle.make_train_unshuffled(global_bs), bundle.num_train)
        state.adapted = [a.to_dict() for a in adapted]
        save_checkpoint(run, state, variables, seed, 0)  # epoch 0: resumable from the very start
    previous_epochs, state.epochs_planned = state.epochs_planned, spec.epochs
    previous_steps, state.steps_per_epoch = state.steps_per_epoch, steps
    fns.resume_schedule(state.epoch)  # the lr schedule's position is in epochs
    resume_notes = (
        diag.resume_notices(
            completed=state.epoch,
            epochs=spec.epochs,
            epochs_option=options.epochs_option,
            previous_epochs=previous_epochs,
            schedule=fns.schedule,
            steps_per_epoch=steps,
            previous_steps_per_epoch=previous_steps,
        )
        if options.resume
        else []
    )

    # One iterator for the whole run (no per-epoch iterator start-up and tear-down); each
    # epoch's shuffle order depends on the seed and epoch number only, so resuming needs
    # no replay. Augmentation runs inside the compiled step: in a parallel tf.data map its
    # random draws happened in thread order, so the same seed gave different runs.
    epochs_ds = bundle.make_train_epochs(global_bs, state.epoch, spec.epochs, augment=False)
    iterator = iter(setup.distribute(strategy, epochs_ds))

    # Wall time adds up over sessions, each counted up to its last checkpoint.
    prior_wall = float(state.totals.get("wall_time_s", 0.0))
    run.write_text("recipe.yaml", options.recipe_yaml or _recipe_yaml(recipe))
    run.write_json("labels.json", {"class_names": bundle.class_names, **bundle.preprocessing})
    run.write_skipped(bundle.skipped)
    board = TensorBoardLog(run.path / "logs")

    on_event(
        RunStarted(
            name=recipe.name,
            run_dir=run.read_path,
            device=plan.device_label,
            strategy=plan.strategy_kind,
            replicas=plan.replicas,
            precision=plan.precision_label,
            epochs=spec.epochs,
            start_epoch=state.epoch,
            steps_per_epoch=steps,
            num_train=bundle.num_train,
            num_validation=bundle.num_validation,
            global_batch_size=global_bs,
            is_chief=plan.is_chief,
            warnings=tuple(notes),
            skipped=len(bundle.skipped),
        )
    )
    for notice in [*diag.data_notices(bundle), *summaries(state.adapted, options.resume)]:
        on_event(notice)
    for notice in resume_notes:
        on_event(notice)
    with StopRequest() as stop:
        for epoch in range(state.epoch + 1, spec.epochs + 1):
            if state.stopped_early:
                break
            on_event(EpochStarted(epoch=epoch, epochs=spec.epochs, steps=steps))
            fns.reset()
            t0 = last_report = time.perf_counter()
            if not fns.traced:  # tracing takes seconds in which no step completes
                on_event(TracingStarted())
                fns.trace(iterator)
                on_event(TracingFinished(time.perf_counter() - t0))
            done = 0
            while done < steps:
                n = min(k, steps - done)
                bad = int(fns.train_chunk(iterator, n))
                done += n
                if bad:
                    write_best(run, model, variables["model"], state)
                    raise _nan_failure(epoch, done - n + bad, steps, base_lr, run, state)
                if stop.requested:
                    write_best(run, model, variables["model"], state)
                    raise interrupts.StopSignal(stop.signal_name or "SIGINT")
                now = time.perf_counter()
                if done < steps and now - last_report >= PROGRESS_INTERVAL_S:
                    # Reading metrics syncs with the device: at most ~10 times a second.
                    last_report = now
                    rate = done * global_bs / max(now - t0, 1e-9)
                    logs = fns.logs(validation=False)
                    on_event(StepsDone(epoch, done, steps, logs, rate))
            train_time = time.perf_counter() - t0
            if val_ds is not None:
                fns.validate(val_ds)
            logs = fns.logs(validation=val_ds is not None)
            if not math.isfinite(logs["loss"]):
                write_best(run, model, variables["model"], state)
                raise _nan_failure(epoch, done, steps, base_lr, run, state)
            lr = fns.current_lr()
            epoch_time = time.perf_counter() - t0
            _add(state.totals, train_time_s=train_time, train_samples=bundle.num_train)
            row = {"epoch": epoch, **logs, "lr": lr, "epoch_time_s": round(epoch_time, 4)}
            state.history.append(row)
            improved = state.best.update(logs, epoch)
            stop_now = False
            arrays_extra = {}
            if improved and spec.checkpoint.best:
                # Kept in memory and in the checkpoint; best.keras is written once at the end.
                state.best_weights = setup.read_values(variables["model"])
                arrays_extra["best"] = state.best_weights
            if state.early is not None:
                before = state.early.tracker.epoch
                stop_now = state.early.update(logs, epoch)
                if state.early.restore_best and state.early.tracker.epoch != before:
                    state.early_best = setup.read_values(variables["model"])
                    arrays_extra["early_best"] = state.early_best
            state.epoch = epoch
            state.stopped_early = stop_now
            state.totals["wall_time_s"] = prior_wall + time.perf_counter() - t_start
            save_checkpoint(run, state, variables, seed, fns.iterations(), arrays_extra)
            run.write_history(state.history)
            board.write(epoch, logs, lr)
            on_event(
                EpochEnded(
                    epoch=epoch,
                    epochs=spec.epochs,
                    logs=logs,
                    lr=lr,
                    epoch_time_s=epoch_time,
                    samples_per_s=bundle.num_train / max(train_time, 1e-9),
                    improved=improved,
                    best_value=state.best.value,
                    stop_reason="early_stopping" if stop_now else None,
                )
            )
            stuck = chance.check(epoch, logs, lr)
            if stuck is not None:
                on_event(stuck)
            if stop.requested and epoch < spec.epochs and not stop_now:
                write_best(run, model, variables["model"], state)
                raise interrupts.StopSignal(stop.signal_name or "SIGINT")
        if stop.requested:  # during the last epoch's saving: the final files are not written
            raise interrupts.StopSignal(stop.signal_name or "SIGINT")

    board.close()
    early = state.early
    if (
        state.stopped_early
        and early is not None
        and early.restore_best
        and state.early_best is not None
        and early.tracker.epoch != state.epoch
    ):
        setup.assign_values(variables["model"], state.early_best, "model")
    state.totals["wall_time_s"] = prior_wall + time.perf_counter() - t_start
    files = {"recipe.yaml": run.file("recipe.yaml"), "labels.json": run.file("labels.json")}
    files["model.keras"] = run.save_model(model, "model.keras")
    best = write_best(run, model, variables["model"], state, final=files["model.keras"])
    if best is not None or run.file("best.keras").is_file():
        files["best.keras"] = run.file("best.keras")  # else from an older session
    files["history.csv"] = run.write_history(state.history)
    metrics = metrics_document(
        name=recipe.name,
        history=state.history,
        best=state.best.to_dict(),
        epochs_planned=spec.epochs,
        stopped_early=state.stopped_early,
        totals=state.totals,
        plan=plan,
        global_batch_size=global_bs,
        seed=seed,
        bundle=bundle,
        started=state.started,
        adapted=state.adapted,
    )
    files["metrics.json"] = run.write_json("metrics.json", metrics)
    if state.history:
        from dlcli.viz.plots import plot_curves

        files["curves.png"] = plot_curves(state.history, run.file("curves.png"), title=recipe.name)
    if bundle.skipped:
        files["skipped.txt"] = run.file("skipped.txt")
    files["checkpoints"] = run.checkpoints
    files["logs"] = run.path / "logs"
    _save_worker_weights(model, plan)
    result = TrainResult(
        run_dir=run.read_path,
        metrics=metrics,
        files=files if plan.is_chief else {},
        epochs_run=state.epoch,
        epochs_planned=spec.epochs,
        stopped_early=state.stopped_early,
        is_chief=plan.is_chief,
    )
    on_event(RunFinished(result))
    return result


def _output_width(model: Any) -> int | None:
    shape = getattr(model, "output_shape", None)
    ok = isinstance(shape, tuple) and shape and isinstance(shape[-1], int)
    return shape[-1] if ok else None


def _steps_per_call(steps: int, calls: int = 8, cap: int = 8) -> int:
    """Steps per compiled call: about ``calls`` calls per epoch, at most ``cap`` steps (the
    host checks for Ctrl-C and reports progress between calls). Any count reuses one trace.
    """
    return max(1, min(cap, math.ceil(steps / calls)))


def _log_keys(metrics: list[str], *, validation: bool) -> list[str]:
    names = ["loss"] + ["accuracy" if m.lower() in ("accuracy", "acc") else m for m in metrics]
    return names + ([f"val_{n}" for n in names] if validation else [])


def _usable_monitor(monitor: str, known: list[str], warnings: list[str], what: str) -> str:
    """The monitored key; ``val_x`` falls back to ``x`` (with a warning) without validation."""
    if monitor in known:
        return monitor
    if monitor.startswith("val_") and monitor[4:] in known:
        warnings.append(
            f"{what} monitors {monitor} but there is no validation data; using {monitor[4:]}"
        )
        return monitor[4:]
    raise RecipeError(
        f"monitored value {monitor!r} is not among this run's metrics",
        field=f"train.{what}.monitor",
        expected=f"one of {known}",
        received=monitor,
    )


def _nan_failure(
    epoch: int, step: int, steps: int, lr: float, run: RunDirectory, state: RunState
) -> RunFailure:
    return RunFailure(
        f"the training loss became NaN or infinite in epoch {epoch}, step {step} of {steps}; "
        f"training stopped. The last good checkpoint (epoch {state.epoch}) is in "
        f"{run.read_path / 'checkpoints'}",
        hint=f"lower the learning rate (now {lr:g}, train.optimizer learning_rate), check the "
        "data for NaN/huge values, or scale inputs (e.g. a Rescaling layer)",
    )


def _add(totals: dict[str, float], **values: float) -> None:
    for key, value in values.items():
        totals[key] = float(totals.get(key, 0.0)) + float(value)


def _recipe_yaml(recipe: Any) -> str:
    if hasattr(recipe, "to_yaml"):
        return recipe.to_yaml()
    import yaml

    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False)


def _save_worker_weights(model: Any, plan: Any) -> None:
    """For tests: a non-chief saves its final weights where ``DLCLI_TEST_WORKER_WEIGHTS`` says."""
    target = os.environ.get(TEST_WORKER_WEIGHTS_ENV)
    if not target or plan.is_chief:
        return
    from dlcli import atomic

    if target.endswith(".weights.h5"):
        with atomic.atomic_path(target, suffix=".weights.h5") as tmp:
            model.save_weights(tmp)
    else:
        import numpy as np

        with atomic.atomic_path(target, suffix=".npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, *model.get_weights())
