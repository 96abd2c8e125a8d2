"""The search space: a YAML mapping of recipe paths (as ``--set`` writes them) to ranges.

```yaml
train.optimizer.learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}
model.layers[1].Conv2D.filters: {choice: [16, 32, 64]}
data.batch_size: {int: [16, 64], step: 16}
model.layers[8].Dropout.rate: {uniform: [0.1, 0.5], step: 0.1}
```

Kinds: ``uniform`` and ``log_uniform`` (floats), ``int`` (``step`` or ``log: true``),
``choice`` (any YAML values). Every mistake is a ``RecipeError`` naming the space file,
line and key. ``check_against_recipe`` loads the recipe with each edge value (both ends of
a range, every choice) so a key that is not a recipe path (did-you-mean from the recipe's
own validation) or a value the recipe refuses is reported before any training.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dlcli.errors import DlcliError, RecipeError
from dlcli.recipe.overrides import parse_path
from dlcli.recipe.yamlread import Positions, read_yaml_file

KINDS = ("uniform", "log_uniform", "int", "choice")
_OPTIONS = {"uniform": ("step",), "log_uniform": (), "int": ("step", "log"), "choice": ()}
Value = bool | int | float | str | list[Any] | dict[str, Any] | None


@dataclass(frozen=True)
class Param:
    """One searched recipe value."""

    key: str  # the recipe path, as --set writes it
    kind: str  # one of KINDS
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False
    choices: tuple[Value, ...] = ()
    line: int | None = None  # where the key sits in the space file

    def edges(self) -> list[Value]:
        """The values that bound what sampling can give: both ends, or every choice."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return [int(self.low), int(self.high)]
        return [self.low, self.high]

    def contains(self, value: Value) -> bool:
        """Whether sampling can give ``value`` (a range's ends included, steps respected)."""
        if self.kind == "choice":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and float(value) != int(value):
            return False
        if not self.low <= float(value) <= self.high:
            return False
        if self.step:
            steps = (float(value) - self.low) / self.step
            return abs(steps - round(steps)) < 1e-9
        return True

    def describe(self) -> str:
        if self.kind == "choice":
            return "choice of " + ", ".join(_yaml(c) for c in self.choices)
        extra = f" step {self.step:g}" if self.step else (" log" if self.log else "")
        return f"{self.kind} {self.low:g}..{self.high:g}{extra}"


@dataclass(frozen=True)
class Space:
    file: Path
    params: tuple[Param, ...]

    def overrides(self, values: dict[str, Value]) -> list[str]:
        """``--set`` texts giving ``values`` (key -> value) to a recipe."""
        return [override_text(key, value) for key, value in values.items()]

    def __iter__(self) -> Iterator[Param]:
        return iter(self.params)


def override_text(key: str, value: Value) -> str:
    return f"{key}={_yaml(value)}"


def _yaml(value: Value) -> str:
    """YAML flow text that reads back as ``value`` (``1.0e-05``, not ``1e-05``: a string)."""
    return (
        yaml.safe_dump(value, default_flow_style=True, width=10_000)
        .strip()
        .removesuffix("\n...")
        .strip()
    )


