"""``train.stages`` in a run: which layers train, with which optimizer, epoch by epoch.

Entering a stage sets ``trainable`` on every recipe layer (a frozen BatchNormalization
layer, or a frozen Backbone's, then runs in inference mode: Keras's rule), creates the
stage's optimizer fresh (its moments start at zero), its learning-rate schedule (over the
stage's own epochs) and new compiled steps: the steps were traced with the old trainable
variables, so they are traced again.

Checkpoints hold the optimizer of the stage that wrote them and say which
(``state.json``'s ``stage``). Resuming first enters that stage, so the saved optimizer
state fits, restores it, and enters the next stage at its first epoch as an uninterrupted
run does: a run stopped anywhere and resumed ends with the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dlcli.recipe.stages import describe_trainable, from_layer, inner_layer, trainable_names
from dlcli.training.events import Notice

if TYPE_CHECKING:
    from dlcli.recipe.spec import StageSpec, TrainSpec
    from dlcli.training.session import Session
    from dlcli.training.state import RunState
    from dlcli.training.trainee import Trainee


@dataclass(frozen=True)
class StagePlan:
    index: int  # 1-based
    count: int  # stages in the run
    spec: StageSpec
    first_epoch: int
    last_epoch: int

    @property
    def epochs_before(self) -> int:
        return self.first_epoch - 1

    @property
    def span(self) -> str:
        """``epoch 3`` or ``epochs 3-5``."""
        if self.first_epoch == self.last_epoch:
            return f"epoch {self.first_epoch}"
        return f"epochs {self.first_epoch}-{self.last_epoch}"


def stage_plans(spec: TrainSpec) -> list[StagePlan]:
    """The stages with their epoch ranges; empty without ``train.stages``."""
    plans, first = [], 1
    stages = spec.stages or []
    for index, stage in enumerate(stages, start=1):
        last = first + stage.epochs - 1
        plans.append(StagePlan(index, len(stages), stage, first, last))
        first = last + 1
    return plans


def plan_for_epoch(spec: TrainSpec, epoch: int) -> StagePlan | None:
    """The stage that trains 1-based ``epoch`` (the last one past the end); None without."""
    plans = stage_plans(spec)
    for plan in plans:
        if epoch <= plan.last_epoch:
            return plan
    return plans[-1] if plans else None


def layer_names(session: Session) -> list[str]:
    return [layer.name for layer in session.recipe.model.layers]


def enter_stage(session: Session, trainee: Trainee, plan: StagePlan, state: RunState) -> None:
    """Make ``plan`` the trained stage: trainable layers, a fresh optimizer, new steps."""
    from dlcli.training import setup
    from dlcli.training.schedules import Schedule
    from dlcli.training.trainee import compile_model, step_functions

    model, stage = trainee.model, plan.spec
    with session.launch.strategy.scope():
        set_trainable(model, layer_names(session), stage, plan.index)
        optimizer, base_lr = setup.make_optimizer(stage.optimizer, session.plan.precision_policy)
        # The saved model.keras holds this optimizer: its variables fit the trainable ones.
        compile_model(session, model, optimizer)
        optimizer.build(model.trainable_variables)
        schedule = Schedule.from_spec(
            stage.lr_schedule, base_lr, epochs=stage.epochs, steps_per_epoch=session.steps
        )
        trainee.step_fns = step_functions(session, model, optimizer, schedule, trainee.augment)
    trainee.optimizer, trainee.base_lr, trainee.stage = optimizer, base_lr, plan.index
    trainee.variables = setup.variables_of(model, optimizer, trainee.augment)
    state.stage = plan.index


def set_trainable(model: Any, names: list[str], stage: StageSpec, index: int = 1) -> None:
    """``trainable`` on each recipe layer as the stage (1-based ``index``) says; sub-layers
    follow in Keras. ``from: BACKBONE/LAYER`` also freezes the backbone's layers before
    LAYER (an unknown LAYER is a RecipeError naming the closest ones)."""
    chosen = set(trainable_names(stage.trainable, names))
    for name in names:
        model.get_layer(name).trainable = name in chosen
    inner = inner_layer(stage.trainable)
    if inner is None:
        return
    application = model.get_layer(from_layer(stage.trainable)).application
    inside = [layer.name for layer in application.layers]
    if inner not in inside:
        from dlcli.errors import RecipeError
        from dlcli.recipe.layers import did_you_mean

        raise RecipeError(
            f"stage {stage.name!r} trains from {inner!r} inside "
            f"{from_layer(stage.trainable)!r}, which has no layer of that name",
            field=f"train.stages[{index - 1}].trainable.from",
            expected=f"the name of one of its {len(inside)} layers (as Keras names them)",
            received=stage.trainable.value,
            hint=did_you_mean(inner, inside) or f"its last layers: {', '.join(inside[-4:])}",
        )
    for layer in application.layers[: inside.index(inner)]:
        layer.trainable = False


def check_stages(model: Any, names: list[str], spec: TrainSpec) -> None:
    """Every stage's layers exist in ``model`` (``from: BACKBONE/LAYER``): before training."""
    before = {name: bool(model.get_layer(name).trainable) for name in names}
    try:
        for plan in stage_plans(spec):
            set_trainable(model, names, plan.spec, plan.index)
    finally:
        for name, trainable in before.items():
            model.get_layer(name).trainable = trainable


