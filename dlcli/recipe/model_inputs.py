"""``model.inputs``: a model's named inputs, each fed by columns of the data.

    model:
      inputs:
        image: {columns: [filename]}
        tabular: {columns: [age, city]}   # or the short form  tabular: [age, city]

Layers name an input in their ``inputs:`` like an earlier layer; a first layer that names
none takes the first input. ``shape`` and ``dtype`` are optional (the data kind knows
them; ``dtype`` is filled in from it when the recipe is loaded). No TensorFlow here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from dlcli.errors import DlcliError, Problem
from dlcli.recipe.graph import parse_input
from dlcli.recipe.spec import DataSection, ModelInput
from dlcli.recipe.yamlread import KeyPath, Positions, make_problem

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
KEYS = ("columns", "shape", "dtype")


def parse_inputs(
    raw_model: Any, positions: Positions, problems: list[Problem]
) -> dict[str, ModelInput] | None:
    """``model.inputs`` checked, or None when the recipe has none (or it has problems)."""
    raw = raw_model.get("inputs") if isinstance(raw_model, dict) else None
    if raw is None:
        return None
    path: KeyPath = ("model", "inputs")

    def problem(where: KeyPath, message: str, **kw: Any) -> None:
        problems.append(make_problem(positions, where, message, **kw))

    if not isinstance(raw, dict) or not raw:
        problem(
            path, "bad inputs", expected="a mapping of input names to their columns", received=raw
        )
        return None
    for other in ("input", "input_dtype"):
        if raw_model.get(other) is not None:
            problem(
                ("model", other),
                f"give model.inputs or model.{other}, not both",
                key=True,
                hint="each named input has its own shape and dtype",
            )
    found: dict[str, ModelInput] = {}
    for name, value in raw.items():
        where = (*path, name)
        if not isinstance(name, str) or not NAME.match(name):
            problem(
                where,
                "bad input name",
                key=True,
                expected="a name of letters, digits and _ (not starting with a digit)",
                received=name,
            )
            continue
        spec = _one(value, where, positions, problems)
        if spec is not None:
            found[name] = spec
    return found if len(found) == len(raw) else None


def _one(
    value: Any, where: KeyPath, positions: Positions, problems: list[Problem]
) -> ModelInput | None:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        value = {"columns": value}
    if not isinstance(value, dict):
        problems.append(
            make_problem(
                positions,
                where,
                "bad input",
                expected="{columns: [...]} or a list of columns",
                received=value,
            )
        )
        return None
    values = dict(value)
    for key in values:
        if key not in KEYS:
            problems.append(
                make_problem(
                    positions,
                    (*where, key),
                    f"unknown key {key!r}",
                    key=True,
                    hint=f"allowed: {', '.join(KEYS)}",
                )
            )
            return None
    if isinstance(values.get("columns"), str):
        values["columns"] = [values["columns"]]
    if "shape" in values:
        values["shape"] = parse_input(values["shape"], (*where, "shape"), problems, positions)
    try:
        return ModelInput.model_validate(values)
    except ValidationError as exc:
        for err in exc.errors():
            loc = (*where, *err["loc"][:1]) if err["loc"] else where
            problems.append(
                make_problem(
                    positions,
                    loc,
                    "bad value",
                    expected=err["msg"].removeprefix("Input should be "),
                    received=err.get("input"),
                )
            )
        return None


def with_kind_dtypes(
    inputs: dict[str, ModelInput] | None,
    data: DataSection | None,
    positions: Positions,
    problems: list[Problem],
) -> dict[str, ModelInput] | None:
    """Each input's dtype, when the recipe leaves it out, from the data kind."""
    if not inputs or data is None:
        return inputs
    from dlcli.data.kinds import get_kind

    try:
        dtypes = get_kind(data.kind).input_dtypes(data, _columns(inputs))
    except DlcliError as exc:
        problems.append(
            make_problem(
                positions,
                ("model", "inputs"),
                exc.problem.message,
                expected=exc.problem.expected,
                hint=exc.problem.hint,
            )
        )
        return inputs
    return {
        name: spec
        if spec.dtype is not None or name not in dtypes
        else spec.model_copy(update={"dtype": dtypes[name]})
        for name, spec in inputs.items()
    }


def _columns(inputs: Mapping[str, ModelInput]) -> dict[str, list[str]]:
    return {name: list(spec.columns) for name, spec in inputs.items()}


def model_columns(model: Any) -> dict[str, list[str]] | None:
    """A model spec's ``inputs`` as input name -> the data columns feeding it (None: the
    model has one input)."""
    return _columns(model.inputs) if model.inputs else None
