"""Optimizer and schedule numbers that cannot train are refused at validation (issue 11).

A learning rate <= 0 used to train (exit 0) with nothing learned, or uphill to loss 8e9.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dlcli.errors import RecipeError
from dlcli.recipe import load_recipe, load_recipe_text

HEAD = "name: t\nmodel: {input: [4], layers: [Dense: 2]}\n"


def problems(text: str) -> list:
    with pytest.raises(RecipeError) as info:
        load_recipe_text(HEAD + text, "r.yaml")
    return info.value.problems


@pytest.mark.parametrize("value", ["0", "-0.01", "0.0", "-1e-3", ".inf", ".nan"])
def test_learning_rate_not_positive_is_refused_at_its_position(value: str) -> None:
    line = f"train:\n  optimizer: {{name: sgd, learning_rate: {value}}}\n"
    [problem] = problems(line)
    assert problem.field == "train.optimizer.learning_rate"
    assert (problem.file, problem.line) == ("r.yaml", 4)
    assert problem.column == line.splitlines()[1].index(value) + 1
    assert "a number > 0" in problem.format()


@pytest.mark.parametrize(
    ("optimizer", "key", "value"),
    [
        ("sgd", "momentum", "1.0"),
        ("sgd", "momentum", "-0.5"),
        ("adam", "beta_1", "1"),
        ("adam", "beta_2", "1.5"),
        ("sgd", "weight_decay", "-0.1"),
        ("sgd", "clipnorm", "0"),
        ("adam", "epsilon", "-1e-7"),
    ],
)
def test_other_optimizer_numbers_out_of_range(optimizer: str, key: str, value: str) -> None:
    [problem] = problems(f"train:\n  optimizer:\n    name: {optimizer}\n    {key}: {value}\n")
    assert problem.field == f"train.optimizer.{key}"
    assert (problem.line, problem.column) == (6, len(key) + 7)


def test_schedule_numbers() -> None:
    found = problems(
        "train:\n  epochs: 4\n  optimizer: {name: adam, learning_rate: 0.01}\n"
        "  lr_schedule: {kind: cosine, warmup_epochs: 4, min_lr: 0.01}\n"
    )
    by_field = {p.field: p for p in found}
    assert set(by_field) == {"train.lr_schedule.warmup_epochs", "train.lr_schedule.min_lr"}
    assert by_field["train.lr_schedule.warmup_epochs"].line == 6
    assert "not shorter than the run" in by_field["train.lr_schedule.warmup_epochs"].format()
    assert "never decay" in by_field["train.lr_schedule.min_lr"].format()
    [negative] = problems("train:\n  lr_schedule: {kind: cosine, min_lr: -0.001}\n")
    assert negative.field == "train.lr_schedule.min_lr" and negative.line == 4


def test_sound_numbers_still_validate() -> None:
    recipe = load_recipe_text(
        HEAD + "train:\n  epochs: 5\n  optimizer: {name: sgd, learning_rate: 0.1, momentum: 0.9}\n"
        "  lr_schedule: {kind: cosine, warmup_epochs: 1, min_lr: 0.001}\n",
        "ok.yaml",
    )
    assert recipe.train.optimizer.args == {"learning_rate": 0.1, "momentum": 0.9}


def test_override_and_train_command_refuse_before_training(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(HEAD + "train: {optimizer: {name: adam, learning_rate: 0.01}}\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path, overrides=["train.optimizer.learning_rate=-1"])
    assert "--set train.optimizer.learning_rate=-1" in info.value.problems[0].format()
    args = ["--set", "train.optimizer.learning_rate=0", "--out", str(tmp_path / "run")]
    proc = subprocess.run(
        [sys.executable, "-m", "dlcli", "train", str(path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2, proc.stderr
    assert "train.optimizer.learning_rate" in proc.stderr and "a number > 0" in proc.stderr
    assert not (tmp_path / "run").exists()