def start_stages(session: Session, trainee: Trainee, state: RunState) -> list[Notice]:
    """Before restoring or adapting: enter the stage whose optimizer the checkpoint holds
    (resume) or the first stage (new run). Returns the plan's notices."""
    plans = stage_plans(session.spec)
    if not plans:
        return []
    check_stages(trainee.model, layer_names(session), session.spec)
    index = 1
    if session.options.resume:
        saved = session.run.load_state().get("stage")
        index = saved if isinstance(saved, int) and 1 <= saved <= len(plans) else 1
    enter_stage(session, trainee, plans[index - 1], state)
    notices = [Notice(plan_line(plans))]
    short = short_line(plans, session.epochs)
    if short:
        notices.append(Notice(short, warning=True))
    restored = session.options.resume
    return [*notices, Notice(stage_line(plans[index - 1], trainee, restored=restored))]


def short_line(plans: list[StagePlan], epochs: int) -> str | None:
    """What a ``train.epochs`` below the stages' sum leaves out; None when it covers them."""
    if epochs >= plans[-1].last_epoch:
        return None
    cut = next(p for p in plans if epochs <= p.last_epoch)
    missing = [p.spec.name for p in plans if p.first_epoch > epochs]
    text = f"train.epochs is {epochs}: the run stops "
    text += f"after epoch {epochs}, in stage {cut.spec.name!r} ({cut.span})"
    if missing:
        text += f"; not reached: {', '.join(missing)}"
    return text + f" (all stages: {plans[-1].last_epoch} epochs; --resume --epochs continues)"


def epochs_into_stage(session: Session, trainee: Trainee, completed: int) -> int:
    """Completed epochs counted from the current stage's start (the schedule's position)."""
    plans = stage_plans(session.spec)
    if not plans or trainee.stage == 0:
        return completed
    return max(0, completed - plans[trainee.stage - 1].epochs_before)


def next_stage(session: Session, trainee: Trainee, state: RunState, epoch: int) -> list[Notice]:
    """Before ``epoch``: enter its stage when it is not the current one (notices say so)."""
    plan = plan_for_epoch(session.spec, epoch)
    if plan is None or plan.index == trainee.stage:
        return []
    enter_stage(session, trainee, plan, state)
    trainee.step_fns.resume_schedule(0)
    return [Notice(stage_line(plan, trainee))]


def history_fields(spec: TrainSpec, stage: int) -> dict[str, str]:
    """The ``stage`` column of an epoch's history row (none without stages)."""
    if not spec.stages or stage == 0:
        return {}
    return {"stage": spec.stages[stage - 1].name}


