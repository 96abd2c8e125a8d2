"""``train.stages`` in the recipe (no TensorFlow): what each stage resolves to, the epochs
rule, and every bad stage refused at validate time with its position (exit 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dlcli.errors import RecipeError
from dlcli.recipe import load_recipe_text, recipe_json_schema
from dlcli.recipe.stages import trainable_names

HEAD = """name: t
model:
  input: [4]
  blocks:
    pair: [Dense: {units: 3, name: a}, Dense: {units: 3, name: b}]
  layers:
    - pair: {name: body}
    - Dense: {units: 2, name: out}
train:
  optimizer: {name: adam, learning_rate: 0.01}
"""
NAMES = ["body_a", "body_b", "out"]  # block names as expanded (docs/recipes.md)


def load(stages: str, extra: str = "") -> object:
    return load_recipe_text(HEAD + extra + "  stages:\n" + stages, "r.yaml")


def problems(stages: str, extra: str = "") -> list:
    with pytest.raises(RecipeError) as info:
        load(stages, extra)
    return info.value.problems


def test_stages_resolve_with_inherited_optimizer_and_epochs_sum() -> None:
    recipe = load(
        "    - {name: head, epochs: 2, trainable: {top: 1}}\n"
        "    - {epochs: 3, trainable: {from: body_b}, learning_rate: 0.001,"
        " lr_schedule: {kind: cosine}}\n"
        "    - {epochs: 1, trainable: 'body_*', optimizer: sgd}\n",
        "  lr_schedule: {kind: step}\n",
    )
    assert [layer.name for layer in recipe.model.layers] == NAMES
    head, second, third = recipe.train.stages
    assert recipe.train.epochs == 6
    assert (head.name, second.name, third.name) == ("head", "stage_2", "stage_3")
    assert head.optimizer.args == {"learning_rate": 0.01}  # train.optimizer
    assert head.lr_schedule.kind == "step"  # train.lr_schedule
    assert second.optimizer.args == {"learning_rate": 0.001}
    assert second.lr_schedule.kind == "cosine"
    assert third.optimizer.name == "sgd" and third.optimizer.args == {}
    assert trainable_names(head.trainable, NAMES) == ["out"]
    assert trainable_names(second.trainable, NAMES) == ["body_b", "out"]
    assert trainable_names(third.trainable, NAMES) == ["body_a", "body_b"]
    again = load_recipe_text(recipe.to_yaml(), "again.yaml")
    assert again.train == recipe.train


@pytest.mark.parametrize(
    ("stage", "field", "line", "at", "words"),
    [
        ("{epochs: 1, trainable: {top: 4}}", "train.stages[0].trainable.top", 12, "4}",
         "the top 4 layers but the model has 3"),
        ("{epochs: 1, trainable: {from: body_c}}", "train.stages[0].trainable.from", 12, "body_c",
         "did you mean 'body_b'"),
        ("{epochs: 1, trainable: 'head*'}", "train.stages[0].trainable", 12, "'head",
         "no layer name matches the pattern 'head*'"),
        ("{epochs: 1, trainable: {bottom: 1}}", "train.stages[0].trainable.bottom", 12, "bottom",
         "{top: N}, {from: layer_name}"),
        ("{epochs: 1, trainable: {from: out/block_1}}", "train.stages[0].trainable.from", 12,
         "out/", "'out', a Dense: only a Backbone has layers inside"),
        ("{epochs: 0, trainable: all}", "train.stages[0].epochs", 12, "0,", "an integer >= 1"),
        ("{epochs: 1}", "train.stages[0]", 12, "{", "missing required key 'trainable'"),
        ("{epochs: 1, trainable: all, learning_rate: 0}", "train.stages[0].learning_rate",
         12, "0}", "a number > 0"),
        ("{epochs: 1, trainable: all, optimizer: adamm}", "train.stages[0].optimizer", 12, "adamm",
         "did you mean 'adam'"),
        ("{epochs: 1, trainable: all, epoch: 2}", "train.stages[0].epoch", 12, "epoch:",
         "did you mean 'epochs'"),
        ("{epochs: 2, trainable: all, lr_schedule: {warmup_epochs: 2}}",
         "train.stages[0].lr_schedule", 12, "{warmup", "not shorter than stage"),
    ],
)  # fmt: skip
def test_bad_stage_refused_at_its_position(
    stage: str, field: str, line: int, at: str, words: str
) -> None:
    text = f"    - {stage}"
    [problem] = problems(text + "\n")
    assert problem.field == field
    assert (problem.file, problem.line, problem.column) == ("r.yaml", line, text.index(at) + 1)
    assert words in problem.format()


def test_train_epochs_at_most_the_sum_of_the_stages() -> None:
    [problem] = problems("    - {epochs: 2, trainable: all}\n", "  epochs: 5\n")
    assert problem.field == "train.epochs" and problem.line == 11
    assert "more than the stages' epochs (2)" in problem.format()
    assert load("    - {epochs: 2, trainable: all}\n", "  epochs: 2\n").train.epochs == 2
    assert load("    - {epochs: 2, trainable: all}\n", "  epochs: 1\n").train.epochs == 1


def test_schema_takes_stages_as_written() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = recipe_json_schema()
    doc = yaml.safe_load(HEAD + "  stages:\n    - {epochs: 1, trainable: {top: 2}}\n")
    jsonschema.validate(doc, schema)
    doc["train"]["stages"][0]["trainable"] = {"top": 0}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def test_validate_command_exits_2_with_the_position(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(HEAD + "  stages:\n    - {epochs: 1, trainable: {top: 9}}\n")
    done = subprocess.run(
        [sys.executable, "-m", "dlcli", "validate", str(path), "--no-build"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    column = "    - {epochs: 1, trainable: {top: 9}}".index("9") + 1
    assert f"{path}:12:{column}: train.stages[0].trainable.top:" in done.stderr
    assert "Traceback" not in done.stderr


def test_validate_command_lists_the_stages(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from dlcli.cli import main

    path = tmp_path / "r.yaml"
    path.write_text(
        HEAD + "  stages:\n    - {name: head, epochs: 2, trainable: {top: 1}}\n"
        "    - {name: tune, epochs: 1, trainable: all, learning_rate: 0.0001}\n"
    )
    assert main(["validate", str(path), "--no-build"]) == 0
    out = capsys.readouterr().out
    assert "  epochs  3\n" in out
    assert (
        "  stages  head (epochs 1-2: top 1, adam lr 0.01), tune (epoch 3: all, adam lr 0.0001)"
        in out
    )


def test_warm_up_is_checked_against_each_stage_not_the_run() -> None:
    # train.epochs 2 stops inside the plan: the schedule's 2-epoch warm-up belongs to the
    # 3-epoch stages, so it is fine (it was refused against train.epochs before).
    stages = "    - {epochs: 3, trainable: all}\n    - {epochs: 3, trainable: {top: 1}}\n"
    extra = "  epochs: 2\n  lr_schedule: {kind: cosine, warmup_epochs: 2}\n"
    assert load(stages, extra).train.epochs == 2
    short = "    - {epochs: 3, trainable: all}\n    - {epochs: 2, trainable: {top: 1}}\n"
    [problem] = problems(short, extra)
    assert problem.field == "train.lr_schedule.warmup_epochs" and problem.line == 12
    assert "not shorter than stage 'stage_2' (2 epochs)" in problem.format()
