"""--set overrides and named flags: one merge, in the order defaults < file < --set < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlcli.errors import RecipeError
from dlcli.recipe import load_recipe, parse_override

RECIPE = """\
name: base
model:
  input: [16]
  layers:
    - Dense: {units: 8, activation: relu}
    - Dropout: 0.25
    - Flatten
    - Dense: 2
train:
  epochs: 4
  optimizer: sgd
"""


@pytest.fixture
def recipe_file(tmp_path: Path) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE)
    return path


@pytest.mark.parametrize(
    ("text", "path", "value"),
    [
        ("train.epochs=3", ("train", "epochs"), 3),
        ("train.optimizer.learning_rate=1e-3", ("train", "optimizer", "learning_rate"), 0.001),
        ("model.layers[2].Dense.units=64", ("model", "layers", 2, "Dense", "units"), 64),
        ("train.devices=[/cpu:0,/cpu:1]", ("train", "devices"), ["/cpu:0", "/cpu:1"]),
        ("name=a=b", ("name",), "a=b"),
        ("train.seed=", ("train", "seed"), None),
        ("data.shuffle=false", ("data", "shuffle"), False),
        ("data.label='007'", ("data", "label"), "007"),
    ],
)
def test_parse_override(text: str, path: tuple, value: object) -> None:
    assert parse_override(text) == (path, value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train.epochs", "bad override 'train.epochs'"),
        ("=3", "bad override"),
        ("train..epochs=3", "bad key path"),
        ("train.epochs.=3", "bad key path"),
        ("model.layers[x]=3", "bad key path"),
        ("train.epochs=&a 3", "anchors"),
        ("train.epochs=[1,", "bad value"),
    ],
)
def test_bad_override_text(text: str, message: str) -> None:
    with pytest.raises(RecipeError, match=message.replace("[", r"\[")):
        parse_override(text)


def test_file_values_defaults_and_overrides_merge(recipe_file: Path) -> None:
    plain = load_recipe(recipe_file)
    assert (plain.train.epochs, plain.train.loss, plain.seed) == (
        4,
        "sparse_categorical_crossentropy",
        42,
    )
    r = load_recipe(
        recipe_file,
        overrides=[
            "train.epochs=7",
            "train.optimizer.learning_rate=0.5",
            "model.layers[1].Dropout.rate=0.5",
            "model.layers[2].Flatten.data_format=channels_last",
            "seed=1",
        ],
    )
    assert r.train.epochs == 7
    assert (r.train.optimizer.name, r.train.optimizer.args) == ("sgd", {"learning_rate": 0.5})
    assert r.model.layers[1].args == {"rate": 0.5}
    assert r.model.layers[2].args == {"data_format": "channels_last"}
    assert r.seed == 1


def test_flags_win_over_set_and_none_is_ignored(recipe_file: Path) -> None:
    r = load_recipe(
        recipe_file,
        overrides=["train.epochs=7"],
        flags={"train.epochs": 2, "train.device": None, "train.jit_compile": "off"},
    )
    assert r.train.epochs == 2
    assert r.train.device == "auto"
    assert r.train.jit_compile == "off"


def test_later_set_wins(recipe_file: Path) -> None:
    assert load_recipe(recipe_file, ["train.epochs=7", "train.epochs=9"]).train.epochs == 9


def test_set_creates_sections(recipe_file: Path) -> None:
    r = load_recipe(recipe_file, ["data.train=imgs", "data.image_size=[8, 8]"])
    assert r.data is not None
    assert r.data.train == recipe_file.parent / "imgs"
    assert r.data.image_size == (8, 8)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "train.epohcs=3",
            "unknown key 'epohcs' (did you mean 'epochs'?; set by --set train.epohcs=3)",
        ),
        ("train.epochs=zero", "train.epochs: bad value; expected an integer; received: 'zero'"),
        ("model.layers[9].Dense.units=3", "index [9] is out of range (the list has 4 items)"),
        ("model.layers[0].Conv2D.filters=3", "model.layers[0] is a 'Dense' entry, not 'Conv2D'"),
        ("model.layers[2].Dense.units=3", "model.layers[2] is 'Flatten', not 'Dense'"),
        ("name.first=x", "holds 'base', which has no key 'first'"),
        ("model.layers[0].Dense.unit=3", "unknown argument 'unit' for Dense"),
    ],
)
def test_bad_override_names_itself(recipe_file: Path, override: str, message: str) -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe_file, [override])
    text = info.value.format()
    assert message in text
    assert override in text
    assert info.value.problem.line is None  # the value did not come from the file


def test_all_bad_overrides_reported_together(recipe_file: Path) -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe_file, ["nokey", "model.layers[9].Dense.units=3"])
    assert len(info.value.problems) == 2
