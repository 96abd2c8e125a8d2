"""Targets beyond one class (data.target: multi_label, regression) and loss arguments:
trained end to end on tables, checked against numpy oracles (class and sample weights:
test_class_weights.py; mistakes: test_target_errors.py)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from target_helpers import feature_rows, keras_predict, write_table
from train_helpers import write_recipe

from dlcli.recipe import load_recipe
from dlcli.training import TrainOptions, train

REPO = Path(__file__).resolve().parents[1]
DIABETES = REPO / "data" / "diabetes.csv"


# --- regression ----------------------------------------------------------------------


def test_regression_on_diabetes_reaches_least_squares(tmp_path: Path) -> None:
    from dlcli.commands.predict import run_predict
    from dlcli.evaluation.target_scores import evaluate_target
    from dlcli.modeling.loading import resolve_model

    names = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    x_all = feature_rows(DIABETES, names)
    y_all = feature_rows(DIABETES, ["progression"])[:, 0]
    rng = np.random.default_rng(3)
    order = rng.permutation(len(y_all))
    test, fit = order[:88], order[88:]
    header = [*names, "progression"]
    rows = np.column_stack([x_all, y_all])
    train_csv = write_table(tmp_path / "train.csv", header, rows[fit].tolist())
    test_csv = write_table(tmp_path / "test.csv", header, rows[test].tolist())
    data = {
        "kind": "csv",
        "train": str(train_csv),
        "validation": str(test_csv),
        "label": "progression",
        "target": {"type": "regression", "standardize": True},
        "batch_size": 64,
    }
    layers = [{"Normalization": None}, {"Dense": 1}]
    recipe = write_recipe(
        tmp_path / "r.yaml",
        data=data,
        layers=layers,
        epochs=40,
        optimizer={"name": "adam", "learning_rate": 0.05},
    )
    run = tmp_path / "run"
    train(load_recipe(recipe), TrainOptions(out=run))
    labels = json.loads((run / "labels.json").read_text())
    assert labels["target"]["type"] == "regression"
    assert labels["target"]["mean"] == pytest.approx([y_all[fit].mean()])
    assert labels["target"]["std"] == pytest.approx([y_all[fit].std()])

    # Oracle: ordinary least squares with numpy on the same training rows.
    design = np.column_stack([x_all[fit], np.ones(len(fit))])
    coef, *_ = np.linalg.lstsq(design, y_all[fit], rcond=None)
    ols = np.column_stack([x_all[test], np.ones(len(test))]) @ coef
    y_test = y_all[test]

    def r2(pred: np.ndarray) -> float:
        return 1 - ((y_test - pred) ** 2).sum() / ((y_test - y_test.mean()) ** 2).sum()

    # The model's outputs, standardisation undone by hand (the run's mean and std).
    raw = keras_predict(run, x_all[test])[:, 0]
    pred = raw * labels["target"]["std"][0] + labels["target"]["mean"][0]
    assert r2(pred) >= r2(ols), (r2(pred), r2(ols))  # measured: 0.392 vs 0.375

    result = evaluate_target(resolve_model(run), data=None, batch_size=16)
    assert result.scores["mae"] == pytest.approx(np.abs(pred - y_test).mean(), rel=1e-4)
    assert result.scores["rmse"] == pytest.approx(np.sqrt(((pred - y_test) ** 2).mean()), rel=1e-4)
    assert result.scores["r2"] == pytest.approx(r2(pred), abs=1e-4)

    out = tmp_path / "pred.csv"
    assert run_predict(model=run, sources=[str(test_csv)], out=out) == 0
    with open(out, newline="", encoding="utf-8") as fh:
        written = list(csv.DictReader(fh))
    assert [r["path"] for r in written][:2] == [f"{test_csv}:2", f"{test_csv}:3"]
    got = np.asarray([float(r["progression"]) for r in written])
    np.testing.assert_allclose(got, pred, rtol=1e-4)


def test_evaluate_cli_writes_the_scatter_plot(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 2))
    y = np.column_stack([x @ [2.0, -1.0] + 0.5, x[:, 0] * 3])
    table = write_table(tmp_path / "t.csv", ["a", "b", "u", "v"], np.column_stack([x, y]).tolist())
    data = {
        "kind": "csv",
        "train": str(table),
        "label": ["u", "v"],
        "target": "regression",
        "validation_split": 0.25,
        "batch_size": 16,
    }
    recipe = write_recipe(tmp_path / "r.yaml", data=data, layers=[{"Dense": 2}], epochs=2)
    run = tmp_path / "run"
    train(load_recipe(recipe), TrainOptions(out=run))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, "-m", "dlcli.cli", "evaluate", str(run), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert set(payload["per_column"]) == {"u", "v"}
    png = run / "best.keras.scatter.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # A user's picture in --out is never replaced without --overwrite (nothing written).
    from dlcli.commands.evaluate import run_evaluate
    from dlcli.errors import OutputExistsError

    out = tmp_path / "mine"
    out.mkdir()
    (out / "best.keras.scatter.png").write_bytes(b"my picture")
    with pytest.raises(OutputExistsError):
        run_evaluate(model=run, out=out)
    assert (out / "best.keras.scatter.png").read_bytes() == b"my picture"
    assert sorted(p.name for p in out.iterdir()) == ["best.keras.scatter.png"]
    assert run_evaluate(model=run, out=out, overwrite=True) == 0
    assert (out / "best.keras.scatter.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- multi-label ---------------------------------------------------------------------


def _tag_table(path: Path, n: int, seed: int) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    truth = x > 0.2
    rows = []
    for feats, on in zip(x, truth, strict=True):
        tags = [t for t, o in zip(["red", "green", "blue"], on, strict=True) if o] or ["none"]
        rows.append([*feats.round(5).tolist(), "|".join(tags)])
    return write_table(path, ["f0", "f1", "f2", "tags"], rows), x, truth


def test_multi_label_learns_tags_and_predict_writes_them(tmp_path: Path) -> None:
    from dlcli.commands.predict import run_predict
    from dlcli.evaluation.target_scores import evaluate_target
    from dlcli.modeling.loading import resolve_model

    table, _, _ = _tag_table(tmp_path / "tags.csv", 600, 0)
    held, x_test, _ = _tag_table(tmp_path / "held.csv", 200, 1)
    data = {
        "kind": "csv",
        "train": str(table),
        "validation": str(held),
        "label": "tags",
        "target": {"type": "multi_label", "threshold": 0.5},
        "batch_size": 64,
    }
    layers = [
        {"Dense": {"units": 32, "activation": "relu"}},
        {"Dense": {"units": 4, "activation": "sigmoid"}},
    ]
    recipe = write_recipe(
        tmp_path / "r.yaml",
        data=data,
        layers=layers,
        epochs=25,
        optimizer={"name": "adam", "learning_rate": 0.03},
    )
    assert load_recipe(recipe).train.loss == "binary_crossentropy"  # the target's default
    run = tmp_path / "run"
    train(load_recipe(recipe), TrainOptions(out=run))
    labels = json.loads((run / "labels.json").read_text())
    assert labels["class_names"] == ["blue", "green", "none", "red"]
    assert labels["target"] == {
        "type": "multi_label",
        "tags": labels["class_names"],
        "threshold": 0.5,
        "sep": "|",
        "tag_columns": False,
    }

    # Hand computation of micro-F1 from the model's probabilities.
    probs = keras_predict(run, x_test)
    with open(held, newline="", encoding="utf-8") as fh:
        sets = [set(r["tags"].split("|")) for r in csv.DictReader(fh)]
    tags = labels["class_names"]
    truth = np.asarray([[t in s for t in tags] for s in sets])
    pred = probs >= 0.5
    tp = (pred & truth).sum()
    fp = (pred & ~truth).sum()
    fn = (~pred & truth).sum()
    micro_f1 = 2 * tp / (2 * tp + fp + fn)
    assert micro_f1 >= 0.9  # measured: 0.993
    result = evaluate_target(resolve_model(run), data=held, batch_size=64)
    assert result.scores["micro_f1"] == pytest.approx(micro_f1, abs=1e-9)
    f1_red = result.scores["per_label"]["red"]["f1"]
    j = tags.index("red")
    tp_r, fp_r = (pred[:, j] & truth[:, j]).sum(), (pred[:, j] & ~truth[:, j]).sum()
    fn_r = (~pred[:, j] & truth[:, j]).sum()
    assert f1_red == pytest.approx(2 * tp_r / (2 * tp_r + fp_r + fn_r))

    out = tmp_path / "pred.csv"
    assert run_predict(model=run, sources=[str(held)], out=out) == 0
    with open(out, newline="", encoding="utf-8") as fh:
        written = list(csv.DictReader(fh))
    for row, p in zip(written, probs, strict=True):
        expected = {t for t, v in zip(tags, p, strict=True) if v >= 0.5}
        assert set(filter(None, row["tags"].split("|"))) == expected

    # --top-k lists classes: asked of a tag model it is refused, not silently ignored.
    from dlcli.errors import UsageError

    with pytest.raises(UsageError, match=r"--top-k lists classes.*multi_label"):
        run_predict(model=run, sources=[str(held)], out=tmp_path / "k.csv", top_k=2)
    assert not (tmp_path / "k.csv").exists()
    # Both class-only options are refused before any input is listed: a missing source
    # would otherwise be reported first ('no inputs'), hiding the option's error.
    missing = str(tmp_path / "no-such-folder")
    with pytest.raises(UsageError, match=r"--top-k lists classes"):
        run_predict(model=run, sources=[missing], top_k=2)
    with pytest.raises(UsageError, match=r"--sort-into sorts by class.*multi_label") as sorted_:
        run_predict(model=run, sources=[missing], sort_into=tmp_path / "sorted")
    assert sorted_.value.format().startswith("--sort-into: ")
    assert not (tmp_path / "sorted").exists()


def test_tag_columns_and_focal_loss_with_arguments(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 2))
    rows = [[*f.tolist(), int(f[0] > 0), int(f[1] > 0)] for f in x]
    table = write_table(tmp_path / "t.csv", ["a", "b", "p", "q"], rows)
    data = {"kind": "csv", "train": str(table), "label": ["p", "q"], "target": "multi_label"}
    layers = [{"Dense": {"units": 2, "activation": "sigmoid"}}]
    loss = {"name": "binary_focal_crossentropy", "gamma": 3.0, "label_smoothing": 0.1}
    recipe = write_recipe(tmp_path / "r.yaml", data=data, layers=layers, epochs=1, loss=loss)
    loaded = load_recipe(recipe)
    assert loaded.train.loss_args == {"gamma": 3.0, "label_smoothing": 0.1}
    assert load_recipe_text_roundtrip(loaded) == loaded
    run = tmp_path / "run"
    train(loaded, TrainOptions(out=run))
    assert json.loads((run / "labels.json").read_text())["target"]["tag_columns"] is True
    from dlcli.backend import keras

    model = keras.models.load_model(run / "model.keras", compile=True)
    assert model.loss.get_config()["gamma"] == 3.0


def load_recipe_text_roundtrip(recipe):
    from dlcli.recipe import load_recipe_text

    return load_recipe_text(recipe.to_yaml())


def test_categorical_loss_with_label_smoothing_trains_on_class_indices(tmp_path: Path) -> None:
    from train_helpers import write_csv

    data = {"kind": "csv", "train": str(write_csv(tmp_path / "d.csv")), "batch_size": 8}
    layers = [{"Dense": {"units": 2, "activation": "softmax"}}]
    loss = {"name": "categorical_crossentropy", "label_smoothing": 0.1}
    recipe = write_recipe(tmp_path / "r.yaml", data=data, layers=layers, epochs=2, loss=loss)
    result = train(load_recipe(recipe), TrainOptions(out=tmp_path / "run"))
    assert result.epochs_run == 2
    assert np.isfinite(result.metrics["final"]["loss"])


def test_export_carries_the_target_and_predicts_in_data_units(tmp_path: Path) -> None:
    from dlcli.commands.predict import run_predict
    from dlcli.export.engine import export_model

    rng = np.random.default_rng(4)
    x = rng.normal(size=(60, 2))
    y = x @ [30.0, -10.0] + 200.0
    table = write_table(tmp_path / "t.csv", ["a", "b", "y"], np.column_stack([x, y]).tolist())
    data = {
        "kind": "csv",
        "train": str(table),
        "label": "y",
        "target": {"type": "regression", "standardize": True},
    }
    recipe = write_recipe(tmp_path / "r.yaml", data=data, layers=[{"Dense": 1}], epochs=2)
    run = tmp_path / "run"
    train(load_recipe(recipe), TrainOptions(out=run))
    result = export_model(run, "saved_model", out=tmp_path / "exported")
    meta = json.loads(result.metadata_path.read_text())
    assert meta["target"] == json.loads((run / "labels.json").read_text())["target"]
    outs = {}
    for name, model in (("keras", run), ("export", tmp_path / "exported")):
        out = tmp_path / f"{name}.csv"
        assert run_predict(model=model, sources=[str(table)], out=out) == 0
        with open(out, newline="", encoding="utf-8") as fh:
            outs[name] = np.asarray([float(r["y"]) for r in csv.DictReader(fh)])
    np.testing.assert_allclose(outs["export"], outs["keras"], rtol=1e-4)
    target = meta["target"]
    raw = keras_predict(run, x)[:, 0] * target["std"][0] + target["mean"][0]
    np.testing.assert_allclose(outs["keras"], raw, rtol=1e-4)


def test_schema_takes_targets_loss_arguments_and_weights() -> None:
    import jsonschema

    from dlcli.recipe.jsonschema import recipe_json_schema

    schema = recipe_json_schema()
    doc = {
        "name": "x",
        "data": {
            "kind": "csv",
            "train": "a.csv",
            "label": ["u", "v"],
            "target": "regression",
            "sample_weight": "w",
        },
        "model": {"layers": [{"Dense": 2}]},
        "train": {"loss": {"name": "huber", "delta": 2.0}, "class_weight": "balanced"},
    }
    jsonschema.validate(doc, schema)
    doc["data"]["target"] = {"type": "multi_label", "threshold": 0.3}
    jsonschema.validate(doc, schema)
    doc["data"]["target"] = "regresion"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def test_predict_reads_csv_rows_for_a_class_model(tmp_path: Path) -> None:
    from train_helpers import write_csv

    from dlcli.commands.predict import run_predict

    table = write_csv(tmp_path / "d.csv")
    data = {"kind": "csv", "train": str(table), "batch_size": 8}
    layers = [{"Dense": {"units": 2, "activation": "softmax"}}]
    recipe = write_recipe(tmp_path / "r.yaml", data=data, layers=layers, epochs=1)
    run = tmp_path / "run"
    train(load_recipe(recipe), TrainOptions(out=run))
    out = tmp_path / "p.csv"
    assert run_predict(model=run, sources=[str(table)], out=out) == 0
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    probs = keras_predict(run, feature_rows(table, ["f1", "f2", "f3"]))
    names = json.loads((run / "labels.json").read_text())["class_names"]
    assert [r["label"] for r in rows] == [names[i] for i in probs.argmax(axis=1)]
    assert [r["path"] for r in rows[:2]] == [f"{table}:2", f"{table}:3"]