def trainable_count(model: Any) -> int:
    return int(sum(int(_size(w)) for w in model.trainable_weights))


def _size(weight: Any) -> int:
    size = 1
    for dim in weight.shape:
        size *= int(dim)
    return size


def stage_line(plan: StagePlan, trainee: Trainee, *, restored: bool = False) -> str:
    """What a stage trains and how; ``restored``: its optimizer comes from a checkpoint."""
    stage = plan.spec
    total = sum(_size(w) for w in trainee.model.weights)
    lr = stage.optimizer.args.get("learning_rate", trainee.base_lr)
    schedule = f", {stage.lr_schedule.kind} schedule" if stage.lr_schedule else ""
    return (
        f"stage {plan.index}/{plan.count} {stage.name!r}: {plan.span}, trainable: "
        f"{describe_trainable(stage.trainable)} "
        f"({trainable_count(trainee.model):,} of {total:,} parameters), "
        f"{'' if restored else 'fresh '}{stage.optimizer.name} optimizer"
        f"{' (state from the checkpoint)' if restored else ''}, "
        f"learning rate {float(lr):g}{schedule}"
    )


def plan_line(plans: list[StagePlan]) -> str:
    parts = [f"{p.spec.name} ({p.span})" for p in plans]
    return f"{len(plans)} stages: " + ", ".join(parts)


def stage_rows(model: Any, names: list[str], spec: TrainSpec) -> list[dict[str, Any]]:
    """Each stage's epochs, trainable layers and parameters, optimizer and schedule, counted
    on ``model`` (its trainable flags are put back as they were)."""
    before = {name: bool(model.get_layer(name).trainable) for name in names}
    total = sum(_size(w) for w in model.weights)
    rows = []
    try:
        for plan in stage_plans(spec):
            stage = plan.spec
            set_trainable(model, names, stage, plan.index)
            rows.append(
                {
                    "name": stage.name,
                    "first_epoch": plan.first_epoch,
                    "last_epoch": plan.last_epoch,
                    "trainable": describe_trainable(stage.trainable),
                    "trainable_layers": trainable_names(stage.trainable, names),
                    "trainable_params": trainable_count(model),
                    "total_params": total,
                    "optimizer": {"name": stage.optimizer.name, **stage.optimizer.args},
                    "lr_schedule": stage.lr_schedule.model_dump() if stage.lr_schedule else None,
                }
            )
    finally:
        for name, trainable in before.items():
            model.get_layer(name).trainable = trainable
    return rows


def stages_document(session: Session, trainee: Trainee, history: list[dict[str, Any]]) -> Any:
    """``metrics.json``'s ``stages``: ``stage_rows`` plus the epochs each stage ran;
    None without stages."""
    if not session.spec.stages:
        return None
    rows = stage_rows(trainee.model, layer_names(session), session.spec)
    for row in rows:
        row["epochs_run"] = [int(r["epoch"]) for r in history if r.get("stage") == row["name"]]
    return rows


def first_stage_trainable(model: Any, names: list[str], spec: TrainSpec) -> None:
    """``model`` as its first stage trains it (what ``dlcli inspect`` shows of a recipe)."""
    if spec.stages:
        set_trainable(model, names, spec.stages[0])


def inspect_stages(model: Any, recipe: Any, *, as_first_stage: bool) -> list[dict[str, Any]] | None:
    """``dlcli inspect``'s stages (None without): trainable parameters per stage. A recipe's
    model is shown as its first stage trains it (``as_first_stage``); a run's saved model
    keeps the flags its last stage trained with."""
    spec = recipe.train
    if not spec.stages:
        return None
    names = [layer.name for layer in recipe.model.layers]
    rows = stage_rows(model, names, spec)
    if as_first_stage:
        first_stage_trainable(model, names, spec)
    return rows
