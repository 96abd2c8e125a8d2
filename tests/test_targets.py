"""Targets beyond one class (data.target: multi_label, regression), loss arguments and
class/sample weights: trained end to end on tables, checked against numpy oracles."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlcli.errors import DataError, RecipeError
from dlcli.recipe import load_recipe
from dlcli.training import TrainOptions, train
from tests.train_helpers import write_recipe

REPO = Path(__file__).resolve().parents[1]
DIABETES = REPO / "data" / "diabetes.csv"


def _keras_predict(run: Path, x: np.ndarray) -> np.ndarray:
    from dlcli.backend import keras

    model = keras.models.load_model(run / "best.keras", compile=False)
    return np.asarray(model(x.astype(np.float32), training=False))


def _table(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _features(path: Path, names: list[str]) -> np.ndarray:
    with open(path, newline="", encoding="utf-8") as fh:
        return np.asarray([[float(r[n]) for n in names] for r in csv.DictReader(fh)])


# --- regression ----------------------------------------------------------------------


def test_regression_on_diabetes_reaches_least_squares(tmp_path: Path) -> None:
    from dlcli.commands.predict import run_predict
    from dlcli.evaluation.target_scores import evaluate_target
    from dlcli.modeling.loading import resolve_model

    names = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    x_all = _features(DIABETES, names)
    y_all = _features(DIABETES, ["progression"])[:, 0]
    rng = np.random.default_rng(3)
    order = rng.permutation(len(y_all))
    test, fit = order[:88], order[88:]
    header = [*names, "progression"]
    rows = np.column_stack([x_all, y_all])
    train_csv = _table(tmp_path / "train.csv", header, rows[fit].tolist())
    test_csv = _table(tmp_path / "test.csv", header, rows[test].tolist())
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
    raw = _keras_predict(run, x_all[test])[:, 0]
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
    table = _table(tmp_path / "t.csv", ["a", "b", "u", "v"], np.column_stack([x, y]).tolist())
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


# --- multi-label ---------------------------------------------------------------------


def _tag_table(path: Path, n: int, seed: int) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    truth = x > 0.2
    rows = []
    for feats, on in zip(x, truth, strict=True):
        tags = [t for t, o in zip(["red", "green", "blue"], on, strict=True) if o] or ["none"]
        rows.append([*feats.round(5).tolist(), "|".join(tags)])
    return _table(path, ["f0", "f1", "f2", "tags"], rows), x, truth


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
    probs = _keras_predict(run, x_test)
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


def test_tag_columns_and_focal_loss_with_arguments(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 2))
    rows = [[*f.tolist(), int(f[0] > 0), int(f[1] > 0)] for f in x]
    table = _table(tmp_path / "t.csv", ["a", "b", "p", "q"], rows)
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
    from tests.train_helpers import write_csv

    data = {"kind": "csv", "train": str(write_csv(tmp_path / "d.csv")), "batch_size": 8}
    layers = [{"Dense": {"units": 2, "activation": "softmax"}}]
    loss = {"name": "categorical_crossentropy", "label_smoothing": 0.1}
    recipe = write_recipe(tmp_path / "r.yaml", data=data, layers=layers, epochs=2, loss=loss)
    result = train(load_recipe(recipe), TrainOptions(out=tmp_path / "run"))
    assert result.epochs_run == 2
    assert np.isfinite(result.metrics["final"]["loss"])


# --- class weights -------------------------------------------------------------------


def _imbalanced(path: Path, n_major: int, n_minor: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    major = rng.normal(loc=-0.5, size=(n_major, 2))
    minor = rng.normal(loc=0.5, size=(n_minor, 2))
    rows = [[*r.round(5).tolist(), "major"] for r in major]
    rows += [[*r.round(5).tolist(), "minor"] for r in minor]
    return _table(path, ["a", "b", "label"], rows)


def test_class_weight_raises_minority_recall(tmp_path: Path) -> None:
    train_csv = _imbalanced(tmp_path / "train.csv", 500, 50, 0)
    test_csv = _imbalanced(tmp_path / "test.csv", 200, 200, 1)
    x_test = _features(test_csv, ["a", "b"])
    layers = [{"Dense": {"units": 2, "activation": "softmax"}}]
    recalls = {}
    events: list = []
    for weight in (None, "balanced"):
        extra = {"class_weight": weight} if weight else {}
        data = {"kind": "csv", "train": str(train_csv), "batch_size": 32}
        recipe = write_recipe(
            tmp_path / f"{weight}.yaml", data=data, layers=layers, epochs=15, **extra
        )
        run = tmp_path / f"run-{weight}"
        train(load_recipe(recipe), TrainOptions(out=run), on_event=events.append)
        pred = _keras_predict(run, x_test).argmax(axis=1)
        recalls[weight] = float((pred[200:] == 1).mean())  # "minor" is class 1
    assert recalls["balanced"] > recalls[None] + 0.2, recalls
    texts = [getattr(e, "text", "") for e in events]
    assert any("major 500, minor 50" in t for t in texts)
    assert any("imbalanced classes" in t and "class_weight" in t for t in texts)
    # 550 / (2 x 500) and 550 / (2 x 50): scikit-learn's "balanced"
    assert any("class weights in the training loss: major 0.55, minor 5.5" in t for t in texts)


def test_sample_weight_column_matches_class_weight(tmp_path: Path) -> None:
    """Weights from a column equal to the balanced class weights train the same model."""
    base = _imbalanced(tmp_path / "t.csv", 60, 12, 0)
    with open(base, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    weight = {"major": 72 / 120, "minor": 72 / 24}
    rows = [[*rows[0], "w"]] + [[*r, weight[r[2]]] for r in rows[1:]]
    weighted = _table(tmp_path / "w.csv", rows[0], rows[1:])
    layers = [{"Dense": {"units": 2, "activation": "softmax"}}]
    outs = []
    for name, data, extra in (
        ("cw", {"train": str(base)}, {"class_weight": "balanced"}),
        ("sw", {"train": str(weighted), "sample_weight": "w"}, {}),
    ):
        recipe = write_recipe(
            tmp_path / f"{name}.yaml",
            data={"kind": "csv", "batch_size": 8, "shuffle": False, **data},
            layers=layers,
            epochs=2,
            **extra,
        )
        train(load_recipe(recipe), TrainOptions(out=tmp_path / name))
        outs.append(_keras_predict(tmp_path / name, _features(base, ["a", "b"])))
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-5)


# --- bad input -----------------------------------------------------------------------


def test_bad_cells_name_file_row_and_column(tmp_path: Path) -> None:
    reg = _table(tmp_path / "reg.csv", ["a", "y"], [[1, 2.5], [2, "lots"], [3, 1.0]])
    data = {"kind": "csv", "train": str(reg), "label": "y", "target": "regression"}
    recipe = write_recipe(tmp_path / "r.yaml", data=data, layers=[{"Dense": 1}], epochs=1)
    with pytest.raises(DataError) as info:
        train(load_recipe(recipe), TrainOptions(out=tmp_path / "run"))
    assert f"{reg}:3:2: non-numeric value in target column 'y'" in str(info.value)
    assert "'lots'" in str(info.value)

    weights = _table(tmp_path / "w.csv", ["a", "label", "w"], [[1, "x", 1], [2, "y", -1]])
    data = {"kind": "csv", "train": str(weights), "sample_weight": "w"}
    recipe = write_recipe(tmp_path / "w.yaml", data=data, layers=[{"Dense": 2}], epochs=1)
    with pytest.raises(DataError, match=r"w\.csv:3:3: bad sample weight"):
        train(load_recipe(recipe), TrainOptions(out=tmp_path / "run2"))


def test_empty_tag_exits_2_with_its_place(tmp_path: Path) -> None:
    table = _table(tmp_path / "t.csv", ["a", "tags"], [[1, "x|y"], [2, "x||y"], [3, "y"]])
    data = {"kind": "csv", "train": str(table), "label": "tags", "target": "multi_label"}
    layers = [{"Dense": {"units": 2, "activation": "sigmoid"}}]
    recipe = write_recipe(tmp_path / "r.yaml", data=data, layers=layers, epochs=1)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("DLCLI_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "dlcli.cli", "train", str(recipe), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert f"{table}:3:2: empty tag in column 'tags'" in proc.stderr
    assert "Traceback" not in proc.stderr


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize(
    ("target", "layers", "loss", "where", "message"),
    [
        (
            "multi_label",
            [{"Dense": {"units": 3, "activation": "softmax"}}],
            None,
            "Dense",
            "softmax last layer makes the tags compete",
        ),
        (
            "regression",
            [{"Dense": 1}],
            "sparse_categorical_crossentropy",
            "loss:",
            "is not a regression loss",
        ),
        (
            "regression",
            [{"Dense": {"units": 1, "activation": "softmax"}}],
            None,
            "Dense",
            "softmax last layer outputs shares",
        ),
        (
            "multi_label",
            [{"Dense": {"units": 3, "activation": "sigmoid"}}],
            "mse",
            "loss:",
            "does not learn independent tags",
        ),
    ],
)
def test_target_mismatch_refused_at_its_place(
    tmp_path: Path, target: str, layers: list, loss: str | None, where: str, message: str
) -> None:
    data = {"kind": "csv", "train": str(tmp_path / "t.csv"), "target": target}
    extra = {"loss": loss} if loss else {}
    recipe = write_recipe(tmp_path / "r.yaml", data=data, layers=layers, **extra)
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe)
    text = str(info.value)
    assert f"{recipe}:{_line_of(recipe, where)}:" in text
    assert message in text


def test_units_against_target_columns(tmp_path: Path) -> None:
    data = {
        "kind": "csv",
        "train": str(tmp_path / "t.csv"),
        "label": ["u", "v", "w"],
        "target": "regression",
    }
    recipe = write_recipe(tmp_path / "r.yaml", data=data, layers=[{"Dense": 2}])
    with pytest.raises(RecipeError, match="has 2 unit\\(s\\) but the regression target has 3"):
        load_recipe(recipe)
    # Tags found only in the data: checked when training starts, at the layer's line.
    table = _table(tmp_path / "t.csv", ["a", "tags"], [[1, "x|y"], [2, "z"], [3, "y"]])
    data = {"kind": "csv", "train": str(table), "label": "tags", "target": "multi_label"}
    layers = [{"Dense": {"units": 2, "activation": "sigmoid"}}]
    recipe = write_recipe(tmp_path / "m.yaml", data=data, layers=layers, epochs=1)
    with pytest.raises(RecipeError) as info:
        train(load_recipe(recipe), TrainOptions(out=tmp_path / "run"))
    assert f"{recipe}:{_line_of(recipe, 'Dense')}:" in str(info.value)
    assert "multi_label target has 3 (x, y, z)" in str(info.value)


def test_class_weight_mistakes(tmp_path: Path) -> None:
    from tests.train_helpers import write_csv

    data = {"kind": "csv", "train": str(write_csv(tmp_path / "d.csv"))}
    layers = [{"Dense": {"units": 2, "activation": "softmax"}}]
    recipe = write_recipe(
        tmp_path / "r.yaml",
        data=data,
        layers=layers,
        epochs=1,
        class_weight={"yes": 1.0, "sevn": 2.0},
    )
    with pytest.raises(RecipeError) as info:
        train(load_recipe(recipe), TrainOptions(out=tmp_path / "run"))
    assert f"{recipe}:{_line_of(recipe, 'sevn')}:" in str(info.value)
    assert "does not have: ['sevn']" in str(info.value)
    data = {"kind": "csv", "train": str(tmp_path / "d.csv"), "target": "regression"}
    recipe = write_recipe(
        tmp_path / "g.yaml", data=data, layers=[{"Dense": 1}], class_weight="balanced"
    )
    with pytest.raises(RecipeError, match="class_weight weighs classes"):
        load_recipe(recipe)


def test_export_carries_the_target_and_predicts_in_data_units(tmp_path: Path) -> None:
    from dlcli.commands.predict import run_predict
    from dlcli.export.engine import export_model

    rng = np.random.default_rng(4)
    x = rng.normal(size=(60, 2))
    y = x @ [30.0, -10.0] + 200.0
    table = _table(tmp_path / "t.csv", ["a", "b", "y"], np.column_stack([x, y]).tolist())
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
    raw = _keras_predict(run, x)[:, 0] * target["std"][0] + target["mean"][0]
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


def test_class_weight_applies_to_image_folders(tmp_path: Path) -> None:
    from conftest import make_image_folder

    from tests.train_helpers import image_data

    root = make_image_folder(tmp_path / "imgs", classes=("many",), per_class=9)
    make_image_folder(root, classes=("few",), per_class=3, seed=3)
    recipe = write_recipe(
        tmp_path / "r.yaml", data=image_data(root), epochs=1, class_weight={"few": 3.0}
    )
    events: list = []
    result = train(load_recipe(recipe), TrainOptions(out=tmp_path / "run"), on_event=events.append)
    assert result.epochs_run == 1
    texts = [getattr(e, "text", "") for e in events]
    assert "class weights in the training loss: few 3, many 1" in texts


def test_predict_reads_csv_rows_for_a_class_model(tmp_path: Path) -> None:
    from dlcli.commands.predict import run_predict
    from tests.train_helpers import write_csv

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
    probs = _keras_predict(run, _features(table, ["f1", "f2", "f3"]))
    names = json.loads((run / "labels.json").read_text())["class_names"]
    assert [r["label"] for r in rows] == [names[i] for i in probs.argmax(axis=1)]
    assert [r["path"] for r in rows[:2]] == [f"{table}:2", f"{table}:3"]
