"""``load_recipe``: the one place where defaults, the file, ``--set`` and flags are merged.

Order (later wins): **defaults < recipe file < ``--set key.path=value`` < named flags**.
Overrides edit the raw YAML tree (keeping track of which values they set, so errors can
name the override instead of a file line); then the merged tree is validated once and
every problem found is raised together in one :class:`RecipeError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dlcli.errors import Problem, RecipeError
from dlcli.recipe.graph import parse_input_dtype, parse_model
from dlcli.recipe.init_from import parse_init_from
from dlcli.recipe.model_inputs import parse_inputs, with_kind_dtypes
from dlcli.recipe.model_outputs import check_outputs, model_layers, parse_outputs
from dlcli.recipe.optimizer_args import check_optimizer_args
from dlcli.recipe.overrides import apply_value, parse_override, parse_path
from dlcli.recipe.sections import SectionChecker
from dlcli.recipe.spec import ModelSpec, Recipe
from dlcli.recipe.stages import check_stage_layers
from dlcli.recipe.target_checks import check_target, with_target_defaults
from dlcli.recipe.yamlread import Positions, read_yaml_file, read_yaml_text

MAX_PROBLEMS = 50  # enough to fix a recipe; a list of thousands helps nobody


def load_recipe(
    path: str | Path,
    overrides: Iterable[str] = (),
    flags: Mapping[str, Any] | None = None,
) -> Recipe:
    """Read, merge and validate a recipe file; raises RecipeError listing every problem."""
    path = Path(path)
    tree, positions = read_yaml_file(path)
    base_dir = path.resolve().parent if path.exists() else Path.cwd()
    return _resolve(tree, positions, base_dir, path.resolve(), overrides, flags)


def load_recipe_text(
    text: str,
    source_name: str = "<recipe>",
    overrides: Iterable[str] = (),
    flags: Mapping[str, Any] | None = None,
    *,
    base_dir: str | Path | None = None,
) -> Recipe:
    """Like :func:`load_recipe` for YAML text; data paths resolve against ``base_dir``."""
    tree, positions = read_yaml_text(text, source_name)
    base = Path(base_dir).resolve() if base_dir is not None else Path.cwd()
    return _resolve(tree, positions, base, None, overrides, flags)


def merge_tree(
    tree: Any,
    positions: Positions,
    overrides: Iterable[str] = (),
    flags: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Apply ``--set`` overrides, then flags, to the raw tree (in place where possible)."""
    if tree is None:
        raise RecipeError(
            "the recipe is empty",
            file=positions.file,
            line=1,
            column=1,
            hint="a recipe needs at least `name:` and `model:`",
        )
    if not isinstance(tree, dict):
        pos = positions.values.get(())
        raise RecipeError(
            "a recipe must be a mapping at the top level (name:, model:, ...)",
            file=positions.file,
            line=pos[0] if pos else None,
            column=pos[1] if pos else None,
            received=f"a {_kind(tree)}",
        )
    problems: list[Problem] = []
    for text in overrides:
        try:
            key_path, value = parse_override(text)
            apply_value(tree, key_path, value, f"--set {text}", positions)
        except RecipeError as exc:
            problems.extend(exc.problems)
    for key, value in (flags or {}).items():
        if value is None:
            continue
        label = f"option {key}={value!r}"
        try:
            apply_value(tree, parse_path(key, label), value, label, positions)
        except RecipeError as exc:
            problems.extend(exc.problems)
    if problems:
        raise RecipeError(problems=problems)
    return tree


def _resolve(
    tree: Any,
    positions: Positions,
    base_dir: Path,
    source: Path | None,
    overrides: Iterable[str],
    flags: Mapping[str, Any] | None,
) -> Recipe:
    tree = merge_tree(tree, positions, overrides, flags)
    problems: list[Problem] = []
    check = SectionChecker(positions, problems, base_dir)
    check.top_level(tree)
    name = check.name(tree.get("name"))
    seed = check.seed(tree.get("seed"))
    model = parse_model(tree["model"], positions, problems) if "model" in tree else None
    input_dtype = parse_input_dtype(tree.get("model"), positions, problems)
    model_inputs = parse_inputs(tree.get("model"), positions, problems)
    outputs = parse_outputs(tree.get("model"), positions, problems)
    init_from = parse_init_from(tree.get("model"), positions, problems, base_dir)
    data = check.data(tree.get("data"))
    model_inputs = with_kind_dtypes(model_inputs, data, positions, problems)
    train = check.train(tree.get("train"))
    if outputs is not None and model is not None:
        data = check_outputs(outputs, tree, data, model[1], positions, problems)
    if train is not None:
        check_optimizer_args(train, positions, problems)
        train = with_target_defaults(tree.get("train"), data, train)
        if model is not None:
            check_stage_layers(train.stages, model[1], positions, problems)
            check_target(data, model[1], train, positions, problems)
    if problems:
        raise RecipeError(problems=_ordered(problems))
    assert model is not None and name is not None and seed is not None and train is not None
    return Recipe(
        name=name,
        seed=seed,
        data=data,
        model=ModelSpec(
            input=model[0],
            inputs=model_inputs,
            outputs=model_layers(outputs),
            input_dtype=input_dtype or (None if model_inputs else _kind_dtype(data)),
            layers=model[1],
            init_from=init_from,
        ),
        train=train,
        source=source,
    )


def _kind_dtype(data: Any) -> str | None:
    """The model input dtype the data kind reads (raw strings for text), when it says one."""
    if data is None:
        return None
    from dlcli.data.kinds import kind_of

    return kind_of(data).input_dtype(data)


def _ordered(problems: list[Problem]) -> list[Problem]:
    """Drop repeats (a block used twice reports once) and sort by position in the file."""
    seen: set[str] = set()
    unique = []
    for problem in problems:
        if problem.format() not in seen:
            seen.add(problem.format())
            unique.append(problem)
    big = 10**9
    unique.sort(key=lambda p: (p.line is None, p.line or big, p.column or 0))
    if len(unique) > MAX_PROBLEMS:
        hidden = len(unique) - MAX_PROBLEMS
        unique = [*unique[:MAX_PROBLEMS], Problem(f"... and {hidden} more problems")]
    return unique


def _kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )
