"""``dlcli export``: every format from a digits run, parity, metadata, and predict on exports.

One small digits CNN is trained once per module and exported once per format; the tests
then check the results with each format's own runtime (onnxruntime, the LiteRT interpreter,
``tf.saved_model``) against the Keras model on digit images decoded here with Pillow.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dlcli.cli import main

FORMATS = ("saved_model", "tflite", "onnx")
DIGITS = Path(__file__).resolve().parent.parent / "data" / "digits"
CLASSES = [str(i) for i in range(10)]


def _read_digits(paths: list[Path]) -> np.ndarray:
    """The oracle's own decoding: 32x32 grayscale PNGs as float32 0..255, NHWC."""
    from PIL import Image

    return np.stack(
        [np.asarray(Image.open(p).convert("L"), dtype=np.float32)[..., None] for p in paths]
    )


def _some(split: str, per_class: int) -> list[Path]:
    return [p for c in CLASSES for p in sorted((DIGITS / split / c).glob("*.png"))[:per_class]]


def _run_quiet(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def keras():
    from dlcli.backend import keras

    return keras


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory, keras):
    """A run directory as training writes it: model.keras, labels.json, recipe.yaml."""
    keras.utils.set_random_seed(0)
    train = _some("train", 40)
    x = _read_digits(train)
    y = np.array([int(p.parent.name) for p in train])
    inp = keras.Input((32, 32, 1))
    h = keras.layers.Rescaling(1 / 255)(inp)
    h = keras.layers.Conv2D(8, 3, activation="relu")(h)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Conv2D(8, 3, activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(10, activation="softmax")(h)
    model = keras.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=3, batch_size=32, verbose=0)

    run = tmp_path_factory.mktemp("digits_run")
    model.save(run / "model.keras")
    labels = {
        "class_names": CLASSES,
        "kind": "images",
        "image_size": [32, 32],
        "color_mode": "grayscale",
        "channels": 1,
        "interpolation": "bilinear",
    }
    (run / "labels.json").write_text(json.dumps(labels))
    (run / "recipe.yaml").write_text(
        "name: digits\nseed: 0\ndata:\n  kind: images\n"
        f"  train: {DIGITS / 'train'}\n  validation: {DIGITS / 'test'}\n"
        "  image_size: [32, 32]\n  color_mode: grayscale\n"
    )
    return run, model


@pytest.fixture(scope="module")
def exports(digits_run):
    """fmt -> (result dict from --json, exported path), each written once with defaults."""
    run, _ = digits_run
    done = {}
    for fmt in FORMATS:
        code, text = _run_quiet(["export", str(run), "--format", fmt, "--json"])
        assert code == 0, text
        result = json.loads(text)
        done[fmt] = (result, Path(result["path"]))
    return done


@pytest.fixture(scope="module")
def test_images():
    paths = _some("test", 4)
    return paths, _read_digits(paths)


# --------------------------------------------------------------------- every format


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_writes_model_and_metadata_with_parity(digits_run, exports, fmt):
    run, _ = digits_run
    result, path = exports[fmt]
    expected = {"saved_model": "saved_model", "tflite": "model.tflite", "onnx": "model.onnx"}
    assert path == run / "export" / expected[fmt]
    assert path.is_dir() if fmt == "saved_model" else path.is_file()
    assert 0 <= result["max_abs_diff"] <= 1e-4 == result["tolerance"]
    assert result["samples"] == 32
    assert str(DIGITS / "test") in result["sample_source"]  # the run's validation data

    meta_path = Path(result["metadata"])
    if fmt == "saved_model":
        assert meta_path == path / "assets" / "labels.json"
    else:
        assert meta_path == path.with_name(path.name + ".json")
    meta = json.loads(meta_path.read_text())
    assert meta["class_names"] == CLASSES
    assert meta["image_size"] == [32, 32] and meta["color_mode"] == "grayscale"
    assert meta["channels"] == 1 and meta["interpolation"] == "bilinear"
    assert meta["input"]["shape"] == [None, 32, 32, 1] and meta["input"]["value_range"] == [0, 255]
    (rescale,) = meta["model_preprocessing"]
    assert rescale["type"] == "Rescaling" and rescale["scale"] == pytest.approx(1 / 255)
    assert meta["output"] == {"shape": [None, 10], "activation": "softmax"}
    assert meta["parity"]["max_abs_diff"] == result["max_abs_diff"]
    # Nothing but the export and its metadata: no staging folders left behind.
    assert not [p for p in (run / "export").iterdir() if p.name.startswith(".")]


