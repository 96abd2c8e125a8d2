"""The first step of a training session: what the run works with before the model exists.

``open_session`` sets the seed, loads the data, sizes the batches and steps, distributes the
validation set and settles which value checkpoints monitor. The result, a ``Session``, is
what every later step reads: ``trainee`` (model and compiled steps), ``resume`` (the
starting state, which may add to ``notes``), ``announce``, ``epochs`` and ``finish``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli.errors import RecipeError
from dlcli.targets import target_of
from dlcli.training.checks import check_class_count
from dlcli.training.rundir import RunDirectory

if TYPE_CHECKING:
    from dlcli.data import DataBundle
    from dlcli.devices import ExecutionPlan
    from dlcli.recipe import Recipe, TrainSpec


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


@dataclass(frozen=True)
class Launch:
    """What the engine knows before TensorFlow reads any data: the run folder is open and
    locked (by the chief), the strategy exists."""

    recipe: Recipe
    options: TrainOptions
    plan: ExecutionPlan
    strategy: Any  # a tf.distribute.Strategy
    run: RunDirectory  # the run folder, or a worker's scratch folder
    t_start: float  # time.perf_counter() when train() was called
    started: str  # ISO time when train() was called
    notes: tuple[str, ...]  # said when the run starts (from opening the run folder)


@dataclass(frozen=True)
class Session:
    """The data, batch sizes and settings the whole session runs with."""

    launch: Launch
    seed: int
    bundle: DataBundle
    global_batch_size: int  # per-replica batch size x replicas
    steps: int  # optimizer steps per epoch
    steps_per_call: int  # steps per compiled call (Ctrl-C and progress between calls)
    validation: Any | None  # the distributed validation dataset
    log_keys: tuple[str, ...]  # the keys of each epoch's logs
    checkpoint_monitor: str
    recipe_yaml: str  # saved as recipe.yaml, compared with it on resume
    notes: list[str]  # warnings for RunStarted; the resume step may add some

    @property
    def recipe(self) -> Recipe:
        return self.launch.recipe

    @property
    def options(self) -> TrainOptions:
        return self.launch.options

    @property
    def spec(self) -> TrainSpec:
        return self.launch.recipe.train

    @property
    def epochs(self) -> int:
        return int(self.spec.epochs)

    @property
    def plan(self) -> ExecutionPlan:
        return self.launch.plan

    @property
    def run(self) -> RunDirectory:
        return self.launch.run


def open_session(launch: Launch) -> Session:
    """Seed everything, load and check the data, size the steps; no model yet."""
    from dlcli.backend import keras
    from dlcli.data import load_datasets
    from dlcli.recipe.model_inputs import model_columns
    from dlcli.training import setup
    from dlcli.training.weights import class_weights

    # tf.data warns while tracing loops over distributed datasets; it is about graph-mode
    # introspection of options, which we do not use.
    warnings.filterwarnings(
        "ignore", message="To make it possible to preserve tf.data options", category=UserWarning
    )
    recipe, options = launch.recipe, launch.options
    seed = int(recipe.effective_seed)
    keras.utils.set_random_seed(seed)
    bundle = load_datasets(
        recipe.data, seed=seed, strict=options.strict, inputs=model_columns(recipe.model)
    )
    if target_of(bundle.target).classifies:
        check_class_count(bundle.class_names, recipe.data)
        bundle.class_weight = class_weights(
            recipe.train, bundle.class_names, bundle.train.y, recipe.source
        )
    global_bs = int(recipe.data.batch_size) * launch.plan.replicas
    steps = setup.steps_for(bundle.num_train, global_bs)
    val = bundle.make_validation(global_bs)
    val_ds = setup.distribute(launch.strategy, val) if val is not None else None
    notes = [*launch.plan.warnings, *launch.notes]
    known = log_keys(recipe.train.metrics, validation=val_ds is not None, target=bundle.target)
    return Session(
        launch=launch,
        seed=seed,
        bundle=bundle,
        global_batch_size=global_bs,
        steps=steps,
        steps_per_call=options.steps_per_call or steps_per_call(steps),
        validation=val_ds,
        log_keys=tuple(known),
        checkpoint_monitor=usable_monitor(
            recipe.train.checkpoint.monitor, known, notes, "checkpoint"
        ),
        recipe_yaml=options.recipe_yaml or recipe_yaml(recipe),
        notes=notes,
    )


def steps_per_call(steps: int, calls: int = 8, cap: int = 8) -> int:
    """Steps per compiled call: about ``calls`` calls per epoch, at most ``cap`` steps (the
    host checks for Ctrl-C and reports progress between calls). Any count reuses one trace.
    """
    return max(1, min(cap, math.ceil(steps / calls)))


def log_keys(metrics: list[str], *, validation: bool, target: Any = None) -> list[str]:
    """The history's keys; several outputs (``model.outputs``) add ``<output>_loss`` and
    ``<output>_<metric>`` for each output's own metrics."""
    from dlcli.targets import target_of

    def named(found: list[str], prefix: str = "") -> list[str]:
        return [prefix + ("accuracy" if m.lower() in ("accuracy", "acc") else m) for m in found]

    parts = target_of(target).parts(target) if target is not None else None
    if parts:
        names = ["loss"]
        for p in parts:
            names += [f"{p.name}_loss", *named(p.metrics, f"{p.name}_")]
    else:
        names = ["loss", *named(metrics)]
    return names + ([f"val_{n}" for n in names] if validation else [])


def usable_monitor(monitor: str, known: list[str], notes: list[str], what: str) -> str:
    """The monitored key; ``val_x`` falls back to ``x`` (with a note) without validation."""
    if monitor in known:
        return monitor
    if monitor.startswith("val_") and monitor[4:] in known:
        notes.append(
            f"{what} monitors {monitor} but there is no validation data; using {monitor[4:]}"
        )
        return monitor[4:]
    raise RecipeError(
        f"monitored value {monitor!r} is not among this run's metrics",
        field=f"train.{what}.monitor",
        expected=f"one of {known}",
        received=monitor,
    )


def recipe_yaml(recipe: Any) -> str:
    if hasattr(recipe, "to_yaml"):
        return recipe.to_yaml()
    import yaml

    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False)
