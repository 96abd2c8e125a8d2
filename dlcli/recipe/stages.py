"""``train.stages``: staged fine-tuning, parsed and checked without TensorFlow.

A stage is a phase of the run with its own epochs, its own trainable layers and its own
optimizer (a fresh one: its moments start at zero) and learning-rate schedule::

    train:
      optimizer: {name: adam, learning_rate: 0.001}
      stages:
        - {name: head, epochs: 3, trainable: {top: 2}}
        - {name: finetune, epochs: 5, trainable: all, learning_rate: 0.0001}

``trainable`` is ``all``, ``none``, ``{top: N}`` (the last N layers of ``model.layers``,
after blocks are expanded), ``{from: layer_name}`` (that layer and every one after it) or a
name pattern (``"dense*"``, fnmatch rules). A stage without ``optimizer`` uses
``train.optimizer``; ``learning_rate`` replaces the optimizer's rate; a stage without
``lr_schedule`` uses ``train.lr_schedule``, over the stage's own epochs. The resolved stage
holds all of these explicitly.

``train.epochs`` is how far the run goes: left out, the sum of the stages' epochs. A
smaller number stops the run inside the plan (the run says which stages it does not
reach; ``--resume --epochs N`` continues it); a larger one is an error: no stage would say
how to train the extra epochs.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from pydantic import ValidationError

from dlcli.errors import Problem
from dlcli.recipe import catalog
from dlcli.recipe.layers import did_you_mean
from dlcli.recipe.spec import LayerSpec, LRScheduleSpec, OptimizerSpec, StageSpec, TrainableSpec
from dlcli.recipe.yamlread import KeyPath, Positions, make_problem

STAGE_KEYS = ("name", "epochs", "trainable", "optimizer", "learning_rate", "lr_schedule")
TRAINABLE_WORDS = ("all", "none")
TRAINABLE_KEYS = ("top", "from")
_TRAINABLE_EXPECTED = "all, none, {top: N}, {from: layer_name} or a layer name pattern"


class StageParser:
    """Turns the raw ``train.stages`` list into resolved :class:`StageSpec` objects."""

    def __init__(self, positions: Positions, problems: list[Problem]) -> None:
        self.positions, self.problems = positions, problems

    def problem(self, path: KeyPath, message: str, **kw: Any) -> None:
        self.problems.append(make_problem(self.positions, path, message, **kw))

    def parse(
        self, raw: Any, optimizer: Any, lr_schedule: Any, epochs: Any
    ) -> list[StageSpec] | None:
        """Stages from the raw list; ``optimizer``/``lr_schedule`` are the train section's raw
        values (the defaults of each stage), ``epochs`` its raw ``epochs`` (None: left out)."""
        where: KeyPath = ("train", "stages")
        if not isinstance(raw, list) or not raw:
            self.problem(where, "bad stages", expected="a list of one or more stages", received=raw)
            return None
        before = len(self.problems)
        stages = [
            self._stage(item, i, optimizer, lr_schedule) for i, item in enumerate(raw, start=1)
        ]
        names = [s.name for s in stages if s is not None]
        for i, stage in enumerate(stages, start=1):
            if stage is not None and names.count(stage.name) > 1:
                self.problem((*where, i - 1, "name"), f"two stages are named {stage.name!r}")
                break
        if len(self.problems) > before:
            return None
        resolved = [s for s in stages if s is not None]
        total = sum(s.epochs for s in resolved)
        if isinstance(epochs, int) and not isinstance(epochs, bool) and epochs > total:
            self.problem(
                ("train", "epochs"),
                f"train.epochs ({epochs}) is more than the stages' epochs ({total})",
                expected=f"at most {total}, or leave train.epochs out (with stages: their sum)",
                received=epochs,
                hint="give the last stage more epochs, or add a stage",
            )
            return None
        return resolved

    def _stage(self, raw: Any, index: int, optimizer: Any, schedule: Any) -> StageSpec | None:
        where: KeyPath = ("train", "stages", index - 1)
        if not isinstance(raw, dict):
            self.problem(where, "bad stage", expected="a mapping with epochs and trainable")
            return None
        ok = True
        for key in raw:
            if key not in STAGE_KEYS:
                hint = (
                    did_you_mean(str(key), list(STAGE_KEYS)) or f"allowed: {', '.join(STAGE_KEYS)}"
                )
                self.problem((*where, key), f"unknown key {key!r}", key=True, hint=hint)
                ok = False
        for key in ("epochs", "trainable"):
            if key not in raw:
                self.problem(where, f"missing required key {key!r} in stage {index}")
                ok = False
        name = raw.get("name", f"stage_{index}")
        if not isinstance(name, str) or not name.strip():
            self.problem((*where, "name"), "bad stage name", expected="text", received=name)
            ok = False
        epochs = raw.get("epochs")
        if "epochs" in raw and (
            isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1
        ):
            self.problem(
                (*where, "epochs"), "bad epochs", expected="an integer >= 1", received=epochs
            )
            ok = False
        trainable = self._trainable(raw["trainable"], where) if "trainable" in raw else None
        opt = self._optimizer(raw, where, optimizer)
        sched = self._schedule(raw.get("lr_schedule", schedule), where, "lr_schedule" in raw)
        if not ok or trainable is None or opt is None or sched is False:
            return None
        return StageSpec(
            name=name,
            epochs=epochs,
            trainable=trainable,
            optimizer=opt,
            lr_schedule=sched if isinstance(sched, LRScheduleSpec) else None,
        )

    def _trainable(self, raw: Any, where: KeyPath) -> TrainableSpec | None:
        path = (*where, "trainable")
        if isinstance(raw, str) and raw.strip():
            kind = raw if raw in TRAINABLE_WORDS else "pattern"
            return TrainableSpec(kind=kind, value=None if kind != "pattern" else raw)
        if isinstance(raw, dict) and len(raw) == 1:
            key, value = next(iter(raw.items()))
            if key == "top":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    self.problem(
                        (*path, "top"), "bad top", expected="a layer count >= 1", received=value
                    )
                    return None
                return TrainableSpec(kind="top", value=value)
            if key == "from":
                if not isinstance(value, str) or not value.strip():
                    self.problem(
                        (*path, "from"), "bad from", expected="a layer name", received=value
                    )
                    return None
                return TrainableSpec(kind="from", value=value)
            hint = did_you_mean(str(key), list(TRAINABLE_KEYS))
            self.problem(
                (*path, key),
                f"unknown key {key!r}",
                key=True,
                expected=_TRAINABLE_EXPECTED,
                hint=hint,
            )
            return None
        self.problem(path, "bad trainable", expected=_TRAINABLE_EXPECTED, received=raw)
        return None

    def _optimizer(self, raw: dict[str, Any], where: KeyPath, default: Any) -> OptimizerSpec | None:
        from dlcli.recipe.sections import OPTIMIZERS

        given = raw.get("optimizer", default)
        path = (*where, "optimizer") if "optimizer" in raw else ("train", "optimizer")
        if given is None:
            given = "adam"
        if isinstance(given, str):
            given = {"name": given}
        if not isinstance(given, dict):
            self.problem(path, "bad optimizer", expected="a name or a mapping", received=given)
            return None
        args = dict(given)
        name = args.pop("name", "adam")
        if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
            if "optimizer" in raw:  # the train section reports its own optimizer
                hint = did_you_mean(str(name).lower(), list(OPTIMIZERS))
                self.problem(
                    path, f"unknown optimizer {name!r}", expected=", ".join(OPTIMIZERS), hint=hint
                )
            return None
        if "learning_rate" in raw:
            args["learning_rate"] = raw["learning_rate"]
        spec = OptimizerSpec(name=name.lower(), args=args)
        if "optimizer" in raw or "learning_rate" in raw:
            self._check_args(spec, where, raw)
        return spec

    def _check_args(self, spec: OptimizerSpec, where: KeyPath, raw: dict[str, Any]) -> None:
        from dlcli.recipe.train_checks import OPTIMIZER_RANGES

        known = catalog.optimizer_args(spec.name)
        for arg, value in spec.args.items():
            at = (
                (*where, "learning_rate")
                if arg == "learning_rate" and "learning_rate" in raw
                else (*where, "optimizer", arg)
            )
            if known is not None and arg not in known:
                hint = did_you_mean(arg, list(known)) or f"it takes: {', '.join(known)}"
                self.problem(
                    at, f"optimizer {spec.name!r} takes no argument {arg!r}", key=True, hint=hint
                )
                continue
            allowed = OPTIMIZER_RANGES.get(arg)
            number = (
                None
                if isinstance(value, bool) or not isinstance(value, int | float)
                else float(value)
            )
            if allowed is not None and number is not None and not allowed.holds(number):
                self.problem(
                    at,
                    f"bad {arg} for optimizer {spec.name!r}",
                    expected=allowed.text(),
                    received=value,
                    hint=allowed.why or None,
                )

    def _schedule(self, raw: Any, where: KeyPath, own: bool) -> LRScheduleSpec | bool | None:
        """The stage's schedule, None for none, False when it is bad (reported)."""
        if raw is None or isinstance(raw, LRScheduleSpec):
            return raw
        path = (*where, "lr_schedule") if own else ("train", "lr_schedule")
        try:
            return LRScheduleSpec.model_validate(raw)
        except ValidationError as exc:
            if own:  # a bad train.lr_schedule is reported by the train section
                for err in exc.errors():
                    loc = tuple(err["loc"])
                    self.problem(
                        (*path, *loc), "bad value", expected=err["msg"], received=err.get("input")
                    )
            return False


