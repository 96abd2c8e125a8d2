"""Recipe.to_yaml() round-trips; the JSON Schema describes the user-facing format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dlcli.cli import main
from dlcli.recipe import catalog, load_recipe, load_recipe_text, recipe_json_schema

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted((REPO / "recipes").glob("*.yaml"))

BLOCKS = """\
name: blocks
seed: 7
data:
  train: imgs
  validation_split: 0.25
  image_size: [8, 8]
  augment: [RandomFlip: horizontal]
model:
  blocks:
    res:
      - Conv2D: {filters: 3, kernel_size: 3, padding: same, name: c}
      - Add: {inputs: [block_input, c]}
  layers:
    - res: {repeat: 2}
    - Flatten
    - Dropout: 0.5
    - Dense: {units: 2, kernel_regularizer: null}
train:
  optimizer: {name: sgd, momentum: 0.9, nesterov: true}
  lr_schedule: {kind: step, step_epochs: 2}
"""


def _recipes() -> list:
    return [*SHIPPED, "blocks"]


@pytest.mark.parametrize("source", _recipes(), ids=lambda s: Path(str(s)).name)
def test_to_yaml_round_trips(source, tmp_path: Path) -> None:
    if source == "blocks":
        recipe = load_recipe_text(BLOCKS, "blocks.yaml", base_dir=tmp_path)
    else:
        recipe = load_recipe(source)
    text = recipe.to_yaml()
    elsewhere = tmp_path / "run" / "recipe.yaml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(text)
    again = load_recipe(elsewhere)  # a different folder: paths must already be absolute
    assert again == recipe
    assert again.to_yaml().split("\n", 1)[1] == text.split("\n", 1)[1]
    # every layer is written out in full: {Type: {..., name, inputs}}
    dumped = yaml.safe_load(text)
    for entry, spec in zip(dumped["model"]["layers"], recipe.model.layers, strict=True):
        ((kind, body),) = entry.items()
        assert kind == spec.type
        assert body["name"] == spec.name and body["inputs"] == spec.inputs


def test_equality_ignores_provenance_only() -> None:
    a = load_recipe_text(BLOCKS, "a.yaml", base_dir="/x")
    b = load_recipe_text("\n\n" + BLOCKS, "b.yaml", base_dir="/x")
    assert a.model.layers[0].where.line != b.model.layers[0].where.line
    assert a == b
    assert a != load_recipe_text(BLOCKS, overrides=["model.layers[3].Dense.units=3"], base_dir="/x")
    assert a != load_recipe_text(BLOCKS, base_dir="/y")  # data paths differ


def test_schema_shape() -> None:
    schema = recipe_json_schema()
    json.dumps(schema)  # serialisable
    assert schema["required"] == ["name", "model"]
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {"name", "seed", "data", "model", "train"}
    defs = schema["$defs"]
    assert {f"layer.{n}" for n in catalog.layer_names()} <= set(defs)
    dense = defs["layer.Dense"]["anyOf"][0]
    assert dense["required"] == ["units"]
    assert {"units", "activation", "name", "inputs"} <= set(dense["properties"])
    assert dense["properties"]["activation"]["default"] is None
    train = schema["properties"]["train"]["properties"]
    assert train["epochs"]["default"] == 10
    assert "adam" in train["optimizer"]["anyOf"][0]["enum"]
    data = schema["properties"]["data"]["anyOf"][0]
    assert data["additionalProperties"] is False
    assert data["properties"]["color_mode"]["default"] == "rgb"


def test_schema_accepts_shipped_and_rejects_typos() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = recipe_json_schema()
    for path in SHIPPED:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    jsonschema.validate(yaml.safe_load(BLOCKS), schema)
    bad = yaml.safe_load(BLOCKS.replace("Flatten", "Flaten: {x: 1}"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_schema_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(recipe_json_schema()))
    out = tmp_path / "schema.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == printed
    assert main(["schema", "--out", str(out)]) == 2  # no silent overwrite
    assert main(["schema", "--out", str(out), "--overwrite"]) == 0


def test_docs_examples_load() -> None:
    import re

    text = (REPO / "docs" / "recipes.md").read_text()
    examples = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    assert len(examples) >= 3
    for example in examples:
        if not example.startswith("name:"):
            example = "name: doc\n" + example
        recipe = load_recipe_text(example, "docs/recipes.md", base_dir=REPO / "docs")
        assert recipe.model.layers