def test_exports_run_in_their_own_runtimes(digits_run, exports, test_images):
    """onnxruntime, the LiteRT interpreter and tf.saved_model agree with Keras."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    from dlcli.backend import tf

    _, model = digits_run
    _, x = test_images
    reference = np.asarray(model(x, training=False))

    session = ort.InferenceSession(str(exports["onnx"][1]), providers=["CPUExecutionProvider"])
    got_onnx = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got_onnx, reference, atol=1e-4)
    embedded = json.loads(session.get_modelmeta().custom_metadata_map["dlcli"])
    assert embedded["class_names"] == CLASSES

    interp = Interpreter(model_path=str(exports["tflite"][1]))
    index = interp.get_input_details()[0]["index"]
    interp.resize_tensor_input(index, list(x.shape))
    interp.allocate_tensors()
    interp.set_tensor(index, x)
    interp.invoke()
    got_tflite = interp.get_tensor(interp.get_output_details()[0]["index"])
    np.testing.assert_allclose(got_tflite, reference, atol=1e-4)

    loaded = tf.saved_model.load(str(exports["saved_model"][1]))
    fn = loaded.signatures["serving_default"]
    (name,) = fn.structured_input_signature[1]
    (got_sm,) = fn(**{name: tf.constant(x)}).values()
    np.testing.assert_allclose(got_sm.numpy(), reference, atol=1e-4)


@pytest.mark.parametrize("fmt", FORMATS)
def test_predict_on_export_gives_the_keras_top_labels(
    digits_run, exports, test_images, tmp_path, fmt
):
    _, model = digits_run
    paths, x = test_images
    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in paths:
        shutil.copy(p, folder / f"{p.parent.name}_{p.name}")
    expected = {
        f"{p.parent.name}_{p.name}": CLASSES[i]
        for p, i in zip(paths, np.argmax(np.asarray(model(x)), axis=1), strict=True)
    }
    out = tmp_path / "pred.csv"
    code, _ = _run_quiet(["predict", str(exports[fmt][1]), str(folder), "--out", str(out)])
    assert code == 0
    with open(out, newline="") as fh:
        got = {Path(row["path"]).name: row["label"] for row in csv.DictReader(fh)}
    assert got == expected


# --------------------------------------------------------------------- options and failures


def test_out_and_sample_and_printed_diff(digits_run, tmp_path, capsys):
    run, _ = digits_run
    out = tmp_path / "deploy" / "digits.onnx"
    sample = DIGITS / "test" / "7"
    code = main(["export", str(run), "-f", "onnx", "--out", str(out), "--sample", str(sample)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert out.is_file() and (tmp_path / "deploy" / "digits.onnx.json").is_file()
    assert "max abs diff" in text and str(sample) in text
    meta = json.loads((tmp_path / "deploy" / "digits.onnx.json").read_text())
    assert meta["parity"]["samples"] == min(32, len(list(sample.glob("*.png"))))  # capped at 32


def test_parity_failure_exits_1_and_writes_nothing(digits_run, tmp_path, capsys):
    """int8 weights cannot match float Keras within 1e-9: the export must be rolled back."""
    run, _ = digits_run
    out = tmp_path / "new" / "sub" / "m.tflite"
    argv = ["export", str(run), "-f", "tflite", "--quantize", "dynamic", "--tolerance", "1e-9"]
    code = main([*argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert "parity check failed" in err and "nothing was written" in err
    assert not (tmp_path / "new").exists()  # not even the folders it made
    assert list(tmp_path.iterdir()) == []


def test_existing_output_kept_without_overwrite(digits_run, tmp_path, capsys):
    run, _ = digits_run
    out = tmp_path / "m.onnx"
    out.write_text("keep me")
    assert main(["export", str(run), "-f", "onnx", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]

    assert main(["export", str(run), "-f", "onnx", "--out", str(out), "--overwrite"]) == 0
    import onnxruntime as ort

    ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])  # a real model now


def test_lambda_model_refused_and_never_runs(tmp_path, keras, run_dlcli):
    """The acceptance check, through a real process: exit 2, and the lambda never ran."""
    marker = tmp_path / "lambda_ran.txt"
    marker_name = str(marker)
    writes_marker = lambda t: (  # noqa: E731 - a lambda is what Keras marshals into the file
        __import__("pathlib").Path(marker_name).write_text("ran"),
        t,
    )[1]
    inp = keras.Input((32, 32, 1))
    h = keras.layers.Lambda(writes_marker, name="sneaky")(inp)
    out = keras.layers.Dense(10)(keras.layers.Flatten()(h))
    path = tmp_path / "lambda.keras"
    keras.Model(inp, out).save(path)
    marker.unlink()  # building the model called it once

    proc = run_dlcli("export", str(path), "-f", "onnx", "--sample", str(DIGITS / "test" / "1"))
    assert proc.returncode == 2, proc.stderr
    assert "layer 'sneaky' (Lambda)" in proc.stderr and "--trust-model" in proc.stderr
    assert not marker.exists()
    assert not (tmp_path / "lambda.onnx").exists()


def _h5(tmp_path: Path, keras) -> Path:
    inp = keras.Input((4,))
    path = tmp_path / "legacy.h5"
    keras.Model(inp, keras.layers.Dense(2)(inp)).save(path)
    return path


def _many_members(tmp_path: Path, keras) -> Path:
    import zipfile

    path = tmp_path / "many.keras"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(10_001):
            zf.writestr(f"assets/{i}", b"")
    return path


def _bomb(tmp_path: Path, keras) -> Path:
    import zipfile

    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", b'{"class_name": "Functional", "config": {}}')
        zf.writestr("metadata.json", b"{}")
        zf.writestr("model.weights.h5", bytes(64 << 20))
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [(_h5, "legacy HDF5"), (_many_members, "10,001 members"), (_bomb, "zip bomb")],
)
def test_unsafe_files_refused_by_export(tmp_path, keras, capsys, make, message):
    path = make(tmp_path, keras)
    assert main(["export", str(path), "-f", "onnx", "--sample", str(DIGITS / "test" / "1")]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.glob("*.onnx"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-f", "tflight"], "did you mean 'tflite'"),
        (["-f", "onnx", "--quantize", "float16"], "applies to tflite only"),
        (["-f", "onnx", "--tolerance", "-1"], "--tolerance"),
    ],
)
def test_bad_options_exit_2(digits_run, capsys, args, message):
    run, _ = digits_run
    assert main(["export", str(run), *args]) == 2
    assert message in capsys.readouterr().err


def test_missing_sample_folder_is_named(digits_run, tmp_path, capsys):
    run, _ = digits_run
    out = tmp_path / "m.onnx"
    missing = tmp_path / "no_such_folder"
    assert (
        main(["export", str(run), "-f", "onnx", "--out", str(out), "--sample", str(missing)]) == 2
    )
    assert f"{missing}: --sample: --sample path not found" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_bare_keras_file_needs_sample_and_exported_input_refused(digits_run, exports, tmp_path):
    run, _ = digits_run
    bare = tmp_path / "bare.keras"
    shutil.copy(run / "model.keras", bare)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["export", str(bare), "-f", "onnx"]) == 2
        assert main(["export", str(exports["onnx"][1]), "-f", "tflite"]) == 2
    text = err.getvalue()
    assert "--sample" in text and "already an exported onnx model" in text
    assert not (tmp_path / "bare.onnx").exists()


def test_overwrite_never_replaces_a_folder_that_is_not_a_saved_model(digits_run, tmp_path):
    run, _ = digits_run
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "precious.jpg").write_bytes(b"not yours")
    argv = ["export", str(run), "-f", "saved_model", "--out", str(folder), "--overwrite"]
    with contextlib.redirect_stderr(io.StringIO()) as err:
        assert main(argv) == 2
    assert "not a SavedModel" in err.getvalue()
    assert (folder / "precious.jpg").read_bytes() == b"not yours"
    assert [p.name for p in tmp_path.iterdir()] == ["photos"]


def test_tabular_model_with_normalization_exports_to_onnx(keras, tmp_path):
    """An adapted Normalization layer holds constants, not variables: they must stay inside
    the ONNX graph, not turn into extra inputs a server would have to feed."""
    import onnxruntime as ort

    wine = DIGITS.parent / "wine" / "wine.csv"
    with open(wine, newline="") as fh:
        rows = list(csv.DictReader(fh))
    features = [k for k in rows[0] if k != "label"]
    x = np.array([[float(r[f]) for f in features] for r in rows], dtype=np.float32)
    keras.utils.set_random_seed(0)
    norm = keras.layers.Normalization()
    norm.adapt(x)
    inp = keras.Input((len(features),))
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(8, "relu")(norm(inp)))
    model = keras.Model(inp, out)
    run = tmp_path / "wine_run"
    run.mkdir()
    model.save(run / "model.keras")
    labels = {"class_names": ["class_0", "class_1", "class_2"], "kind": "csv"}
    labels.update(feature_columns=features, label_column="label")
    (run / "labels.json").write_text(json.dumps(labels))
    (run / "recipe.yaml").write_text(f"data:\n  kind: csv\n  train: {wine}\n")

    code, text = _run_quiet(["export", str(run), "-f", "onnx", "--json"])
    assert code == 0, text
    assert "row(s) from" in json.loads(text)["sample_source"]
    session = ort.InferenceSession(
        str(run / "export" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("input", ["batch", 13])]
    got = session.run(None, {"input": x})[0]
    np.testing.assert_allclose(got, np.asarray(model(x)), atol=1e-5)
    meta = json.loads((run / "export" / "model.onnx.json").read_text())
    assert meta["feature_columns"] == features and meta["input"]["layout"] == "NF"
    assert meta["model_preprocessing"][0]["type"] == "Normalization"
