"""``dlcli evaluate``: numbers agree with the model called directly and with hand counts."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fixtures_images import DIGITS, REPO, digits_model_path, pil_digits
from rich.console import Console


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory) -> Path:
    return digits_model_path(tmp_path_factory)


def direct_oracle(model_path: Path, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(true labels, probabilities): pixels read with Pillow, the model called directly."""
    from dlcli.backend import keras

    _, x, y = pil_digits(folder)
    model = keras.saving.load_model(model_path)
    return y, np.asarray(model(x))


def evaluate(capsys, *args) -> tuple[int, str, str]:
    from dlcli.cli import main

    code = main(["evaluate", *(str(a) for a in args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_digits_numbers_match_direct_oracle_and_hand_counts(
    digits_model: Path, tmp_path: Path, capsys
) -> None:
    from dlcli.backend import keras

    code, out, err = evaluate(capsys, digits_model, "--data", DIGITS / "test", "--json")
    assert code == 0, err
    result = json.loads(out)

    y, probs = direct_oracle(digits_model, DIGITS / "test")
    pred = probs.argmax(axis=1)
    names = [str(i) for i in range(10)]  # a plain Keras model: classes are its indices
    assert result["num_samples"] == len(y) == 360
    assert result["class_names"] == names
    assert result["accuracy"] == pytest.approx(float((pred == y).mean()), abs=1e-12)
    keras_loss = float(np.mean(keras.losses.sparse_categorical_crossentropy(y, probs)))
    assert result["loss"] == pytest.approx(keras_loss, rel=1e-4)
    top2 = np.mean([yi in np.argsort(-p)[:2] for yi, p in zip(y, probs, strict=True)])
    assert result["metrics"]["top2"] == pytest.approx(top2, abs=1e-6)

    matrix = np.array(result["confusion_matrix"])
    assert matrix.sum() == 360
    for c, name in enumerate(names):
        tp = int(np.sum((pred == c) & (y == c)))
        fp = int(np.sum((pred == c) & (y != c)))
        fn = int(np.sum((pred != c) & (y == c)))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        got = result["per_class"][name]
        assert got["support"] == int(np.sum(y == c))
        assert got["precision"] == pytest.approx(precision)
        assert got["recall"] == pytest.approx(recall)
        assert got["f1"] == pytest.approx(f1)
        assert matrix[c].tolist() == [int(np.sum((y == c) & (pred == j))) for j in range(10)]
    f1s = [result["per_class"][n]["f1"] for n in names]
    supports = [result["per_class"][n]["support"] for n in names]
    assert result["macro_avg"]["f1"] == pytest.approx(np.mean(f1s))
    assert result["weighted_avg"]["f1"] == pytest.approx(np.average(f1s, weights=supports))
    assert result["skipped"] == []

    # The same with class names from --labels (here the folder names, in output order).
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"class_names": names}))
    code, out, err = evaluate(
        capsys, digits_model, "--data", DIGITS / "test", "--labels", labels, "--json"
    )
    assert code == 0, err
    again = json.loads(out)
    assert again["accuracy"] == result["accuracy"]
    assert again["confusion_matrix"] == result["confusion_matrix"]


