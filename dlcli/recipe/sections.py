"""The ``name``/``seed``/``data``/``train`` sections, validated by the pydantic models of spec.py.

pydantic's errors are mapped back onto the user's keys (``train.optimizer.learning_rate``,
not ``optimizer.args.learning_rate``) and to file positions, one :class:`Problem` each.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from dlcli.errors import DlcliError, Problem
from dlcli.recipe.graph import parse_augment
from dlcli.recipe.layers import did_you_mean
from dlcli.recipe.spec import DataSection, TrainSpec
from dlcli.recipe.train_checks import check_train_numbers
from dlcli.recipe.yamlread import KeyPath, Positions, make_problem

TOP_KEYS = ("name", "seed", "data", "model", "train")
# keras.optimizers.get() names (lower-case class names), minus wrappers that need objects
OPTIMIZERS = (
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "ftrl",
    "lion",
    "muon",
    "nadam",
    "rmsprop",
    "schedulefreeadamw",
    "sgd",
)

_EXPECTED = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dict_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
    "path_type": "a path (text)",
}


class SectionChecker:
    def __init__(self, positions: Positions, problems: list[Problem], base_dir: Path) -> None:
        self.positions, self.problems, self.base_dir = positions, problems, base_dir

    def problem(self, path: KeyPath, message: str, **kw: Any) -> None:
        self.problems.append(make_problem(self.positions, path, message, **kw))

    def top_level(self, tree: dict[str, Any]) -> None:
        for key in tree:
            if key not in TOP_KEYS:
                hint = did_you_mean(key, list(TOP_KEYS)) or f"allowed: {', '.join(TOP_KEYS)}"
                self.problem((key,), f"unknown key {key!r}", key=True, hint=hint)
        if "model" not in tree:
            self.problem((), "missing required key 'model'", hint="add a model: section")

    def name(self, raw: Any) -> str | None:
        if raw is None:
            hint = "add e.g. `name: my_model`"
            if ("name",) in self.positions.overridden:  # `--set name=`: say so, not the file
                self.problem(("name",), "required key 'name' cannot be null", hint=hint)
            else:
                self.problem((), "missing required key 'name'", hint=hint)
            return None
        if not isinstance(raw, str) or not raw.strip() or any(c in raw for c in "/\\\0"):
            self.problem(("name",), "bad name", expected="text without '/'", received=raw)
            return None
        return raw

    def seed(self, raw: Any) -> int | None:
        if raw is None:
            return 42
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            self.problem(("seed",), "bad seed", expected="an integer >= 0", received=raw)
            return None
        return raw

    def data(self, raw: Any) -> DataSection | None:
        from dlcli.data.kinds import DEFAULT_KIND, get_kind, validate_data_section

        if raw is None:
            return None
        if not isinstance(raw, dict):
            self.problem(("data",), "bad data section", expected="a mapping", received=raw)
            return None
        values = dict(raw)
        before = len(self.problems)
        augment = parse_augment(values.pop("augment", None), self.positions, self.problems)
        if values.get("validation") is not None and values.get("validation_split") is not None:
            self.problem(
                ("data", "validation_split"),
                "give either 'validation' or 'validation_split', not both",
                key=True,
            )
            values.pop("validation_split")
        for key in ("train", "validation"):
            if isinstance(values.get(key), str):
                values[key] = self._path(values[key])
        values.setdefault("kind", DEFAULT_KIND)
        try:
            kind = get_kind(values["kind"])
        except DlcliError as exc:
            self.problem(
                ("data", "kind"),
                exc.problem.message,
                expected=exc.problem.expected,
                received=values["kind"],
                hint=exc.problem.hint,
            )
            return None
        values = kind.section_values(values)
        try:
            spec = validate_data_section(values)
        except ValidationError as exc:
            for err in exc.errors():
                # The union's errors start with the kind's tag: drop it, so the field path
                # is the user's (``data.batch_size``), as for any other section.
                self._map_error(kind.section, {**err, "loc": tuple(err["loc"])[1:]}, ("data",))
            return None
        if len(self.problems) > before:
            return None
        return spec.model_copy(update={"augment": augment})

    def _path(self, text: str) -> Path:
        path = Path(os.path.expanduser(text))
        if not path.is_absolute():
            path = self.base_dir / path
        return Path(os.path.normpath(path))

    def train(self, raw: Any) -> TrainSpec | None:
        if raw is None:
            return TrainSpec()
        if not isinstance(raw, dict):
            self.problem(("train",), "bad train section", expected="a mapping", received=raw)
            return None
        values = dict(raw)
        opt = values.get("optimizer")
        if isinstance(opt, str):
            opt = {"name": opt}
        if isinstance(opt, dict):
            opt = dict(opt)
            name = opt.pop("name", "adam")
            if isinstance(name, str) and name.lower() not in OPTIMIZERS:
                self.problem(
                    ("train", "optimizer", "name")
                    if "name" in values["optimizer"]
                    else ("train", "optimizer"),
                    f"unknown optimizer {name!r}",
                    expected=", ".join(OPTIMIZERS),
                    hint=did_you_mean(name.lower(), list(OPTIMIZERS)),
                )
                values.pop("optimizer")  # reported; still check the rest of the section
            else:
                values["optimizer"] = {
                    "name": name.lower() if isinstance(name, str) else name,
                    "args": opt,
                }
        if isinstance(values.get("metrics"), str):
            values["metrics"] = [values["metrics"]]
        self._loss(values)
        if isinstance(values.get("class_weight"), dict):
            values["class_weight"] = {str(k): v for k, v in values["class_weight"].items()}
        if values.get("stages") is not None:
            self._stages(raw, values)
        spec = self._validate(TrainSpec, values, ("train",))
        if spec is not None:
            check_train_numbers(spec, self.problem)
        return spec

    def _loss(self, values: dict[str, Any]) -> None:
        """``loss: NAME`` or ``loss: {name: NAME, <the loss's arguments>}``."""
        if "loss_args" in values:
            self.problem(
                ("train", "loss_args"),
                "unknown key 'loss_args'",
                key=True,
                hint="write loss arguments beside the name: loss: {name: ..., gamma: 2.0}",
            )
            values.pop("loss_args")
        loss = values.get("loss")
        if not isinstance(loss, dict):
            return
        args = dict(loss)
        name = args.pop("name", None)
        if not isinstance(name, str) or not name:
            self.problem(
                ("train", "loss"),
                "a loss mapping needs its name",
                expected="loss: {name: binary_focal_crossentropy, gamma: 2.0}",
                received=loss,
            )
            values.pop("loss")
            return
        values["loss"], values["loss_args"] = name, args

    def _stages(self, raw: dict[str, Any], values: dict[str, Any]) -> None:
        """``train.stages`` resolved in ``values``; ``epochs`` defaults to their sum."""
        from dlcli.recipe.stage_parser import StageParser

        parser = StageParser(self.positions, self.problems)
        stages = parser.parse(
            raw["stages"], raw.get("optimizer"), raw.get("lr_schedule"), raw.get("epochs")
        )
        if stages is None:
            values.pop("stages")
            values.pop("epochs", None)  # reported with the stages when it disagrees
            return
        values["stages"] = stages
        values.setdefault("epochs", sum(stage.epochs for stage in stages))

    def _validate(self, cls: type[BaseModel], values: dict[str, Any], prefix: KeyPath) -> Any:
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            for err in exc.errors():
                self._map_error(cls, err, prefix)
            return None

    def _map_error(self, cls: type[BaseModel], err: Any, prefix: KeyPath) -> None:
        loc = tuple(err["loc"])
        if prefix == ("train",) and loc[:2] == ("optimizer", "args"):
            loc = ("optimizer", *loc[2:])
        path = (*prefix, *loc)
        kind = err["type"]
        if kind == "extra_forbidden":
            allowed = _fields_at(cls, loc[:-1])
            hint = did_you_mean(str(loc[-1]), allowed) or f"allowed: {', '.join(allowed)}"
            self.problem(path, f"unknown key {loc[-1]!r}", key=True, hint=hint)
        elif kind == "missing":
            self.problem(path[:-1], f"missing required key {loc[-1]!r}")
        elif kind in ("literal_error", "enum"):
            expected = err.get("ctx", {}).get("expected", "")
            options = [o.strip(" '") for o in expected.replace(" or ", ",").split(",")]
            received = err.get("input")
            hint = did_you_mean(str(received), options) if isinstance(received, str) else None
            self.problem(
                path, "bad value", expected=f"one of {expected}", received=received, hint=hint
            )
        else:
            expected = _EXPECTED.get(kind) or err["msg"].removeprefix("Input should be ")
            if kind == "value_error":
                self.problem(path, err["msg"].removeprefix("Value error, "))
                return
            self.problem(path, "bad value", expected=expected, received=err.get("input"))


def _fields_at(cls: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the (nested) model that ``loc`` points into."""
    current: Any = cls
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = _model_in(field.annotation)
    names = list(getattr(current, "model_fields", {}))
    if current.__name__ == "OptimizerSpec":
        return ["name", "(optimizer arguments)"]
    return names


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return annotation
