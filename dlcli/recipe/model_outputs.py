"""``model.outputs``: a model's named outputs, each a layer of the graph with its own target.

    model:
      outputs:
        species: {layer: cls_head, label: species}             # target class (the default)
        weight_kg:
          layer: reg_head
          label: weight
          target: {type: regression, standardize: true}
          loss: {name: huber, delta: 1.0}
          loss_weight: 0.5
          metrics: [mae]

``layer`` and ``label`` default to the output's name; ``target`` to ``class``; ``loss`` and
``metrics`` to the target's own; ``loss_weight`` to 1. The loader checks every output
against its layer (it must exist; its activation and units must suit the target and loss)
and hands the data kind the outputs as ``data.target`` (:class:`OutputsSpec`), so every
label column is read and checked with the table. No TensorFlow here.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from dlcli.errors import Problem
from dlcli.recipe.model_inputs import NAME
from dlcli.recipe.spec import DataSection, LayerSpec
from dlcli.recipe.target_checks import at_layer, last_layer_output
from dlcli.recipe.yamlread import KeyPath, Positions, make_problem
from dlcli.targets import LossCheck, TargetSpec, label_columns
from dlcli.targets.outputs import OutputSpec, OutputsSpec

KEYS = ("layer", "label", "target", "loss", "loss_weight", "metrics")
PER_OUTPUT = ("loss", "metrics", "class_weight")  # train keys that each output sets itself


def parse_outputs(
    raw_model: Any, positions: Positions, problems: list[Problem]
) -> dict[str, OutputSpec] | None:
    """``model.outputs`` checked on their own, or None without them (or with problems)."""
    raw = raw_model.get("outputs") if isinstance(raw_model, dict) else None
    if raw is None:
        return None
    path: KeyPath = ("model", "outputs")
    if not isinstance(raw, dict) or not raw:
        problems.append(
            make_problem(
                positions,
                path,
                "bad outputs",
                expected="a mapping of output names to {layer, label, target, loss, ...}",
                received=raw,
            )
        )
        return None
    found: dict[str, OutputSpec] = {}
    for name, value in raw.items():
        where = (*path, name)
        if not isinstance(name, str) or not NAME.match(name):
            problems.append(
                make_problem(
                    positions,
                    where,
                    "bad output name",
                    key=True,
                    expected="a name of letters, digits and _ (not starting with a digit)",
                    received=name,
                )
            )
            continue
        spec = _one(name, value, where, positions, problems)
        if spec is not None:
            found[name] = spec
    return found if len(found) == len(raw) else None


def _one(
    name: str, value: Any, where: KeyPath, positions: Positions, problems: list[Problem]
) -> OutputSpec | None:
    def problem(at: KeyPath, message: str, **kw: Any) -> None:
        problems.append(make_problem(positions, at, message, **kw))

    if value is None:
        value = {}
    if not isinstance(value, dict):
        problem(
            where, "bad output", expected="{layer: ..., label: ..., target: ...}", received=value
        )
        return None
    values = dict(value)
    for key in values:
        if key not in KEYS:
            problem(
                (*where, key), f"unknown key {key!r}", key=True, hint=f"allowed: {', '.join(KEYS)}"
            )
            return None
    values.setdefault("layer", name)
    label = values.get("label", name)
    values["label"] = [label] if isinstance(label, str) else label
    values.setdefault("target", "class")
    loss = values.get("loss")
    if isinstance(loss, dict):
        args = dict(loss)
        loss_name = args.pop("name", None)
        if not isinstance(loss_name, str) or not loss_name:
            problem(
                (*where, "loss"),
                "a loss mapping needs its name",
                expected="loss: {name: huber, delta: 1.0}",
                received=loss,
            )
            return None
        values["loss"], values["loss_args"] = loss_name, args
    if isinstance(values.get("metrics"), str):
        values["metrics"] = [values["metrics"]]
    target_spec = _target(values.get("target", "class"), (*where, "target"), positions, problems)
    if target_spec is None:
        return None
    from dlcli.targets import target_of

    target = target_of(target_spec)
    values["target"] = target_spec
    values.setdefault("loss", target.default_loss)
    values.setdefault("metrics", list(target.default_metrics))
    try:
        return OutputSpec.model_validate(values)
    except ValidationError as exc:
        for err in exc.errors():
            loc = (*where, *err["loc"][:1]) if err["loc"] else where
            problem(
                loc,
                f"bad value of output {name!r}",
                expected=err["msg"].removeprefix("Input should be ").removeprefix("Value error, "),
                received=err.get("input"),
            )
        return None


def _target(
    raw: Any, where: KeyPath, positions: Positions, problems: list[Problem]
) -> TargetSpec | None:
    """An output's ``target``: a name, or a mapping with ``type`` and the target's options."""
    from dlcli.recipe.layers import did_you_mean
    from dlcli.targets import get_target, target_names

    values = {"type": raw} if isinstance(raw, str) else raw
    if not isinstance(values, dict):
        problems.append(
            make_problem(
                positions,
                where,
                "bad target",
                expected="a target name or {type: ...}",
                received=raw,
            )
        )
        return None
    kind, names = values.get("type"), target_names()
    if kind not in names:
        at = where if isinstance(raw, str) else (*where, "type")
        problems.append(
            make_problem(
                positions,
                at,
                f"unknown target type {kind!r}",
                expected=" or ".join(repr(n) for n in names),
                hint=did_you_mean(kind, names) if isinstance(kind, str) else None,
            )
        )
        return None
    spec_class = get_target(kind).spec
    try:
        return spec_class.model_validate(values)
    except ValidationError as exc:
        allowed = ", ".join(spec_class.model_fields)
        for err in exc.errors():
            key = err["loc"][0] if err["loc"] else None
            unknown = err["type"] == "extra_forbidden"
            problems.append(
                make_problem(
                    positions,
                    (*where, key) if key is not None else where,
                    f"unknown target option {key!r}" if unknown else "bad target option",
                    key=unknown,
                    expected=None if unknown else err["msg"].removeprefix("Input should be "),
                    received=... if unknown else err.get("input"),
                    hint=f"allowed: {allowed}" if unknown else None,
                )
            )
        return None


def check_outputs(
    outputs: dict[str, OutputSpec],
    raw: dict[str, Any],
    data: DataSection | None,
    layers: list[LayerSpec],
    positions: Positions,
    problems: list[Problem],
) -> DataSection | None:
    """Each output against its layer and the data section; returns the data section
    with ``label``/``target`` set from the outputs."""
    start = len(problems)

    def problem(at: KeyPath, message: str, **kw: Any) -> None:
        problems.append(make_problem(positions, at, message, **kw))

    raw_data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    raw_train = raw.get("train") if isinstance(raw.get("train"), dict) else {}
    if data is not None and "target" not in type(data).model_fields:
        problem(
            ("model", "outputs"),
            f"model.outputs read their labels from table columns, but data.kind is {data.kind}",
            key=True,
            hint="use data.kind: table (or csv) with a column per output's label",
        )
    for key in ("label", "target"):
        if key in raw_data:
            problem(
                ("data", key),
                f"data.{key} with model.outputs",
                key=True,
                hint=f"give each output its own {key} in model.outputs",
            )
    for key in PER_OUTPUT:
        if key in raw_train:
            problem(
                ("train", key),
                f"train.{key} with model.outputs",
                key=True,
                hint=f"set {key} on each output in model.outputs"
                if key != "class_weight"
                else "weigh examples with data.sample_weight: COLUMN instead",
            )
    by_name = {layer.name: layer for layer in layers}
    for name, spec in outputs.items():
        where = ("model", "outputs", name)
        _check_one(name, spec, by_name, where, raw, positions, problems, problem)
    if len(problems) > start or data is None:
        return data
    labels = [c for spec in outputs.values() for c in spec.label]
    repeated = sorted({c for c in labels if labels.count(c) > 1})
    if repeated:
        problem(("model", "outputs"), f"outputs share label column(s) {repeated}", key=True)
        return data
    return data.model_copy(update={"label": labels, "target": OutputsSpec(outputs=outputs)})


def _check_one(
    name: str,
    spec: OutputSpec,
    by_name: dict[str, LayerSpec],
    where: KeyPath,
    raw: dict[str, Any],
    positions: Positions,
    problems: list[Problem],
    problem: Any,
) -> None:
    from dlcli.recipe.layers import did_you_mean
    from dlcli.targets import target_of

    raw_out = raw["model"]["outputs"].get(name) or {}
    layer = by_name.get(spec.layer)
    if layer is None:
        at = (*where, "layer") if "layer" in raw_out else where
        problem(
            at,
            f"output {name!r} names layer {spec.layer!r}, which is not a layer of the model",
            key="layer" not in raw_out,
            expected=f"a layer name: {', '.join(list(by_name)[:12])}",
            hint=did_you_mean(spec.layer, list(by_name)),
        )
        return
    target = target_of(spec.target)
    label = spec.label[0] if len(spec.label) == 1 else spec.label
    why = target.label_problem(spec.target, label)
    if why is not None:
        at = (*where, "label") if "label" in raw_out else where
        problem(at, f"output {name!r}: {why}", key="label" not in raw_out, received=label)
    activation, units = last_layer_output(layer)
    check = LossCheck(
        loss=spec.loss,
        activation=activation,
        units=units,
        from_logits=bool(spec.loss_args.get("from_logits", False)),
    )
    found = target.loss_problem(check)
    if found is not None:
        place, message, fix = found
        # the target's words are for one target (data.target, the last layer)
        message = message.replace("data.target is", "its target is").replace(
            "a softmax last layer", f"a softmax layer ({layer.name})"
        )
        if place == "layer":
            problems.append(at_layer(layer, f"output {name!r}: {message}", fix))
        else:
            at = (*where, "loss") if "loss" in raw_out else (*where, "target")
            problem(at, f"output {name!r}: {message}", hint=fix)
    expected = target.column_count(spec.target, label)
    if expected is not None and units is not None and units != expected:
        problems.append(
            at_layer(
                layer,
                f"output {name!r}: layer {layer.name!r} has {units} unit(s) but the "
                f"{target.name} target has {expected} column(s) "
                f"({', '.join(label_columns(label))})",
                f"set units: {expected} on layer {layer.name!r}",
            )
        )


def outputs_to_dict(outputs: dict[str, OutputSpec]) -> dict[str, Any]:
    """``model.outputs`` as a recipe writes them (for the run's ``recipe.yaml``)."""
    out: dict[str, Any] = {}
    for name, spec in outputs.items():
        loss: Any = {"name": spec.loss, **spec.loss_args} if spec.loss_args else spec.loss
        out[name] = {
            "layer": spec.layer,
            "label": spec.label[0] if len(spec.label) == 1 else list(spec.label),
            "target": spec.target.model_dump(mode="json", exclude_none=True),
            "loss": loss,
            "loss_weight": spec.loss_weight,
            "metrics": list(spec.metrics),
        }
    return out


def model_layers(outputs: dict[str, OutputSpec] | None) -> dict[str, str] | None:
    """Output name -> layer name, in output-name order (the packing order)."""
    return {name: outputs[name].layer for name in sorted(outputs)} if outputs else None
