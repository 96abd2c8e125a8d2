"""Class names and preprocessing: a warning for indices, names inside exported files.

- A model without class names still predicts, with the output indices, but says so.
- An ``interpolation`` dlcli cannot resize with is refused (exit 2), not ignored.
- ``.onnx``/``.tflite`` files exported here carry their metadata inside: with the ``.json``
  sidecar deleted, predictions still use the class names. The embedded JSON is also read
  with the formats' own libraries (``onnx``; TensorFlow's ``flatbuffer_utils`` for TFLite),
  independently of dlcli's reader.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import pytest
from fixtures_images import brightness_model
from PIL import Image

NAMES = ["dark", "bright"]
LABELS = {
    "class_names": NAMES,
    "kind": "images",
    "image_size": [16, 16],
    "color_mode": "grayscale",
    "channels": 1,
    "interpolation": "bilinear",
}
LEVELS = {"a.png": 30, "b.png": 220}


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path]:
    """(run directory with model.keras + labels.json, folder of two grey images)."""
    root = tmp_path_factory.mktemp("labels")
    model, _ = brightness_model(root)
    run = root / "run"
    run.mkdir()
    shutil.copy(model, run / "model.keras")
    (run / "labels.json").write_text(json.dumps(LABELS))
    images = root / "images"
    images.mkdir()
    for name, level in LEVELS.items():
        Image.new("L", (16, 16), level).save(images / name)
    return run, images


def predict(capsys, *args: object) -> tuple[int, list[dict[str, str]], str]:
    from dlcli.cli import main

    code = main(["predict", *(os.fspath(a) if isinstance(a, Path) else a for a in args)])
    captured = capsys.readouterr()
    return code, list(csv.DictReader(io.StringIO(captured.out))), captured.err


def test_class_indices_come_with_a_warning(setup, capsys) -> None:
    run, images = setup
    code, rows, err = predict(capsys, run / "model.keras", images)
    assert code == 0 and "warning" not in err  # the run's labels.json names the classes
    assert [r["label"] for r in rows] == ["dark", "bright"]

    bare = run.parent / "bare.keras"
    shutil.copy(run / "model.keras", bare)
    code, rows, err = predict(capsys, bare, images)
    assert code == 0, err
    assert [r["label"] for r in rows] == ["0", "1"]
    assert "warning:" in err and "no class names" in err and "--labels" in err


@pytest.mark.parametrize("interpolation", ["bicubic", "nearest", ""])
def test_unknown_interpolation_is_refused(setup, tmp_path: Path, capsys, interpolation) -> None:
    run, images = setup
    bad = tmp_path / "run"
    shutil.copytree(run, bad)
    (bad / "labels.json").write_text(json.dumps({**LABELS, "interpolation": interpolation}))
    code, rows, err = predict(capsys, bad, images)
    assert code == 2
    assert "interpolation" in err and repr(interpolation) in err and "bilinear" in err
    assert rows == []


def _onnx_embedded(path: Path) -> dict:
    import onnx

    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    return json.loads(props["dlcli"])


def _tflite_embedded(path: Path) -> dict:
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    (entry,) = [m for m in model.metadata if m.name == b"dlcli"]
    return json.loads(bytes(model.buffers[entry.buffer].data).decode("utf-8"))


@pytest.mark.parametrize(
    ("fmt", "read_embedded"), [("onnx", _onnx_embedded), ("tflite", _tflite_embedded)]
)
def test_exported_file_without_its_sidecar_keeps_its_class_names(
    setup, tmp_path: Path, capsys, fmt, read_embedded
) -> None:
    from dlcli.cli import main

    run, images = setup
    out = tmp_path / f"exported.{fmt}"
    code = main(["export", str(run), "--format", fmt, "--sample", str(images), "--out", str(out)])
    exported = capsys.readouterr()
    assert code == 0, exported.err
    embedded = read_embedded(out)
    assert embedded["class_names"] == NAMES
    assert embedded["image_size"] == [16, 16] and embedded["interpolation"] == "bilinear"

    Path(f"{out}.json").unlink()  # the file travels alone
    code, rows, err = predict(capsys, out, images)
    assert code == 0, err
    assert [r["label"] for r in rows] == ["dark", "bright"]
    assert "warning" not in err