def test_run_directory_defaults_to_its_validation_data(
    digits_model: Path, tmp_path: Path, capsys
) -> None:
    """A run directory (model.keras, labels.json, recipe.yaml) is scored on data.validation."""
    val = tmp_path / "val"
    for cls in ("3", "5", "8"):
        shutil.copytree(DIGITS / "test" / cls, val / cls)
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(digits_model, run / "model.keras")
    names = [str(i) for i in range(10)]
    (run / "labels.json").write_text(
        json.dumps(
            {
                "class_names": names,
                "kind": "images",
                "image_size": [32, 32],
                "color_mode": "grayscale",
                "channels": 1,
                "interpolation": "bilinear",
            }
        )
    )
    (run / "recipe.yaml").write_text(
        f"""name: digits
seed: 42
data:
  kind: images
  train: {DIGITS / "train"}
  validation: {val}
  image_size: [32, 32]
  color_mode: grayscale
model:
  layers:
    - Rescaling: {{scale: 0.00392156862745098}}
    - Conv2D: {{filters: 8, kernel_size: 3, activation: relu}}
    - MaxPooling2D: {{pool_size: 4}}
    - Flatten
    - Dense: {{units: 10, activation: softmax}}
"""
    )
    code, out, err = evaluate(capsys, run, "--json")
    assert code == 0, err
    result = json.loads(out)
    y, probs = direct_oracle(digits_model, val)
    assert result["num_samples"] == len(y)
    assert result["accuracy"] == pytest.approx(float((probs.argmax(1) == y).mean()), abs=1e-12)
    assert sum(s["support"] for s in result["per_class"].values()) == len(y)
    assert (run / "model.keras.confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((run / "model.keras.evaluation.json").read_text())
    assert saved["accuracy"] == result["accuracy"]


@pytest.fixture
def small_test_folder(tmp_path: Path) -> Path:
    """Digits 0-2 (5 files each) plus a corrupt file and a stray text file."""
    root = tmp_path / "small"
    for cls in ("0", "1", "2"):
        (root / cls).mkdir(parents=True)
        for p in sorted((DIGITS / "test" / cls).glob("*.png"))[:5]:
            shutil.copy(p, root / cls / p.name)
    (root / "1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    (root / "2" / "notes.txt").write_text("hello")
    return root


def test_skipped_files_listed_exit_3_strict_1_and_png(
    digits_model: Path, small_test_folder: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "report"
    code, stdout, err = evaluate(
        capsys, digits_model, "--data", small_test_folder, "--json", "--out", out
    )
    assert code == 3, err
    result = json.loads(stdout)
    assert result["num_samples"] == 15
    assert np.array(result["confusion_matrix"]).sum() == 15
    assert [Path(s["path"]).name for s in result["skipped"]] == ["broken.png"]
    assert all(s["reason"] for s in result["skipped"])
    assert [Path(s["path"]).name for s in result["ignored"]] == ["notes.txt"]
    # Classes absent from the folder are still reported, with no support.
    assert result["per_class"]["7"]["support"] == 0
    png = out / f"{digits_model.name}.confusion.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = out / f"{digits_model.name}.evaluation.json"
    assert json.loads(report.read_text())["num_samples"] == 15

    before = png.read_bytes()
    code, _, err = evaluate(capsys, digits_model, "--data", small_test_folder, "--out", out)
    assert code == 2 and "--overwrite" in err
    assert png.read_bytes() == before
    code, _, _ = evaluate(
        capsys, digits_model, "--data", small_test_folder, "--out", out, "--overwrite", "--strict"
    )
    assert code == 1


def test_plain_text_report(digits_model: Path, small_test_folder: Path, capsys) -> None:
    code, out, _ = evaluate(capsys, digits_model, "--data", small_test_folder)
    assert code == 3
    assert "\x1b[" not in out and "\r" not in out
    assert "accuracy" in out and "macro avg" in out and "weighted avg" in out
    assert "confusion matrix" in out and "broken.png" in out


def test_unknown_class_folder_is_a_clear_error(digits_model: Path, tmp_path: Path, capsys) -> None:
    root = tmp_path / "data"
    for cls in ("0", "cat"):
        (root / cls).mkdir(parents=True)
        shutil.copy(next((DIGITS / "test" / "0").glob("*.png")), root / cls / "a.png")
    code, _, err = evaluate(capsys, digits_model, "--data", root)
    assert code == 2
    assert "cat" in err and "class" in err and "--labels" in err


def test_model_file_without_data_needs_data(digits_model: Path, capsys) -> None:
    code, _, err = evaluate(capsys, digits_model)
    assert code == 2
    assert "--data" in err


def test_terminal_confusion_matrix_is_shaded() -> None:
    from dlcli.evaluation.engine import EvaluationResult
    from dlcli.evaluation.metrics import averages, per_class_scores
    from dlcli.render.evaluate_output import render_evaluation

    matrix = np.array([[5, 1], [0, 4]])
    scores = per_class_scores(matrix)
    result = EvaluationResult(
        class_names=["cat", "dog"],
        num_samples=10,
        accuracy=0.9,
        loss=0.3,
        confusion_matrix=matrix,
        per_class=scores,
        averages=averages(scores),
    )
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, color_system="truecolor", width=100)
    render_evaluation(console, result)
    text = buf.getvalue()
    assert "\x1b[" in text  # coloured cells
    assert "48;2;" in text  # 24-bit background shading
    assert "cat" in text and "dog" in text


def test_tabular_model_on_a_csv_file(tmp_path: Path, capsys) -> None:
    """A plain Keras model on the wine features; the oracle reads the CSV with the csv module."""
    import csv

    from dlcli.backend import keras

    wine = REPO / "data" / "wine" / "wine.csv"
    with wine.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    features = [k for k in rows[0] if k != "label"]
    x = np.array([[float(r[f]) for f in features] for r in rows], dtype=np.float32)
    names = ["class_0", "class_1", "class_2"]
    y = np.array([names.index(r["label"]) for r in rows])

    model = keras.Sequential([keras.Input((13,)), keras.layers.Dense(3, activation="softmax")])
    rng = np.random.default_rng(0)
    model.layers[-1].set_weights(
        [rng.normal(scale=0.01, size=(13, 3)).astype(np.float32), np.zeros(3, np.float32)]
    )
    path = tmp_path / "wine.keras"
    model.save(path)
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(names) + "\n")

    code, out, err = evaluate(capsys, path, "--data", wine, "--labels", labels, "--json")
    assert code == 0, err
    result = json.loads(out)
    probs = np.asarray(model(x))
    pred = probs.argmax(axis=1)
    assert result["num_samples"] == len(rows) == 178
    assert result["accuracy"] == pytest.approx(float((pred == y).mean()), abs=1e-12)
    assert result["class_names"] == names
    matrix = [[int(np.sum((y == i) & (pred == j))) for j in range(3)] for i in range(3)]
    assert result["confusion_matrix"] == matrix