def check_stage_epochs(
    stage: StageSpec, index: int, problems: list[Problem], positions: Positions
) -> None:
    """A warm-up must be shorter than the stage it belongs to (reported at the stage's
    ``lr_schedule``, or at ``train.lr_schedule`` when the stage takes that one)."""
    schedule = stage.lr_schedule
    if schedule is not None and schedule.warmup_epochs >= stage.epochs:
        own: KeyPath = ("train", "stages", index, "lr_schedule")
        inherited: KeyPath = ("train", "lr_schedule", "warmup_epochs")
        problems.append(
            make_problem(
                positions,
                own if own in positions.values else inherited,
                f"the warm-up ({schedule.warmup_epochs:g} epochs) is not shorter than stage "
                f"{stage.name!r} ({stage.epochs} epochs)",
                expected=f"warmup_epochs below {stage.epochs}",
                received=schedule.warmup_epochs,
            )
        )


def check_stage_layers(
    stages: list[StageSpec] | None,
    layers: list[LayerSpec],
    positions: Positions,
    problems: list[Problem],
) -> None:
    """Each stage's ``trainable`` against the model's layer names (blocks expanded)."""
    names = [layer.name for layer in layers]
    for index, stage in enumerate(stages or []):
        check_stage_epochs(stage, index, problems, positions)
        where: KeyPath = ("train", "stages", index, "trainable")
        spec = stage.trainable
        if spec.kind == "top" and isinstance(spec.value, int) and spec.value > len(names):
            problems.append(
                make_problem(
                    positions,
                    (*where, "top"),
                    f"stage {stage.name!r} trains the top {spec.value} layers but the model "
                    f"has {len(names)}",
                    expected=f"a count from 1 to {len(names)} (or trainable: all)",
                    received=spec.value,
                )
            )
        elif spec.kind == "from" and spec.value not in names:
            problems.append(
                make_problem(
                    positions,
                    (*where, "from"),
                    f"stage {stage.name!r} trains from layer {spec.value!r}, which the model "
                    "does not have",
                    expected="a layer name of model.layers (after blocks are expanded)",
                    received=spec.value,
                    hint=did_you_mean(str(spec.value), names) or f"layers: {', '.join(names)}",
                )
            )
        elif spec.kind == "pattern" and not trainable_names(spec, names):
            problems.append(
                make_problem(
                    positions,
                    where,
                    f"stage {stage.name!r}: no layer name matches the pattern {spec.value!r}",
                    expected=_TRAINABLE_EXPECTED,
                    received=spec.value,
                    hint=did_you_mean(str(spec.value), names) or f"layers: {', '.join(names)}",
                )
            )


