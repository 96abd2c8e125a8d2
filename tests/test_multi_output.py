"""Models with several named outputs (``model.outputs``), each with its own target.

Oracles: Pillow decodes the images, the one-hot colours are written by hand, the saved
model is called by plain Keras on that dict, the regression standardisation is undone
with NumPy's mean and std of the training column, scores are counted by hand or with
NumPy, and the table files are read back with the csv module.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dlcli.cli import main

COLOURS = ["blue", "red"]

TWO_BY_TWO = """\
name: two_by_two
seed: 3
data: {kind: table, train: train.csv, validation: val.csv, batch_size: 8}
model:
  inputs:
    image: [filename]
    tabular: [age, colour]
  outputs:
    species: {layer: cls_head}
    weight_kg:
      layer: reg_head
      label: weight
      target: {type: regression, standardize: true}
      loss: {name: huber, delta: 2.0}
      loss_weight: 0.5
      metrics: [mae]
  layers:
    - Rescaling: {scale: 0.00392, inputs: [image]}
    - Flatten: {name: flat}
    - Dense: {units: 4, activation: relu, inputs: [tabular], name: tab}
    - Concatenate: {inputs: [flat, tab], name: joined}
    - Dense: {units: 2, activation: softmax, name: cls_head, inputs: [joined]}
    - Dense: {units: 1, name: reg_head, inputs: [joined]}
train:
  epochs: 2
  optimizer: {name: adam, learning_rate: 0.01}
  early_stopping: {monitor: val_species_accuracy, patience: 5}
