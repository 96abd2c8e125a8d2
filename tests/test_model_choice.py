"""Which of a run's two models ``predict``/``evaluate``/``export``/``inspect`` use, and say.

The run directory is made by hand: ``best.keras`` is the brightness model of
fixtures_images (P(bright) rises with the grey level) and ``model.keras`` is a different
model (the same layers with flipped, halved weights), so every number tells which file
produced it. The oracle is plain Keras: each file loaded with ``keras.saving.load_model``
and called on pixels read with Pillow.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from fixtures_images import brightness_model
from PIL import Image

LEVELS = {"dark": (20, 70, 110), "bright": (150, 190, 240)}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    from dlcli.backend import keras

    root = tmp_path_factory.mktemp("choice")
    best, _ = brightness_model(root)
    run = root / "run"
    run.mkdir()
    shutil.copy(best, run / "best.keras")
    model = keras.saving.load_model(best)
    kernel, bias = model.layers[-1].get_weights()
    model.layers[-1].set_weights([-0.5 * kernel, -0.5 * bias])
    model.save(run / "model.keras")
    labels = {
        "class_names": ["dark", "bright"],
        "kind": "images",
        "image_size": [16, 16],
        "color_mode": "grayscale",
        "channels": 1,
        "interpolation": "bilinear",
    }
    (run / "labels.json").write_text(json.dumps(labels))
    (run / "metrics.json").write_text(
        json.dumps(
            {
                "final": {"loss": 0.9, "accuracy": 0.25, "val_loss": 1.5, "val_accuracy": 0.125},
                "best": {"monitor": "val_loss", "value": 0.5, "epoch": 2},
            }
        )
    )
    (run / "history.csv").write_text(
        "epoch,loss,accuracy,val_loss,val_accuracy,lr,epoch_time_s\n"
        "1,0.8,0.5,0.7,0.5,0.01,1.0\n"
        "2,0.6,0.75,0.5,0.875,0.01,1.0\n"
        "3,0.9,0.25,1.5,0.125,0.01,1.0\n"
    )
    data = root / "data"
    for cls, levels in LEVELS.items():
        (data / cls).mkdir(parents=True)
        for level in levels:
            Image.new("L", (16, 16), level).save(data / cls / f"{level}.png")
    return run


def data_of(run: Path) -> Path:
    return run.parent / "data"


def oracle(model_file: Path, paths: list[Path]) -> np.ndarray:
    """P(bright) per file from the model file itself, on Pillow pixels."""
    from dlcli.backend import keras

    model = keras.saving.load_model(model_file)
    x = np.stack([np.asarray(Image.open(p), np.float32)[..., None] for p in paths])
    return np.asarray(model(x))[:, 1]


def p_bright(row: dict[str, str]) -> float:
    pairs = dict(item.rsplit(":", 1) for item in row["top_k"].split(";"))
    return float(pairs["bright"])


def cli(capsys, *args: object) -> tuple[int, str, str]:
    from dlcli.cli import main

    code = main([os.fspath(a) if isinstance(a, Path) else str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(("flags", "chosen"), [((), "best.keras"), (("--final",), "model.keras")])
def test_predict_uses_and_names_the_chosen_file(
    run: Path, tmp_path: Path, capsys, flags: tuple[str, ...], chosen: str
) -> None:
    out = tmp_path / "p.csv"
    code, _, err = cli(capsys, "predict", run, data_of(run), "-r", "-o", out, *flags)
    assert code == 0, err
    assert f"model: {run / chosen}" in err
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["model"] for r in rows} == {str(run / chosen)}
    paths = [Path(r["path"]) for r in rows]
    np.testing.assert_allclose([p_bright(r) for r in rows], oracle(run / chosen, paths), atol=2e-6)


def test_evaluate_reports_are_named_after_their_model_and_never_replace_each_other(
    run: Path, capsys
) -> None:
    paths = sorted(data_of(run).rglob("*.png"))
    truth = np.array([p.parent.name == "bright" for p in paths])

    code, out, err = cli(capsys, "evaluate", run / "best.keras", "--data", data_of(run), "--json")
    assert code == 0, err
    best_report = run / "best.keras.evaluation.json"
    best_png = run / "best.keras.confusion.png"
    saved = json.loads(best_report.read_text())
    assert saved["model"] == str(run / "best.keras") == json.loads(out)["model"]
    expected = float(((oracle(run / "best.keras", paths) > 0.5) == truth).mean())
    assert saved["accuracy"] == pytest.approx(expected)
    # The best epoch's recorded numbers (history.csv row 2), not the last epoch's.
    row_2 = {"loss": 0.6, "accuracy": 0.75, "val_loss": 0.5, "val_accuracy": 0.875}
    assert saved["recorded"] == row_2
    before = best_report.read_bytes(), best_png.read_bytes()

    code, _, err = cli(capsys, "evaluate", run, "--final", "--data", data_of(run), "--json")
    assert code == 0, err
    final = json.loads((run / "model.keras.evaluation.json").read_text())
    assert final["model"] == str(run / "model.keras")
    expected = float(((oracle(run / "model.keras", paths) > 0.5) == truth).mean())
    assert final["accuracy"] == pytest.approx(expected)
    assert final["accuracy"] != saved["accuracy"]
    assert final["recorded"]["val_loss"] == 1.5  # metrics.json "final"
    assert (run / "model.keras.confusion.png").is_file()
    assert (best_report.read_bytes(), best_png.read_bytes()) == before
    assert not (run / "evaluation.json").exists() and not (run / "confusion.png").exists()


def test_evaluate_out_refuses_to_replace_the_same_models_report(
    run: Path, tmp_path: Path, capsys
) -> None:
    report = tmp_path / "report"
    args = ("evaluate", run, "--data", data_of(run), "--out", report)
    assert cli(capsys, *args)[0] == 0
    assert cli(capsys, *args, "--final")[0] == 0  # another model: other names, no clash
    code, _, err = cli(capsys, *args)
    assert code == 2 and "best.keras.confusion.png" in err and "--overwrite" in err
    assert sorted(p.name for p in report.iterdir()) == [
        "best.keras.confusion.png",
        "best.keras.evaluation.json",
        "model.keras.confusion.png",
        "model.keras.evaluation.json",
    ]


@pytest.mark.parametrize(("flags", "chosen"), [((), "best.keras"), (("--final",), "model.keras")])
def test_export_and_inspect_use_the_chosen_file(
    run: Path, tmp_path: Path, capsys, flags: tuple[str, ...], chosen: str
) -> None:
    out = tmp_path / "m.onnx"
    code, _, err = cli(
        capsys, "export", run, "--format", "onnx", "--sample", data_of(run), "--out", out, *flags
    )
    assert code == 0, err
    meta = json.loads(Path(f"{out}.json").read_text())
    assert meta["source_model"] == str(run / chosen)
    preds = tmp_path / "p.csv"
    code, _, err = cli(capsys, "predict", out, data_of(run), "-r", "-o", preds)
    assert code == 0, err
    with open(preds, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    expected = oracle(run / chosen, [Path(r["path"]) for r in rows])
    np.testing.assert_allclose([p_bright(r) for r in rows], expected, atol=1e-5)

    code, text, err = cli(capsys, "inspect", run, "--json", *flags)
    assert code == 0, err
    assert json.loads(text)["source"] == str(run / chosen)


def test_final_needs_a_run_directory_with_model_keras(run: Path, tmp_path: Path, capsys) -> None:
    code, _, err = cli(capsys, "predict", run / "best.keras", data_of(run), "--final")
    assert code == 2 and "--final" in err
    only_best = tmp_path / "only_best"
    only_best.mkdir()
    shutil.copy(run / "best.keras", only_best / "best.keras")
    shutil.copy(run / "labels.json", only_best / "labels.json")
    code, _, err = cli(capsys, "evaluate", only_best, "--final", "--data", data_of(run))
    assert code == 2 and "no model.keras" in err
    # Without a best checkpoint, the run's model.keras is used, and said to be the last epoch.
    only_final = tmp_path / "only_final"
    only_final.mkdir()
    shutil.copy(run / "model.keras", only_final / "model.keras")
    shutil.copy(run / "labels.json", only_final / "labels.json")
    code, _, err = cli(capsys, "predict", only_final, data_of(run), "-r", "-o", tmp_path / "p.csv")
    assert code == 0 and f"model: {only_final / 'model.keras'} (the last epoch" in err
