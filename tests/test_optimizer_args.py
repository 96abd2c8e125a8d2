"""Optimizer arguments are checked by ``validate --no-build``, as Keras would check them."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlcli.cli import main
from dlcli.errors import RecipeError
from dlcli.recipe import catalog, load_recipe, load_recipe_text

RECIPE = """\
name: o
model:
  input: [4]
  layers: [Dense: 2]
train:
  optimizer: {name: sgd, learnin_rate: 0.1, momentum: 0.9}
"""


def test_the_scaling_doc_mistake_is_caught_without_building(repo_root: Path, capsys) -> None:
    recipe = str(repo_root / "recipes" / "digits.yaml")
    bad = "train.optimizer.args.learning_rate=0.004"
    assert main(["validate", "--no-build", recipe, "--set", bad]) == 2
    err = capsys.readouterr().err
    assert "train.optimizer.args" in err and f"--set {bad}" in err
    assert "train.optimizer.learning_rate" in err  # the fix is in the hint
    good = "train.optimizer.learning_rate=0.004"
    assert main(["validate", "--no-build", recipe, "--set", good]) == 0


def test_a_misspelt_argument_is_positioned_with_a_suggestion() -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe_text(RECIPE, "o.yaml")
    (problem,) = [p.format() for p in info.value.problems]
    assert problem.startswith("o.yaml:6:26: train.optimizer.learnin_rate: ")
    assert "did you mean 'learning_rate'?" in problem


def test_keras_agrees_on_what_is_refused_and_accepted(tmp_path: Path) -> None:
    """Oracle: the Keras constructors themselves."""
    from dlcli.backend import keras

    with pytest.raises(ValueError):
        keras.optimizers.SGD(learnin_rate=0.1)
    with pytest.raises(ValueError):
        keras.optimizers.Adam(args={"learning_rate": 0.004})
    for name in ("sgd", "adam", "rmsprop", "adamw"):
        args = catalog.optimizer_args(name)
        assert args is not None and "learning_rate" in args and "name" not in args
        optimizer = keras.optimizers.get(name)
        assert set(args) <= set(optimizer.get_config()) | {"ema_overwrite_frequency"}
    path = tmp_path / "ok.yaml"
    path.write_text(RECIPE.replace("learnin_rate", "learning_rate"))
    assert load_recipe(path).train.optimizer.args == {"learning_rate": 0.1, "momentum": 0.9}