def trainable_names(spec: TrainableSpec, names: list[str]) -> list[str]:
    """The names (of ``names``, in model order) a stage trains."""
    if spec.kind == "all":
        return list(names)
    if spec.kind == "none":
        return []
    if spec.kind == "top":
        count = int(spec.value or 0)
        return list(names[len(names) - count :]) if count else []
    if spec.kind == "from":
        return list(names[names.index(str(spec.value)) :]) if spec.value in names else []
    return [n for n in names if fnmatch.fnmatchcase(n, str(spec.value))]


def describe_trainable(spec: TrainableSpec) -> str:
    """``all``, ``none``, ``top 2``, ``from conv_3``, ``pattern dense*``."""
    if spec.kind in TRAINABLE_WORDS:
        return spec.kind
    return f"{spec.kind} {spec.value}"


def stage_to_dict(stage: StageSpec) -> dict[str, Any]:
    """A resolved stage as recipe YAML (reads back to an equal stage)."""
    spec = stage.trainable
    trainable: Any = spec.kind if spec.kind in TRAINABLE_WORDS else spec.value
    if spec.kind in TRAINABLE_KEYS:
        trainable = {spec.kind: spec.value}
    out: dict[str, Any] = {
        "name": stage.name,
        "epochs": stage.epochs,
        "trainable": trainable,
        "optimizer": {"name": stage.optimizer.name, **stage.optimizer.args},
    }
    out["lr_schedule"] = stage.lr_schedule.model_dump() if stage.lr_schedule else None
    return out