"""


def write_table(root: Path, name: str, n: int, seed: int) -> list[dict[str, str]]:
    """``n`` rows: a 6x6 PNG (bright for cats), an age, a colour, species and weight."""
    rng = np.random.default_rng(seed)
    (root / "img").mkdir(exist_ok=True)
    rows = []
    for i in range(n):
        cat = i % 2
        pixels = (rng.integers(0, 60, (6, 6, 3)) + 150 * cat).astype(np.uint8)
        path = f"img/{name}{i}.png"
        Image.fromarray(pixels, "RGB").save(root / path)
        age = float(rng.integers(1, 10))
        weight = 3.0 * age + 5.0 * cat + rng.normal()
        rows.append(
            {
                "filename": path,
                "age": f"{age:g}",
                "colour": COLOURS[i % 3 == 0],
                "species": ["dog", "cat"][cat],
                "weight": f"{weight:.4f}",
            }
        )
    with (root / f"{name}.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["filename", "age", "colour", "species", "weight"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def by_hand(root: Path, rows: list[dict[str, str]]) -> dict[str, np.ndarray]:
    image = np.stack([np.asarray(Image.open(root / r["filename"]), np.float32) for r in rows])
    tabular = [[float(r["age"]), *(float(r["colour"] == c) for c in COLOURS)] for r in rows]
    return {"image": image, "tabular": np.asarray(tabular, np.float32)}


def test_two_inputs_two_outputs_train_predict_evaluate_export(tmp_path: Path, capsys) -> None:
    from dlcli.backend import keras

    train_rows = write_table(tmp_path, "train", 24, seed=0)
    val_rows = write_table(tmp_path, "val", 8, seed=1)
    (tmp_path / "r.yaml").write_text(TWO_BY_TWO)
    run = tmp_path / "run"
    assert main(["train", str(tmp_path / "r.yaml"), "--out", str(run), "--quiet"]) == 0

    # history: the weighted total and each output's loss and metrics, train and validation
    with (run / "history.csv").open() as fh:
        history = list(csv.DictReader(fh))
    assert len(history) == 2
    for key in ("species_loss", "species_accuracy", "weight_kg_loss", "weight_kg_mae"):
        assert key in history[0] and f"val_{key}" in history[0]
    for row in history:
        total = float(row["val_species_loss"]) + 0.5 * float(row["val_weight_kg_loss"])
        assert float(row["val_loss"]) == pytest.approx(total, rel=1e-4)

    # labels.json: each output's own target record, in output-name order
    labels = json.loads((run / "labels.json").read_text())
    outputs = labels["target"]["outputs"]
    assert [o["name"] for o in outputs] == ["species", "weight_kg"]
    assert outputs[0]["target"] == {"type": "class", "class_names": ["cat", "dog"]}
    weights = np.asarray([float(r["weight"]) for r in train_rows])
    assert outputs[1]["target"]["mean"] == pytest.approx([weights.mean()])
    assert outputs[1]["target"]["std"] == pytest.approx([weights.std()])
    assert outputs[1]["loss"] == "huber" and outputs[1]["loss_args"] == {"delta": 2.0}

    # the saved model, called by plain Keras on Pillow's pixels and hand-made columns
    model = keras.saving.load_model(run / "best.keras")
    raw = model(by_hand(tmp_path, val_rows))
    probs = np.asarray(raw["species"])
    weight_kg = np.asarray(raw["weight_kg"])[:, 0] * weights.std() + weights.mean()

    # predict: one column group per output
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run), str(tmp_path / "val.csv"), "--out", str(out)]) == 0
    with out.open() as fh:
        got = list(csv.DictReader(fh))
    assert list(got[0]) == ["path", "species", "species_score", "weight_kg", "model"]
    assert [r["species"] for r in got] == [["cat", "dog"][k] for k in probs.argmax(-1)]
    np.testing.assert_allclose([float(r["species_score"]) for r in got], probs.max(-1), atol=1e-5)
    np.testing.assert_allclose([float(r["weight_kg"]) for r in got], weight_kg, rtol=1e-4)

    # evaluate on the run's validation table: accuracy by hand count, MAE/R² by NumPy
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    species, reg = result["outputs"]["species"], result["outputs"]["weight_kg"]
    hits = sum(
        r["species"] == ["cat", "dog"][k] for r, k in zip(val_rows, probs.argmax(-1), strict=True)
    )
    assert species["accuracy"] == pytest.approx(hits / len(val_rows))
    assert np.asarray(species["confusion_matrix"]).sum() == len(val_rows)
    truth = np.asarray([float(r["weight"]) for r in val_rows])
    assert reg["mae"] == pytest.approx(np.abs(weight_kg - truth).mean(), rel=1e-4)
    r2 = 1 - ((weight_kg - truth) ** 2).sum() / ((truth - truth.mean()) ** 2).sum()
    assert reg["r2"] == pytest.approx(r2, rel=1e-4, abs=1e-4)
    assert (run / "best.keras.weight_kg.scatter.png").is_file()

    # export: every format runs every output, parity per output, same predictions
    for fmt, name in (
        ("saved_model", "saved_model"),
        ("tflite", "model.tflite"),
        ("onnx", "model.onnx"),
    ):
        capsys.readouterr()
        assert main(["export", str(run), "--format", fmt, "--json"]) == 0
        exported = json.loads(capsys.readouterr().out)
        assert set(exported["per_output"]) == {"species", "weight_kg"}
        assert max(exported["per_output"].values()) <= 1e-4
        pred = tmp_path / f"pred-{fmt}.csv"
        target = str(run / "export" / name)
        assert main(["predict", target, str(tmp_path / "val.csv"), "--out", str(pred)]) == 0
        with pred.open() as fh:
            rows = list(csv.DictReader(fh))
        assert [r["species"] for r in rows] == [r["species"] for r in got]
        np.testing.assert_allclose(
            [float(r["weight_kg"]) for r in rows], weight_kg, rtol=1e-4, atol=1e-4
        )

    meta = json.loads((run / "export" / "saved_model" / "assets" / "labels.json").read_text())
    assert meta["output"]["outputs"] == {
        "species": {"shape": [None, 2], "layer": "cls_head", "activation": "softmax"},
        "weight_kg": {"shape": [None, 1], "layer": "reg_head", "activation": "linear"},
    }
    assert [o["name"] for o in meta["target"]["outputs"]] == ["species", "weight_kg"]
    assert set(meta["parity"]["per_output"]) == {"species", "weight_kg"}

    # inspect shows the outputs
    capsys.readouterr()
    assert main(["inspect", str(run)]) == 0
    assert "outputs: species (None, 2), weight_kg (None, 1)" in capsys.readouterr().out

    # report pages such a run (its scores are evaluate's); explain refuses it cleanly
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0
    assert "this model's target is outputs" in capsys.readouterr().err
    assert main(["explain", str(run), str(tmp_path / "val.csv")]) == 2
    assert "explain works on models with one output" in capsys.readouterr().err


def test_weighted_total_loss_is_the_hand_sum_of_output_losses() -> None:
    """The training step's loss on a fixed batch equals sum_k w_k * loss_k by NumPy."""
    from dlcli.backend import keras, tf
    from dlcli.targets.outputs import OutputPartRecord, OutputsRecord
    from dlcli.training.losses import per_example_loss

    record = OutputsRecord(
        outputs=[
            OutputPartRecord(
                name="a",
                layer="a",
                label=["a"],
                target={"type": "class", "class_names": ["x", "y", "z"]},
                loss="sparse_categorical_crossentropy",
                loss_weight=2.0,
            ),
            OutputPartRecord(
                name="b",
                layer="b",
                label=["b1", "b2"],
                target={"type": "regression", "columns": ["b1", "b2"]},
                loss="mse",
                loss_weight=0.25,
            ),
        ]
    )
    probs = np.asarray([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]], np.float32)
    values = np.asarray([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]], np.float32)
    y = np.asarray([[0, 1.5, 2.0], [2, 0.0, 0.0], [0, 1.0, 1.0]], np.float32)  # class, b1, b2
    fn = per_example_loss("ignored", None, record)
    got = np.asarray(fn(tf.constant(y), {"a": tf.constant(probs), "b": tf.constant(values)}))
    ce = -np.log(probs[np.arange(3), y[:, 0].astype(int)])
    mse = ((values - y[:, 1:]) ** 2).mean(axis=1)
    np.testing.assert_allclose(got, 2.0 * ce + 0.25 * mse, rtol=1e-5)
    # and Keras' own total for the same two-output model agrees on the batch mean
    inp = keras.Input((1,))
    model = keras.Model(inp, {"a": keras.layers.Dense(3)(inp), "b": keras.layers.Dense(2)(inp)})
    model.compile(
        loss={"a": "sparse_categorical_crossentropy", "b": "mse"},
        loss_weights={"a": 2.0, "b": 0.25},
    )
    total = model.compute_loss(
        y={"a": y[:, 0].astype(np.int64), "b": y[:, 1:]},
        y_pred={"a": probs, "b": values},
    )
    assert float(total) == pytest.approx(float(got.mean()), rel=1e-5)


