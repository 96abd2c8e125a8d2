"""Numbers in the ``train`` section that are numbers, yet cannot train a model.

A learning rate of 0 learns nothing and a negative one climbs the loss (a run once reached
loss 8e9 and exited 0); a momentum or beta of 1 never forgets, a negative weight decay
grows the weights. These are refused when the recipe is validated, each at its position,
instead of being discovered after a wasted run. Only values given in the recipe are
checked: the optimizers' own defaults are sound.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dlcli.recipe.spec import TrainSpec
from dlcli.recipe.yamlread import KeyPath

ProblemSink = Callable[..., None]  # SectionChecker.problem(path, message, **details)


@dataclass(frozen=True)
class _Range:
    low: float
    low_open: bool  # True: low itself is refused
    high: float = math.inf
    high_open: bool = True
    why: str = ""

    def holds(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return math.isfinite(value) and above and below

    def text(self) -> str:
        low = f"{'>' if self.low_open else '>='} {self.low:g}"
        if math.isinf(self.high):
            return f"a number {low}"
        high = f"{'<' if self.high_open else '<='} {self.high:g}"
        return f"a number {low} and {high}"


_FRACTION = _Range(0.0, False, 1.0, True, "1 means the average never forgets a step")
OPTIMIZER_RANGES: dict[str, _Range] = {
    "learning_rate": _Range(
        0.0, True, why="0 learns nothing and a negative rate climbs the loss instead"
    ),
    "momentum": _FRACTION,
    "beta_1": _FRACTION,
    "beta_2": _FRACTION,
    "rho": _FRACTION,
    "epsilon": _Range(0.0, False, why="a negative epsilon can divide by zero"),
    "weight_decay": _Range(0.0, False, why="a negative decay grows the weights"),
    "clipnorm": _Range(0.0, True, why="gradients clipped to 0 or less stop training"),
    "clipvalue": _Range(0.0, True, why="gradients clipped to 0 or less stop training"),
    "global_clipnorm": _Range(0.0, True, why="gradients clipped to 0 or less stop training"),
}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def check_train_numbers(spec: TrainSpec, problem: ProblemSink) -> None:
    """Report every optimizer/schedule number that cannot train, at its recipe position."""
    opt_path: KeyPath = ("train", "optimizer")
    for name, allowed in OPTIMIZER_RANGES.items():
        value = _number(spec.optimizer.args.get(name))
        if value is not None and not allowed.holds(value):
            problem(
                (*opt_path, name),
                f"bad {name} for optimizer {spec.optimizer.name!r}",
                expected=allowed.text(),
                received=spec.optimizer.args[name],
                hint=allowed.why or None,
            )
    schedule = spec.lr_schedule
    if schedule is None:
        return
    where: KeyPath = ("train", "lr_schedule")
    # With train.stages each stage's schedule spans that stage, and is checked there.
    if schedule.warmup_epochs >= spec.epochs and not spec.stages:
        problem(
            (*where, "warmup_epochs"),
            f"the warm-up ({schedule.warmup_epochs:g} epochs) is not shorter than the run "
            f"(train.epochs is {spec.epochs})",
            expected=f"warmup_epochs below train.epochs ({spec.epochs})",
            received=schedule.warmup_epochs,
            hint="the rate would still be rising when training stops, and never decay",
        )
    base = _number(spec.optimizer.args.get("learning_rate"))
    if schedule.kind != "constant" and base is not None and base > 0 and schedule.min_lr >= base:
        problem(
            (*where, "min_lr"),
            f"min_lr is not below the learning rate ({base:g}): the {schedule.kind} "
            "schedule would never decay",
            expected=f"a number >= 0 and < {base:g}",
            received=schedule.min_lr,
        )