def stages_json_schema(optimizer: dict[str, Any], lr_schedule: dict[str, Any]) -> dict[str, Any]:
    """``train.stages`` as a person writes it (``optimizer``/``lr_schedule``: the train
    section's own schemas, which a stage's keys take too)."""
    trainable = {
        "anyOf": [
            {"type": "string", "description": "all, none, or a layer name pattern (dense*)"},
            {
                "type": "object",
                "properties": {"top": {"type": "integer", "minimum": 1}},
                "required": ["top"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"from": {"type": "string"}},
                "required": ["from"],
                "additionalProperties": False,
            },
        ],
        "description": _TRAINABLE_EXPECTED,
    }
    stage = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "epochs": {"type": "integer", "minimum": 1},
            "trainable": trainable,
            "optimizer": optimizer,
            "learning_rate": {"type": "number", "exclusiveMinimum": 0},
            "lr_schedule": lr_schedule,
        },
        "required": ["epochs", "trainable"],
        "additionalProperties": False,
    }
    return {
        "type": "array",
        "items": stage,
        "minItems": 1,
        "description": "phases of training; train.epochs is the sum of their epochs",
    }


def describe_stages(stages: list[StageSpec]) -> str:
    """One line for ``dlcli validate``: ``head (epochs 1-3: top 1, adam lr 0.001), ...``."""
    parts, first = [], 1
    for stage in stages:
        last = first + stage.epochs - 1
        span = f"epoch {first}" if first == last else f"epochs {first}-{last}"
        lr = stage.optimizer.args.get("learning_rate")
        how = stage.optimizer.name + (f" lr {lr:g}" if isinstance(lr, int | float) else "")
        parts.append(f"{stage.name} ({span}: {describe_trainable(stage.trainable)}, {how})")
        first = last + 1
    return ", ".join(parts)