def read_space(path: Path) -> Space:
    """Read and check ``path``; every problem named with its file, line and key."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(
            "search space file not found", file=path, field="--space", hint="a YAML mapping"
        )
    tree, positions = read_yaml_file(path)
    if not isinstance(tree, dict) or not tree:
        raise RecipeError(
            "the search space must be a mapping of recipe paths to ranges",
            file=path,
            expected="e.g. train.optimizer.learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}",
            received=tree,
        )
    params = [_param(path, positions, str(key), spec) for key, spec in tree.items()]
    return Space(file=path, params=tuple(params))


def _line(positions: Positions, key: str) -> int | None:
    pos = positions.keys.get((key,)) or positions.values.get((key,))
    return pos[0] if pos else None


def _param(path: Path, positions: Positions, key: str, spec: Any) -> Param:
    line = _line(positions, key)

    def bad(message: str, **kw: Any) -> RecipeError:
        return RecipeError(message, file=path, line=line, field=key, **kw)

    try:
        parse_path(key, f"{path}")
    except RecipeError as exc:
        raise bad(exc.problem.message, expected=exc.problem.expected) from None
    if not isinstance(spec, dict) or not any(k in KINDS for k in spec):
        raise bad(
            "a search range needs one of " + ", ".join(KINDS),
            expected="e.g. {log_uniform: [1.0e-4, 1.0e-2]} or {choice: [16, 32]}",
            received=spec,
            hint=_suggest(spec),
        )
    kinds = [k for k in spec if k in KINDS]
    if len(kinds) > 1:
        raise bad("a search range has one kind", received=kinds)
    kind = kinds[0]
    for option in spec:
        if option != kind and option not in _OPTIONS[kind]:
            allowed = ", ".join(_OPTIONS[kind]) or "no options"
            raise bad(f"unknown option {option!r} for {kind}", expected=allowed)
    if kind == "choice":
        return _choice(spec[kind], line, key, bad)
    return _range(kind, spec, line, key, bad)


def _suggest(spec: Any) -> str | None:
    if not isinstance(spec, dict):
        return None
    for name in spec:
        close = difflib.get_close_matches(str(name), KINDS, n=1)
        if close:
            return f"did you mean {close[0]!r}?"
    return None


def _choice(values: Any, line: int | None, key: str, bad: Any) -> Param:
    if not isinstance(values, list) or not values:
        raise bad("empty choice: give at least one value", expected="[a, b, ...]", received=values)
    return Param(key=key, kind="choice", choices=tuple(values), line=line)


def _range(kind: str, spec: dict[str, Any], line: int | None, key: str, bad: Any) -> Param:
    bounds = spec[kind]
    numeric = (int,) if kind == "int" else (int, float)
    if (
        not isinstance(bounds, list)
        or len(bounds) != 2
        or not all(isinstance(b, numeric) and not isinstance(b, bool) for b in bounds)
    ):
        what = "integers" if kind == "int" else "numbers"
        raise bad(f"{kind} needs [low, high]", expected=f"two {what}", received=bounds)
    low, high = (float(b) for b in bounds)
    if not all(math.isfinite(b) for b in (low, high)):
        raise bad(f"{kind} bounds must be finite", received=bounds)
    if low >= high:
        raise bad(f"empty range: low {low:g} is not below high {high:g}", received=bounds)
    log = kind == "log_uniform" or bool(spec.get("log", False))
    if log and low <= 0:
        raise bad(
            f"a log range must be above 0; this one includes {low:g}",
            received=bounds,
            hint="use uniform for a range that includes 0",
        )
    step = spec.get("step")
    if step is not None:
        if log:
            raise bad("step and log exclude each other", received=spec)
        if not isinstance(step, numeric) or isinstance(step, bool) or step <= 0:
            raise bad("step must be a positive number", received=step)
        if step > high - low:
            raise bad(f"step {step:g} is wider than the range {low:g}..{high:g}", received=step)
    return Param(
        key=key,
        kind=kind,
        low=low,
        high=high,
        step=float(step) if step is not None else None,
        log=log,
        line=line,
    )


def recipe_values(space: Space, resolved_yaml: str) -> dict[str, Value] | None:
    """The recipe's own value at every key of the space, when each is one sampling can give.

    ``resolved_yaml`` is the recipe as saved in run folders (every layer in mapping form),
    so a path reads the same as ``--set`` writes it. None when a key is absent (a default
    the file does not spell out) or its value lies outside the space.
    """
    tree = yaml.safe_load(resolved_yaml)
    values: dict[str, Value] = {}
    for param in space:
        node: Any = tree
        for part in parse_path(param.key, str(space.file)):
            if isinstance(part, int):
                ok = isinstance(node, list) and part < len(node)
            else:
                ok = isinstance(node, dict) and part in node
            if not ok:
                return None
            node = node[part]
        if not param.contains(node):
            return None
        values[param.key] = int(node) if param.kind == "int" else node
    return values


def check_against_recipe(space: Space, recipe: Path, fixed: list[str]) -> None:
    """Load ``recipe`` with every edge value of each key in turn; refuse the first it rejects.

    One key at a time (the others as the recipe has them), so each message names the key
    and the value at fault.
    """
    from dlcli.recipe import load_recipe

    for param in space:
        for value in param.edges():
            try:
                load_recipe(recipe, overrides=[*fixed, override_text(param.key, value)])
            except DlcliError as exc:
                raise RecipeError(
                    f"the recipe refuses {param.key}={_yaml(value)} ({param.describe()}): "
                    + exc.problem.format(),
                    file=space.file,
                    line=param.line,
                    field=param.key,
                ) from None
