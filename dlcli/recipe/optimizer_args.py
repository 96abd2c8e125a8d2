"""Optimizer arguments are checked against the optimizer's constructor, without TensorFlow.

``train.optimizer`` holds the optimizer's name and its constructor arguments side by side
(``train.optimizer.learning_rate``). An argument the optimizer does not take used to pass
``validate --no-build`` and fail only when the optimizer was created; the argument names
come from the catalog (generated from Keras, see :mod:`dlcli.recipe.gen_catalog`).
"""

from __future__ import annotations

from dlcli.errors import Problem
from dlcli.recipe import catalog
from dlcli.recipe.layers import did_you_mean
from dlcli.recipe.spec import TrainSpec
from dlcli.recipe.yamlread import KeyPath, Positions, format_path, make_problem


def check_optimizer_args(train: TrainSpec, positions: Positions, problems: list[Problem]) -> None:
    """One problem per argument the chosen optimizer does not accept."""
    known = catalog.optimizer_args(train.optimizer.name)
    if known is None:
        return  # an unknown optimizer name is reported by the train section
    for arg in train.optimizer.args:
        if arg in known:
            continue
        path: KeyPath = ("train", "optimizer", arg)
        hint = did_you_mean(arg, list(known)) or f"it takes: {', '.join(known)}"
        if arg == "args":
            hint = (
                "arguments go directly under train.optimizer, "
                "e.g. train.optimizer.learning_rate: 0.001"
            )
        message = f"optimizer {train.optimizer.name!r} takes no argument {arg!r}"
        below = _overrides_below(positions, path)
        if below:  # set by --set: name the override, not a line of the file
            hint += f"; set by {', '.join(below)}"
            problems.append(Problem(message=message, field=format_path(path), hint=hint))
        else:
            problems.append(make_problem(positions, path, message, key=True, hint=hint))


def _overrides_below(positions: Positions, path: KeyPath) -> list[str]:
    return list(
        dict.fromkeys(
            label for sub, label in positions.overridden.items() if sub[: len(path)] == path
        )
    )
