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
name pattern (``"dense*"``, fnmatch rules). ``{from: BACKBONE/LAYER}`` reaches inside a
``Backbone`` entry: the backbone's layers from LAYER (as Keras names them) on train, with
every model layer after the backbone; that name is checked when the model is built.

A stage without ``optimizer`` uses ``train.optimizer``; ``learning_rate`` replaces the
optimizer's rate; a stage without ``lr_schedule`` uses ``train.lr_schedule``, over the
stage's own epochs. The resolved stage holds all of these explicitly.

``train.epochs`` is how far the run goes: left out, the sum of the stages' epochs. A
smaller number stops the run inside the plan (the run says which stages it does not
reach; ``--resume --epochs N`` continues it); a larger one is an error: no stage would say
how to train the extra epochs.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from dlcli.errors import Problem
from dlcli.recipe.layers import did_you_mean
from dlcli.recipe.spec import LayerSpec, StageSpec, TrainableSpec
from dlcli.recipe.yamlread import KeyPath, Positions, make_problem

TRAINABLE_WORDS = ("all", "none")
TRAINABLE_KEYS = ("top", "from")
TRAINABLE_EXPECTED = "all, none, {top: N}, {from: layer_name} or a layer name pattern"


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
        elif spec.kind == "from" and from_layer(spec) not in names:
            problems.append(
                make_problem(
                    positions,
                    (*where, "from"),
                    f"stage {stage.name!r} trains from layer {from_layer(spec)!r}, which the "
                    "model does not have",
                    expected="a layer name of model.layers (after blocks are expanded)",
                    received=spec.value,
                    hint=did_you_mean(from_layer(spec), names) or f"layers: {', '.join(names)}",
                )
            )
        elif spec.kind == "from" and inner_layer(spec) is not None:
            kind = next(layer.type for layer in layers if layer.name == from_layer(spec))
            if kind != "Backbone":
                problems.append(
                    make_problem(
                        positions,
                        (*where, "from"),
                        f"stage {stage.name!r} trains from inside layer "
                        f"{from_layer(spec)!r}, a {kind}: only a Backbone has layers inside",
                        expected="LAYER or BACKBONE/LAYER_INSIDE_IT",
                        received=spec.value,
                    )
                )
        elif spec.kind == "pattern" and not trainable_names(spec, names):
            problems.append(
                make_problem(
                    positions,
                    where,
                    f"stage {stage.name!r}: no layer name matches the pattern {spec.value!r}",
                    expected=TRAINABLE_EXPECTED,
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
        first = from_layer(spec)
        return list(names[names.index(first) :]) if first in names else []
    return [n for n in names if fnmatch.fnmatchcase(n, str(spec.value))]


def from_layer(spec: TrainableSpec) -> str:
    """The model layer of ``from: LAYER`` or ``from: BACKBONE/LAYER_INSIDE_IT``."""
    return str(spec.value).split("/", 1)[0]


def inner_layer(spec: TrainableSpec) -> str | None:
    """The layer inside a backbone that ``from: BACKBONE/LAYER_INSIDE_IT`` starts at."""
    if spec.kind != "from" or "/" not in str(spec.value):
        return None
    return str(spec.value).split("/", 1)[1]


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
        "description": TRAINABLE_EXPECTED,
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
