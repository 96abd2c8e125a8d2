"""Models with several named inputs (``model.inputs``), fed by a table's column groups.

Oracles: Pillow decodes the images, the one-hot columns are written by hand, and the
trained model is run by plain Keras on that dict of arrays.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dlcli.cli import main
from dlcli.errors import DataError, RecipeError
from dlcli.recipe import load_recipe_text

CITIES = ["lima", "oslo", "rome"]

TWO_INPUTS = """\
name: two
seed: 5
data: {kind: table, train: train.csv, color_mode: grayscale, validation_split: 0.25,
       batch_size: 4}
model:
  inputs:
    image: {columns: [filename]}
    tabular: [age, city]
  layers:
    - Rescaling: {scale: 0.00392, inputs: [image]}
    - Flatten: {name: flat}
    - Normalization: {inputs: [tabular], name: norm}
    - Dense: {units: 4, activation: relu, name: tab}
    - Concatenate: {inputs: [flat, tab]}
    - Dense: {units: 2, activation: softmax}
train: {epochs: 1, optimizer: {name: adam, learning_rate: 0.01}}
"""


def write_manifest(root: Path, n: int = 24) -> list[dict[str, str]]:
    rng = np.random.default_rng(0)
    (root / "img").mkdir(parents=True)
    rows = []
    for i in range(n):
        cls = i % 2
        pixels = (rng.integers(0, 60, (10, 10)) + 150 * cls).astype(np.uint8)
        Image.fromarray(pixels, "L").save(root / "img" / f"{i}.png")
        age = f"{20 + rng.normal() * 3 + 5 * cls:.3f}"
        rows.append(
            {"filename": f"img/{i}.png", "age": age, "city": CITIES[i % 3], "label": "ab"[cls]}
        )
    with (root / "train.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["filename", "age", "city", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def by_hand(root: Path, rows: list[dict[str, str]]) -> dict[str, np.ndarray]:
    """The model's inputs built without dlcli: Pillow pixels, age and one-hot city."""
    image = np.stack([np.asarray(Image.open(root / r["filename"]), np.float32) for r in rows])
    tabular = [[float(r["age"]), *(float(r["city"] == c) for c in CITIES)] for r in rows]
    return {"image": image[..., None], "tabular": np.asarray(tabular, np.float32)}


