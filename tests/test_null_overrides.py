"""``--set key=`` (null) on a required key names the override, not a line of the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlcli.cli import main
from dlcli.errors import RecipeError
from dlcli.recipe import load_recipe

RECIPE = """\
# a comment, so that line 4 is not the first line
seed: 1
model:
  input: [8, 8, 1]
  layers:
    - Conv2D: {filters: 4, kernel_size: 3}
    - Flatten
    - Dense: 2
name: nulls
"""


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE)
    return path


def _problems(recipe: Path, *overrides: str) -> list[str]:
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe, overrides=list(overrides))
    return [p.format() for p in info.value.problems]


def test_null_name_names_the_set(recipe: Path) -> None:
    (problem,) = _problems(recipe, "name=")
    assert "--set name=" in problem
    assert "cannot be null" in problem
    assert str(recipe) not in problem  # the file's lines hold no null name


def test_missing_name_in_the_file_still_points_at_the_file(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.replace("name: nulls\n", ""))
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}:") and "missing required key 'name'" in problem


def test_null_required_layer_argument_names_the_set(recipe: Path) -> None:
    (problem,) = _problems(recipe, "model.layers[0].Conv2D.filters=")
    assert "model.layers[0].Conv2D.filters" in problem
    assert "--set model.layers[0].Conv2D.filters=" in problem
    assert "cannot be null" in problem


def test_null_required_layer_argument_in_the_file_is_positioned(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.replace("filters: 4", "filters: null"))
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}:6:25: model.layers[0].Conv2D.filters: ")


def test_validate_no_build_reports_it(recipe: Path, capsys) -> None:
    assert main(["validate", "--no-build", str(recipe), "--set", "name="]) == 2
    err = capsys.readouterr().err
    assert "--set name=" in err and "missing required key" not in err
