"""name/seed/data/train sections: defaults, paths, pydantic errors mapped to positions."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlcli.errors import RecipeError
from dlcli.recipe import load_recipe, load_recipe_text

MODEL = "model: {input: [4], layers: [Dense: 2]}\n"


def problems(text: str) -> list:
    with pytest.raises(RecipeError) as info:
        load_recipe_text(text, "s.yaml")
    return info.value.problems


def test_defaults_match_the_documented_ones() -> None:
    r = load_recipe_text("name: d\n" + MODEL)
    assert r.seed == 42 and r.data is None
    t = r.train
    assert (t.epochs, t.optimizer.name, t.optimizer.args, t.loss, t.metrics) == (
        10,
        "adam",
        {},
        "sparse_categorical_crossentropy",
        ["accuracy"],
    )
    assert t.early_stopping is None and t.lr_schedule is None
    assert (t.checkpoint.monitor, t.checkpoint.best, t.checkpoint.last) == ("val_loss", True, True)
    assert (t.device, t.mixed_precision, t.jit_compile, t.distribute) == ("auto",) * 4


def test_data_paths_resolve_against_the_recipe_folder(tmp_path: Path) -> None:
    folder = tmp_path / "recipes"
    folder.mkdir()
    path = folder / "r.yaml"
    path.write_text(
        "name: p\ndata:\n  train: ../data/train\n  validation: /abs/val\n"
        "  image_size: [8, 8]\n" + MODEL
    )
    data = load_recipe(path).data
    assert data.train == tmp_path / "data" / "train"
    assert data.train.is_absolute()
    assert data.validation == Path("/abs/val")
    assert (data.kind, data.color_mode, data.batch_size, data.cache) == (
        "images",
        "rgb",
        32,
        "auto",
    )


def test_train_forms() -> None:
    r = load_recipe_text(
        "name: t\n" + MODEL + "train:\n  optimizer: {name: AdamW, weight_decay: 0.01}\n"
        "  metrics: accuracy\n  early_stopping: {patience: 2}\n  lr_schedule: null\n"
    )
    assert (r.train.optimizer.name, r.train.optimizer.args) == ("adamw", {"weight_decay": 0.01})
    assert r.train.metrics == ["accuracy"]
    assert r.train.early_stopping.patience == 2 and r.train.early_stopping.monitor == "val_loss"


@pytest.mark.parametrize(
    ("section", "field", "message", "line_col"),
    [
        ("data:\n  train: x\n  shufle: false\n", "data.shufle", "did you mean 'shuffle'", (3, 3)),
        ("data:\n  image_size: [8, 8]\n", "data", "missing required key 'train'", (2, 3)),
        ("data:\n  train: x\n  image_size: 8\n", "data.image_size", "expected a list", (3, 15)),
        ("data:\n  train: x\n  cache: ram\n", "data.cache", "one of 'auto', 'memory'", (3, 10)),
        (
            "data:\n  train: x\n  cache_budget: lots\n",
            "data.cache_budget",
            "a size such as 6GB, 512MiB or a number of bytes, or a share",
            (3, 17),
        ),
        ("train:\n  epochs: 0\n", "train.epochs", "greater than or equal to 1", (2, 11)),
        (
            "train:\n  optimizer: {name: sgd, momentum: [1]}\n  jit_compile: fast\n",
            "train.jit_compile",
            "one of 'auto', 'on' or 'off'",
            (3, 16),
        ),
        (
            "train:\n  early_stopping: {patience: -1}\n",
            "train.early_stopping.patience",
            "greater than or equal to 0",
            (2, 30),
        ),
        (
            "train:\n  lr_schedule: {kind: cosin}\n",
            "train.lr_schedule.kind",
            "did you mean 'cosine'",
            (2, 23),
        ),
        ("train:\n  optimizer: adamm\n", "train.optimizer", "unknown optimizer 'adamm'", (2, 14)),
        ("seed: -3\n", "seed", "bad seed", (1, 7)),
        ("train: [1]\n", "train", "bad train section", (1, 8)),
    ],
)
def test_section_problems(section: str, field: str, message: str, line_col: tuple) -> None:
    found = problems(section + "name: t\n" + MODEL)
    match = [p for p in found if p.field == field and message in p.format()]
    assert match, [p.format() for p in found]
    assert (match[0].line, match[0].column) == line_col
    assert match[0].file == "s.yaml"


def test_missing_name_and_model() -> None:
    found = [p.format() for p in problems("seed: 1\n")]
    assert any("missing required key 'name'" in p for p in found)
    assert any("missing required key 'model'" in p for p in found)


def test_validation_source_exclusive_and_split_range() -> None:
    both = problems("data: {train: a, validation: b, validation_split: 0.1}\nname: t\n" + MODEL)
    assert [p.field for p in both] == ["data.validation_split"]
    assert "not both" in both[0].message
    for bad in ("0", "1", "1.5"):
        found = problems(f"data: {{train: a, validation_split: {bad}}}\nname: t\n" + MODEL)
        assert found[0].field == "data.validation_split"


@pytest.mark.parametrize(
    ("yaml_value", "expected"), [("on", "on"), ("off", "off"), ("yes", "on"), ("auto", "auto")]
)
def test_switch_words_that_yaml_reads_as_booleans(yaml_value: str, expected: str) -> None:
    text = f"name: x\nmodel: {{layers: [Dense: 2]}}\ntrain: {{jit_compile: {yaml_value}}}\n"
    assert load_recipe_text(text, "r.yaml").train.jit_compile == expected


def test_switch_override_from_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("name: x\nmodel: {layers: [Dense: 2]}\n")
    recipe = load_recipe(path, overrides=["train.jit_compile=on", "train.mixed_precision=off"])
    assert (recipe.train.jit_compile, recipe.train.mixed_precision) == ("on", "off")


@pytest.mark.parametrize(
    ("section", "field", "received"),
    [
        ("train:\n  epochs: true\n", "train.epochs", True),
        ("train:\n  epochs: '3'\n", "train.epochs", "3"),
        ("train:\n  seed: false\n", "train.seed", False),
        ("train:\n  early_stopping: {patience: true}\n", "train.early_stopping.patience", True),
        ("train:\n  early_stopping: {min_delta: true}\n", "train.early_stopping.min_delta", True),
        ("train:\n  checkpoint: {best: 1}\n", "train.checkpoint.best", 1),
        ("data:\n  train: d\n  batch_size: '8'\n", "data.batch_size", "8"),
        ("data:\n  train: d\n  image_size: [8, true]\n", "data.image_size[1]", True),
        ("data:\n  train: d\n  shuffle: 0\n", "data.shuffle", 0),
    ],
)
def test_numbers_and_switches_are_not_silently_coerced(
    section: str, field: str, received: object
) -> None:
    # `epochs: true` used to train for 1 epoch, `shuffle: 0` to turn shuffling off.
    found = problems("name: c\n" + MODEL + section)
    assert [p.field for p in found] == [field]
    assert found[0].has_received and found[0].received == received
    assert type(found[0].received) is type(received)


def test_floats_still_accept_integers() -> None:
    r = load_recipe_text(
        "name: f\n" + MODEL + "train:\n  early_stopping: {min_delta: 0}\n"
        "  lr_schedule: {kind: step, step_epochs: 2, decay_rate: 1, min_lr: 0}\n"
    )
    assert r.train.early_stopping.min_delta == 0.0
    assert (r.train.lr_schedule.step_epochs, r.train.lr_schedule.decay_rate) == (2.0, 1.0)