def test_two_input_model_trains_predicts_evaluates_and_exports(tmp_path: Path, capsys) -> None:
    from dlcli.backend import keras

    rows = write_manifest(tmp_path)
    (tmp_path / "two.yaml").write_text(TWO_INPUTS)
    run = tmp_path / "run"
    assert main(["train", str(tmp_path / "two.yaml"), "--out", str(run), "--quiet"]) == 0
    labels = json.loads((run / "labels.json").read_text())
    assert labels["inputs"] == {"image": ["filename"], "tabular": ["age", "city"]}
    model = keras.saving.load_model(run / "best.keras")
    assert sorted(t.name for t in model.inputs) == ["image", "tabular"]
    expected = np.asarray(model(by_hand(tmp_path, rows)))

    # inspect lists both inputs
    capsys.readouterr()
    assert main(["inspect", str(run)]) == 0
    summary = capsys.readouterr().out
    assert "image" in summary and "tabular" in summary and "InputLayer" in summary

    # predict: one row per table row, the probabilities of plain Keras on the dict
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run), str(tmp_path / "train.csv"), "--out", str(out)]) == 0
    got = list(csv.DictReader(out.open()))
    assert [r["path"] for r in got] == [f"{tmp_path / 'train.csv'}:{i + 2}" for i in range(24)]
    confidence = np.asarray([float(r["confidence"]) for r in got])
    np.testing.assert_allclose(confidence, expected.max(axis=-1), atol=1e-5)
    assert [r["label"] for r in got] == ["ab"[k] for k in expected.argmax(axis=-1)]

    # evaluate on the run's validation split (re-derived with both inputs), and on the table
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_samples"] == 6  # 0.25 of 24, stratified
    assert main(["evaluate", str(run), "--data", str(tmp_path / "train.csv"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    truth = np.asarray(["ab".index(r["label"]) for r in rows])
    assert result["accuracy"] == pytest.approx(float(np.mean(expected.argmax(-1) == truth)))

    # export: SavedModel serves both inputs by name, parity on the run's rows
    assert main(["export", str(run), "--format", "saved_model"]) == 0
    saved = run / "export" / "saved_model"
    meta = json.loads((saved / "assets" / "labels.json").read_text())
    assert set(meta["input"]["inputs"]) == {"image", "tabular"}
    assert meta["parity"]["samples"] == 24
    from dlcli.backend import tf

    serve = tf.saved_model.load(str(saved)).signatures["serving_default"]
    inputs = {k: tf.constant(v) for k, v in by_hand(tmp_path, rows).items()}
    (served,) = serve(**inputs).values()
    np.testing.assert_allclose(served.numpy(), expected, atol=1e-5)

    # TFLite and ONNX take both inputs by name too: parity at export, same outputs after
    for fmt, name in (("tflite", "model.tflite"), ("onnx", "model.onnx")):
        assert main(["export", str(run), "--format", fmt]) == 0
        out = tmp_path / f"pred-{fmt}.csv"
        exported = str(run / "export" / name)
        assert main(["predict", exported, str(tmp_path / "train.csv"), "--out", str(out)]) == 0
        confidence = np.asarray([float(r["confidence"]) for r in csv.DictReader(out.open())])
        np.testing.assert_allclose(confidence, expected.max(axis=-1), atol=1e-5)


def test_a_format_without_several_inputs_refuses_naming_those_with(tmp_path: Path, capsys) -> None:
    from dlcli.modeling.formats import register_format, unregister_format
    from dlcli.modeling.formats.tflite import TfliteFormat

    class OneInput(TfliteFormat):
        name = "one_input"
        title = "OneInput"
        suffix = ".one"
        aliases = ()
        several_inputs = False

    rows = write_manifest(tmp_path, n=8)
    assert rows
    (tmp_path / "two.yaml").write_text(TWO_INPUTS.replace("validation_split: 0.25, ", ""))
    run = tmp_path / "run"
    assert main(["train", str(tmp_path / "two.yaml"), "--out", str(run), "--quiet"]) == 0
    register_format(OneInput())
    try:
        capsys.readouterr()
        assert main(["export", str(run), "--format", "one_input"]) == 2
    finally:
        unregister_format("one_input")
    err = capsys.readouterr().err
    assert "OneInput export takes models with one input; this model has 2" in err
    assert "--format saved_model or --format tflite or --format onnx" in err
    assert not (run / "export").exists()


def test_model_inputs_recipe_errors(tmp_path: Path) -> None:
    write_manifest(tmp_path, n=4)
    with pytest.raises(RecipeError) as err:
        load_recipe_text(
            "name: t\ndata: {kind: images, train: img}\nmodel:\n"
            "  inputs: {a: [x]}\n  layers: [{Dense: 2}]\n",
            base_dir=tmp_path,
        )
    assert "model.inputs" in str(err.value) and "data.kind images feeds one" in str(err.value)
    with pytest.raises(RecipeError) as err:
        load_recipe_text(
            "name: t\nmodel:\n  input: [3]\n  inputs: {a: [x]}\n  layers: [{Dense: 2}]\n"
        )
    assert "give model.inputs or model.input, not both" in str(err.value)
    with pytest.raises(RecipeError) as err:  # a layer naming an input that is not declared
        load_recipe_text(
            "name: t\nmodel:\n  inputs: {a: {columns: [x], shape: [3]}}\n"
            "  layers: [{Dense: {units: 2, inputs: [input]}}]\n"
        )
    assert "unknown input 'input'" in str(err.value)


def test_unknown_column_or_unused_input_exit_2(tmp_path: Path) -> None:
    from dlcli.data import load_datasets
    from dlcli.errors import ModelBuildError
    from dlcli.modeling.inspection import model_from_recipe

    write_manifest(tmp_path, n=4)
    recipe = load_recipe_text(TWO_INPUTS.replace("[age, city]", "[age, town]"), base_dir=tmp_path)
    with pytest.raises(DataError) as err:
        load_datasets(recipe.data, seed=0, inputs={"image": ["filename"], "tab": ["town"]})
    assert "model.inputs.tab.columns" in err.value.problem.format()
    assert err.value.problem.line == 1  # the header line of the table
    unused = TWO_INPUTS.replace(
        "    image: {columns: [filename]}\n", "    image: [filename]\n    x: [age]\n"
    )
    (tmp_path / "unused.yaml").write_text(unused)
    with pytest.raises(ModelBuildError) as err:
        model_from_recipe(tmp_path / "unused.yaml")
    assert "model input 'x' is not used by any layer" in err.value.problem.format()


def test_json_schema_takes_named_inputs_and_outputs() -> None:
    # Before: model.inputs/outputs/input_dtype were additional properties, so an editor
    # flagged every recipe of docs/recipes.md that uses them.
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    from dlcli.recipe import recipe_json_schema

    schema = recipe_json_schema()
    jsonschema.validate(yaml.safe_load(TWO_INPUTS), schema)
    outputs = TWO_INPUTS.replace(
        "train: {epochs",
        "  outputs:\n    kind: {layer: dense_1, label: city}\n"
        "    age: {target: regression, loss: {name: huber, delta: 1.0}, loss_weight: 0.5}\n"
        "train: {epochs",
    )
    assert outputs != TWO_INPUTS
    jsonschema.validate(yaml.safe_load(outputs), schema)
    dtype = "name: d\nmodel:\n  input_dtype: string\n  layers: [Dense: 1]\n"
    jsonschema.validate(yaml.safe_load(dtype), schema)
    for bad in (
        TWO_INPUTS.replace("{columns: [filename]}", "{colums: [filename]}"),  # misspelt key
        TWO_INPUTS.replace("tabular: [age, city]", "1tabular: [age, city]"),  # bad name
        TWO_INPUTS.replace("{columns: [filename]}", "{columns: [filename], dtype: int8}"),
        outputs.replace("target: regression", "target: ordinal"),  # unknown target
        outputs.replace("loss_weight: 0.5", "loss_wieght: 0.5"),
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(yaml.safe_load(bad), schema)