ERRORS = """\
name: e
data: {kind: table, train: train.csv}
model:
  inputs:
    image: [filename]
    tabular: [age, colour]
  outputs:
    species: {layer: cls_head}
    weight_kg: {layer: reg_head, label: weight, target: regression}
  layers:
    - Flatten: {inputs: [image], name: flat}
    - Concatenate: {inputs: [flat, tabular], name: joined}
    - Dense: {units: 2, activation: softmax, name: cls_head, inputs: [joined]}
    - Dense: {units: 1, name: reg_head, inputs: [joined]}
train: {epochs: 1}
"""


def _exit_2(tmp_path: Path, text: str, capsys, command: str = "validate") -> str:
    (tmp_path / "e.yaml").write_text(text)
    capsys.readouterr()
    assert main([command, str(tmp_path / "e.yaml")]) == 2
    return capsys.readouterr().err


def test_output_errors_exit_2_at_their_place(tmp_path: Path, capsys) -> None:
    write_table(tmp_path, "train", 6, seed=2)
    lines = ERRORS.splitlines()
    # the recipe as written is valid: validate lists each output and its layer
    (tmp_path / "e.yaml").write_text(ERRORS)
    capsys.readouterr()
    assert main(["validate", str(tmp_path / "e.yaml")]) == 0
    shown = capsys.readouterr().out
    assert "output species    2 from layer cls_head" in shown
    assert "output weight_kg  1 from layer reg_head" in shown
    # an output naming a layer that does not exist: its line and column, did-you-mean
    err = _exit_2(tmp_path, ERRORS.replace("layer: reg_head", "layer: reg_haed"), capsys)
    col = lines[8].index("reg_head") + 1
    assert f"e.yaml:9:{col}: model.outputs.weight_kg.layer" in err
    assert "'reg_haed', which is not a layer" in err and "did you mean 'reg_head'?" in err
    # a softmax layer for a regression output, a sparse loss for numbers
    bad = ERRORS.replace(
        "{units: 1, name: reg_head", "{units: 1, activation: softmax, name: reg_head"
    )
    err = _exit_2(tmp_path, bad, capsys)
    assert (
        "e.yaml:14:7" in err and "output 'weight_kg'" in err and "its target is regression" in err
    )
    bad = ERRORS.replace(
        "target: regression}", "target: regression, loss: sparse_categorical_crossentropy}"
    )
    err = _exit_2(tmp_path, bad, capsys)
    assert "e.yaml:9:" in err and "model.outputs.weight_kg.loss" in err
    # an unknown target type or target option of an output, at its place
    err = _exit_2(tmp_path, ERRORS.replace("target: regression}", "target: regresion}"), capsys)
    assert "e.yaml:9:" in err and "model.outputs.weight_kg.target: unknown target type" in err
    assert "did you mean 'regression'?" in err
    bad = ERRORS.replace("target: regression}", "target: {type: regression, standardise: 1}}")
    err = _exit_2(tmp_path, bad, capsys)
    assert "model.outputs.weight_kg.target.standardise: unknown target option" in err
    # units that do not match the output's target
    err = _exit_2(tmp_path, ERRORS.replace("{units: 1, name", "{units: 3, name"), capsys)
    assert "layer 'reg_head' has 3 unit(s) but the regression target has 1" in err
    # train.loss beside model.outputs, and a data.label
    err = _exit_2(tmp_path, ERRORS.replace("{epochs: 1}", "{epochs: 1, loss: mse}"), capsys)
    assert "e.yaml:15:" in err and "train.loss with model.outputs" in err
    # a bad loss argument or an unknown metric of an output: named at that output
    bad = ERRORS.replace(
        "target: regression}", "target: regression, loss: {name: huber, gamma: 2}}"
    )
    err = _exit_2(tmp_path, bad, capsys, "train")
    assert "model.outputs.weight_kg.loss: output 'weight_kg': bad argument for loss 'huber'" in err
    bad = ERRORS.replace("target: regression}", "target: regression, metrics: [maee]}")
    err = _exit_2(tmp_path, bad, capsys, "train")
    assert "model.outputs.weight_kg.metrics: output 'weight_kg': unknown metric 'maee'" in err
    # a label column missing from the table: the table's header line, the output's field
    err = _exit_2(tmp_path, ERRORS.replace("label: weight", "label: mass"), capsys, "train")
    assert f"{tmp_path / 'train.csv'}:1: model.outputs.weight_kg.label" in err
    assert "label column(s) not in the table: ['mass']" in err
    # a bad cell of an output's label column: file:row:column
    with (tmp_path / "train.csv").open() as fh:
        table = list(csv.reader(fh))
    table[3][4] = "heavy"
    with (tmp_path / "train.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows(table)
    err = _exit_2(tmp_path, ERRORS, capsys, "train")
    assert f"{tmp_path / 'train.csv'}:4:5: non-numeric value in target column 'weight'" in err


THREE_OUTPUTS = """\
name: three
seed: 1
data: {kind: csv, train: t.csv, validation: v.csv, features: [x1, x2]}
model:
  input: [2]
  outputs:
    kind: {layer: k}
    tags: {layer: t, target: multi_label}
    y: {layer: r, target: regression}
  layers:
    - Dense: {units: 8, activation: relu, name: h}
    - Dense: {units: 2, activation: softmax, name: k, inputs: [h]}
    - Dense: {units: 3, activation: sigmoid, name: t, inputs: [h]}
    - Dense: {units: 1, name: r, inputs: [h]}
train: {epochs: 2}
"""


def _numbers(path: Path, n: int, seed: int) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        a, b = rng.normal(size=2)
        tags = "|".join(t for t, on in (("hot", a > 0), ("wet", b > 0)) if on) or "none"
        kind = "p" if a + b > 0 else "n"
        rows.append(
            {
                "x1": f"{a:.3f}",
                "x2": f"{b:.3f}",
                "kind": kind,
                "tags": tags,
                "y": f"{2 * a - b:.3f}",
            }
        )
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def test_class_multi_label_and_regression_outputs_of_a_csv_model(tmp_path: Path, capsys) -> None:
    from dlcli.backend import keras

    _numbers(tmp_path / "t.csv", 40, seed=0)
    val = _numbers(tmp_path / "v.csv", 16, seed=1)
    (tmp_path / "r.yaml").write_text(THREE_OUTPUTS)
    run = tmp_path / "run"
    assert main(["train", str(tmp_path / "r.yaml"), "--out", str(run), "--quiet"]) == 0
    model = keras.saving.load_model(run / "best.keras")
    x = np.asarray([[float(r["x1"]), float(r["x2"])] for r in val], np.float32)
    raw = {k: np.asarray(v) for k, v in model(x).items()}
    tags = ["hot", "none", "wet"]  # sorted, as the run records them
    assert (
        json.loads((run / "labels.json").read_text())["target"]["outputs"][1]["target"]["tags"]
        == tags
    )

    # predict: kind, kind_score, tags, tags_scores, y
    out = tmp_path / "p.csv"
    assert main(["predict", str(run), str(tmp_path / "v.csv"), "--out", str(out)]) == 0
    with out.open() as fh:
        got = list(csv.DictReader(fh))
    assert list(got[0]) == ["path", "kind", "kind_score", "tags", "tags_scores", "y", "model"]
    on = raw["tags"] >= 0.5
    for row, flags in zip(got, on, strict=True):
        assert set(filter(None, row["tags"].split("|"))) == {
            t for t, f in zip(tags, flags, strict=True) if f
        }
    np.testing.assert_allclose([float(r["y"]) for r in got], raw["y"][:, 0], rtol=1e-4, atol=1e-5)

    # evaluate: micro F1 of the tags output by hand counts
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)["outputs"]
    truth = np.asarray([[t in r["tags"].split("|") for t in tags] for r in val])
    tp, fp, fn = (on & truth).sum(), (on & ~truth).sum(), (~on & truth).sum()
    assert scores["tags"]["micro_f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    kinds = np.asarray([["n", "p"].index(r["kind"]) for r in val])
    assert scores["kind"]["accuracy"] == pytest.approx(np.mean(raw["kind"].argmax(-1) == kinds))
    assert scores["y"]["target"] == "regression"


def test_validation_split_keeps_every_class_of_the_first_class_output_on_both_sides() -> None:
    from dlcli.targets import get_target
    from dlcli.targets.outputs import OutputPartRecord, OutputsRecord

    record = OutputsRecord(
        outputs=[
            OutputPartRecord(
                name="a",
                layer="a",
                label=["a"],
                target={"type": "regression", "columns": ["a"]},
                loss="mse",
            ),
            OutputPartRecord(
                name="b",
                layer="b",
                label=["b"],
                target={"type": "class", "class_names": ["common", "rare"]},
                loss="sparse_categorical_crossentropy",
            ),
        ]
    )
    classes = np.asarray([0] * 18 + [1] * 2)
    y = np.stack([np.linspace(0, 1, 20), classes], axis=1).astype(np.float32)
    for seed in range(10):
        train, val = get_target("outputs").split_by(record, y, 0.2, seed)
        assert sorted(np.concatenate([train, val]).tolist()) == list(range(20))
        assert set(classes[train]) == {0, 1} and set(classes[val]) == {0, 1}
