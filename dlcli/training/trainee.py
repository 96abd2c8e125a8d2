"""The second step of a training session: the model and everything that trains it.

Built inside ``strategy.scope()``: the network (checked against the data's classes and the
loss), the augmentation layers, the optimizer and its learning-rate schedule, and the
compiled training and validation steps. ``variables`` is what a checkpoint holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli.targets import target_of
from dlcli.training.checks import (
    check_loss,
    check_output_units,
    check_target_units,
    prior_loss,
)
from dlcli.training.rundir import RunDirectory
from dlcli.training.session import Session
from dlcli.training.state import RunState, write_best

if TYPE_CHECKING:
    from dlcli.training.diagnostics import ChanceWatch
    from dlcli.training.loop import StepFunctions
    from dlcli.training.schedules import Schedule


@dataclass
class Trainee:
    """The model being trained and what trains it, built once per session.

    With ``train.stages`` each stage replaces ``optimizer``, ``base_lr``, ``step_fns`` and
    ``variables`` (a fresh optimizer and a new trace: see ``dlcli.training.stages``).
    """

    model: Any  # a keras.Model
    optimizer: Any  # a keras optimizer (loss-scaled under mixed_float16)
    base_lr: float  # the optimizer's own learning rate, before any schedule
    augment: Any  # the augmentation layers as one keras.Sequential (may be empty)
    step_fns: StepFunctions  # the compiled training and validation steps
    variables: dict[str, list[Any]]  # what a checkpoint holds (setup.variables_of)
    chance: ChanceWatch  # warns when the loss stays at chance level
    stage: int = 0  # the train.stages entry (1-based) trained now; 0 without stages

    def save_best(
        self, run: RunDirectory, state: RunState, final: Path | None = None
    ) -> Path | None:
        """``best.keras`` from the best epoch so far (None without one); see ``write_best``."""
        return write_best(run, self.model, self.variables["model"], state, final=final)


def build_trainee(session: Session) -> Trainee:
    """Build, check and compile the model and its steps inside ``strategy.scope()``."""
    from dlcli.training import diagnostics as diag
    from dlcli.training import setup
    from dlcli.training.schedules import Schedule

    spec, plan, bundle = session.spec, session.plan, session.bundle
    classes = len(bundle.class_names)
    with session.launch.strategy.scope():
        model = setup.build_network(session.recipe.model, bundle.input_shape, session.recipe.name)
        parts = target_of(bundle.target).parts(bundle.target) if bundle.target else None
        if parts:  # several outputs (model.outputs): each checked against its target
            from dlcli.training.outputs import check_units_per_output

            check_units_per_output(model, parts)
            chance = diag.ChanceWatch(prior_loss=None, majority=1.0, classes=classes)
        elif target_of(bundle.target).classifies:
            check_output_units(model, classes, last_layer(session))
            check_loss(spec.loss, classes, output_width(model))
            chance = diag.ChanceWatch.for_data(
                bundle.train.y,
                classes,
                prior_loss(spec.loss, bundle.train.y, classes, output_width(model)),
            )
        else:  # tags or numbers: one output unit per tag or target column
            check_target_units(model, bundle.class_names, bundle.target, last_layer(session))
            chance = diag.ChanceWatch(prior_loss=None, majority=1.0, classes=classes)
        augment = bundle.augmentation()
        optimizer, base_lr = setup.make_optimizer(spec.optimizer, plan.precision_policy)
        compile_model(session, model, optimizer)
        optimizer.build(model.trainable_variables)
        schedule = Schedule.from_spec(
            spec.lr_schedule, base_lr, epochs=session.epochs, steps_per_epoch=session.steps
        )
        fns = step_functions(session, model, optimizer, schedule, augment)
    return Trainee(
        model=model,
        optimizer=optimizer,
        base_lr=base_lr,
        augment=augment,
        step_fns=fns,
        variables=setup.variables_of(model, optimizer, augment),
        chance=chance,
    )


def last_layer(session: Session) -> Any:
    layers = session.recipe.model.layers
    return layers[-1] if layers else None


def compile_model(session: Session, model: Any, optimizer: Any) -> None:
    """Compile with the run's loss (and its arguments) and metrics: what ``model.keras``
    records; the training steps use their own copies (``loop.StepFunctions``)."""
    from dlcli.training.loop import make_metrics
    from dlcli.training.losses import loss_object

    spec, record = session.spec, session.bundle.target
    parts = target_of(record).parts(record) if record is not None else None
    if parts:
        from dlcli.training.outputs import compile_args

        model.compile(optimizer=optimizer, **compile_args(parts))
        return
    model.compile(
        optimizer=optimizer,
        loss=loss_object(spec.loss, spec.loss_args),
        metrics=make_metrics(spec.metrics, spec.loss, target=record),
    )


def step_functions(
    session: Session, model: Any, optimizer: Any, schedule: Schedule, augment: Any
) -> StepFunctions:
    """The compiled steps for ``model`` and ``optimizer`` (call inside ``strategy.scope()``)."""
    from dlcli.training.loop import StepFunctions

    return StepFunctions(
        strategy=session.launch.strategy,
        model=model,
        optimizer=optimizer,
        loss_name=session.spec.loss,
        loss_args=session.spec.loss_args,
        target=session.bundle.target,
        metric_names=session.spec.metrics,
        global_batch_size=session.global_batch_size,
        schedule=schedule,
        jit_compile=session.plan.jit_compile,
        augment=augment,
        onednn_bfloat16=session.plan.onednn_bfloat16,
    )


def output_width(model: Any) -> int | None:
    shape = getattr(model, "output_shape", None)
    ok = isinstance(shape, tuple) and shape and isinstance(shape[-1], int)
    return shape[-1] if ok else None
