"""Safe model loading: the config pre-check, zip checks, run dirs, labels, preprocessing."""

from __future__ import annotations

import json
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dlcli.errors import ModelLoadError, UnsafeModelError


@pytest.fixture(scope="module")
def keras():
    from dlcli.backend import keras

    return keras


@pytest.fixture(scope="module")
def image_model_file(tmp_path_factory, keras) -> Path:
    """A tiny grayscale 8x8 classifier with 3 outputs, saved once for the module."""
    keras.utils.set_random_seed(1)
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Rescaling(1 / 255)(inp)
    x = keras.layers.Conv2D(2, 3, activation="relu", name="conv")(x)
    x = keras.layers.Flatten(name="flat")(x)
    out = keras.layers.Dense(3, activation="softmax", name="head")(x)
    model = keras.Model(inp, out)
    path = tmp_path_factory.mktemp("models") / "tiny.keras"
    model.save(path)
    return path


def _rewrite_config(src: Path, dst: Path, edit) -> Path:
    """Copy a .keras archive, passing its parsed config.json through ``edit``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            zout.writestr(info, data)
    return dst


def _layer(config: dict, class_name: str) -> dict:
    return next(layer for layer in config["config"]["layers"] if layer["class_name"] == class_name)


# --------------------------------------------------------------------- code in the file


def test_lambda_layer_refused_and_never_runs_until_trusted(tmp_path, keras):
    from dlcli.modeling.loading import load_model_file

    marker = tmp_path / "lambda_ran.txt"
    marker_name = str(marker)

    # A real lambda (Keras marshals its bytecode and closure into the file; a named
    # function would be stored by name only). It writes the marker whenever Keras calls
    # the layer, including while a loader rebuilds the model.
    touch_and_double = lambda t: (  # noqa: E731
        __import__("pathlib").Path(marker_name).write_text("ran"),
        t * 2,
    )[1]
    inp = keras.Input((4,))
    out = keras.layers.Dense(2)(keras.layers.Lambda(touch_and_double, name="doubler")(inp))
    path = tmp_path / "lambda.keras"
    keras.Model(inp, out).save(path)
    marker.unlink()  # building the model ran the function once

    with pytest.raises(UnsafeModelError) as err:
        load_model_file(path)
    text = err.value.format()
    assert "layer 'doubler' (Lambda)" in text
    assert "--trust-model" in text and "arbitrary code" in text
    assert not marker.exists()

    # The same file loaded with trust does run the function: the check above was real.
    model = load_model_file(path, trust=True)
    assert marker.exists()
    assert model.layers[1].__class__.__name__ == "Lambda"


def test_custom_class_outside_keras_refused_before_keras_sees_it(
    tmp_path, image_model_file, monkeypatch, keras
):
    from dlcli.modeling.loading import load_model_file

    def make_custom(config):
        dense = _layer(config, "Dense")
        dense["module"] = "mypackage.layers"
        dense["class_name"] = "EvilDense"
        dense["registered_name"] = "mypackage>EvilDense"

    path = _rewrite_config(image_model_file, tmp_path / "custom.keras", make_custom)

    def must_not_load(*args, **kwargs):
        raise AssertionError("keras.saving.load_model was called on an unsafe file")

    monkeypatch.setattr(keras.saving, "load_model", must_not_load)
    with pytest.raises(UnsafeModelError) as err:
        load_model_file(path)
    text = err.value.format()
    assert "layer 'head'" in text and "mypackage>EvilDense" in text
    assert "--trust-model" in text


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        # a function from a module outside Keras, e.g. os.system as an activation
        (
            lambda c: _layer(c, "Dense")["config"].update(
                activation={
                    "module": "os",
                    "class_name": "function",
                    "config": "system",
                    "registered_name": "system",
                }
            ),
            "'system' from module 'os'",
        ),
        # a class from a Keras-looking but foreign module
        (
            lambda c: _layer(c, "Conv2D")["config"].update(
                kernel_initializer={
                    "module": "kerasevil.init",
                    "class_name": "Boom",
                    "config": {},
                    "registered_name": None,
                }
            ),
            "'Boom' from module 'kerasevil.init'",
        ),
        # a class with no module (defined in the user's __main__)
        (
            lambda c: _layer(c, "Flatten").update(module=None, class_name="MyFlatten"),
            "custom class 'MyFlatten'",
        ),
        # a built-in that loads another graph from disk
        (lambda c: _layer(c, "Flatten").update(class_name="TFSMLayer"), "TFSMLayer"),
    ],
)
def test_crafted_configs_refused(tmp_path, image_model_file, edit, expected):
    from dlcli.modeling.loading import load_model_file

    path = _rewrite_config(image_model_file, tmp_path / "crafted.keras", edit)
    with pytest.raises(UnsafeModelError, match="--trust-model") as err:
        load_model_file(path)
    assert expected in err.value.format()


def test_builtin_config_passes_the_check(image_model_file):
    from dlcli.modeling.safety import check_keras_archive, find_unsafe_objects

    assert find_unsafe_objects(check_keras_archive(image_model_file)) == []


# --------------------------------------------------------------------- archive checks


def _write_zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_zip_bomb_member_refused(tmp_path):
    from dlcli.modeling.loading import load_model_file

    path = _write_zip(
        tmp_path / "bomb.keras",
        {
            "config.json": b'{"class_name": "Functional", "config": {}}',
            "metadata.json": b"{}",
            "model.weights.h5": bytes(64 << 20),  # 64 MiB of zeros: ~1000x compression
        },
    )
    with pytest.raises(UnsafeModelError, match=r"model\.weights\.h5.*zip bomb"):
        load_model_file(path)


def test_too_many_members_refused(tmp_path):
    from dlcli.modeling.loading import load_model_file
    from dlcli.modeling.safety import MAX_MEMBERS

    members = {f"assets/{i}": b"" for i in range(MAX_MEMBERS + 1)}
    path = _write_zip(tmp_path / "many.keras", members, zipfile.ZIP_STORED)
    with pytest.raises(UnsafeModelError, match="10,001 members"):
        load_model_file(path)


def test_forged_total_size_refused(tmp_path):
    """Central-directory sizes claiming 8 GiB are refused before anything is read."""
    from dlcli.modeling.loading import load_model_file

    path = _write_zip(
        tmp_path / "forged.keras",
        {"config.json": b"{}", "metadata.json": b"{}", "model.weights.h5": b"x" * 100},
        zipfile.ZIP_STORED,
    )
    data = bytearray(path.read_bytes())
    start = 0
    while (pos := data.find(b"PK\x01\x02", start)) != -1:  # each central directory entry
        struct.pack_into("<I", data, pos + 24, 0xFFFF0000)  # uncompressed size
        start = pos + 4
    path.write_bytes(bytes(data))
    with pytest.raises(UnsafeModelError, match="GiB"):
        load_model_file(path)


def test_not_a_zip_truncated_and_incomplete(tmp_path, image_model_file):
    from dlcli.modeling.loading import load_model_file

    text = tmp_path / "notes.keras"
    text.write_text("just text")
    with pytest.raises(ModelLoadError, match="not a zip archive") as err:
        load_model_file(text)
    assert "notes.keras" in err.value.format()

    cut = tmp_path / "cut.keras"
    cut.write_bytes(image_model_file.read_bytes()[:-300])
    with pytest.raises(ModelLoadError, match=r"cut\.keras"):
        load_model_file(cut)

    partial = _write_zip(tmp_path / "partial.keras", {"config.json": b"{}"})
    with pytest.raises(ModelLoadError, match=r"missing metadata\.json"):
        load_model_file(partial)


def test_missing_file_and_empty_dir(tmp_path):
    from dlcli.modeling.loading import load_model_file, resolve_model

    with pytest.raises(ModelLoadError, match="not found") as err:
        resolve_model(tmp_path / "nope.keras")
    assert "nope.keras" in err.value.format()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match=r"model\.keras or best\.keras"):
        load_model_file(tmp_path / "empty")


def test_h5_refused_unless_trusted(tmp_path, keras):
    from dlcli.modeling.loading import load_model_file

    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(2)(inp))
    h5 = tmp_path / "legacy.h5"
    model.save(h5)
    with pytest.raises(UnsafeModelError, match="legacy HDF5") as err:
        load_model_file(h5)
    assert "--trust-model" in err.value.format()
    loaded = load_model_file(h5, trust=True)
    np.testing.assert_allclose(loaded.get_weights()[0], model.get_weights()[0])

    disguised = tmp_path / "disguised.keras"
    shutil.copy(h5, disguised)
    with pytest.raises(UnsafeModelError, match="really a legacy HDF5"):
        load_model_file(disguised)


# --------------------------------------------------------------------- resolve_model


def test_run_dir_resolves_model_labels_and_preprocessing(tmp_path, image_model_file):
    from dlcli.modeling.loading import resolve_model

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(image_model_file, run / "best.keras")  # no model.keras: best.keras is used
    labels = {
        "class_names": ["a", "b", "c"],
        "kind": "images",
        "image_size": [8, 8],
        "color_mode": "grayscale",
        "channels": 1,
        "interpolation": "bilinear",
    }
    (run / "labels.json").write_text(json.dumps(labels))
    loaded = resolve_model(run)
    assert loaded.source == run / "best.keras"
    assert loaded.run_dir == run
    assert loaded.format == "keras"
    assert loaded.class_names == ["a", "b", "c"]
    assert loaded.preprocessing.color_mode == "grayscale"
    assert loaded.preprocessing.image_size == (8, 8)

    shutil.copy(image_model_file, run / "model.keras")
    assert resolve_model(run).source == run / "best.keras"  # the best epoch wins
    assert resolve_model(run, final=True).source == run / "model.keras"
    # The .keras file inside a run is part of that run too.
    assert resolve_model(run / "model.keras").class_names == ["a", "b", "c"]


def test_predict_batch_matches_independent_forward_pass(tmp_path, keras):
    from dlcli.modeling.loading import resolve_model

    inp = keras.Input((5,))
    model = keras.Model(inp, keras.layers.Dense(4)(inp))
    path = tmp_path / "dense.keras"
    model.save(path)
    w, b = model.get_weights()
    x = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    loaded = resolve_model(path)
    np.testing.assert_allclose(loaded.predict_batch(x), x @ w + b, rtol=1e-5, atol=1e-5)
    # Another batch size reuses the same function without error.
    np.testing.assert_allclose(loaded.predict_batch(x[:3]), x[:3] @ w + b, rtol=1e-5, atol=1e-5)
    assert (loaded.preprocessing.kind, loaded.preprocessing.num_features) == ("csv", 5)
    assert loaded.class_names is None


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        ("cat\ndog\n\nbird\n", "labels.txt", ["cat", "dog", "bird"]),
        ('["cat", "dog", "bird"]', "labels.json", ["cat", "dog", "bird"]),
        ('{"class_names": ["x", "y", "z"], "kind": "images"}', "l.json", ["x", "y", "z"]),
    ],
)
def test_labels_file_formats(tmp_path, image_model_file, content, name, expected):
    from dlcli.modeling.loading import resolve_model

    (tmp_path / name).write_text(content)
    loaded = resolve_model(image_model_file, labels=tmp_path / name)
    assert loaded.class_names == expected
    assert loaded.run_dir is None


def test_labels_count_and_duplicates_checked(tmp_path, image_model_file):
    from dlcli.modeling.loading import resolve_model

    (tmp_path / "two.txt").write_text("a\nb\n")
    with pytest.raises(ModelLoadError, match="3 class names") as err:
        resolve_model(image_model_file, labels=tmp_path / "two.txt")
    assert "two.txt" in err.value.format()
    (tmp_path / "dup.txt").write_text("a\nb\na\n")
    with pytest.raises(ModelLoadError, match="repeats"):
        resolve_model(image_model_file, labels=tmp_path / "dup.txt")
    (tmp_path / "bad.json").write_text('{"class_names": 3}')
    with pytest.raises(ModelLoadError, match="class_names"):
        resolve_model(image_model_file, labels=tmp_path / "bad.json")


@pytest.mark.parametrize(
    ("shape", "mode", "size"),
    [((6, 5, 1), "grayscale", [6, 5]), ((6, 5, 3), "rgb", [6, 5]), ((6, 5, 4), "rgba", [6, 5])],
)
def test_preprocessing_from_input_shape(tmp_path, keras, shape, mode, size):
    from dlcli.modeling.loading import resolve_model

    inp = keras.Input(shape)
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(inp))
    path = tmp_path / "m.keras"
    keras.Model(inp, out).save(path)
    prep = resolve_model(path).preprocessing
    assert prep.kind == "images"
    assert prep.color_mode == mode
    assert prep.channels == shape[2]
    assert prep.image_size == tuple(size)


def test_unfixed_spatial_size_takes_it_from_labels_json(tmp_path, keras):
    """A model accepting any size has image_size None until labels provide one."""
    from dlcli.modeling.loading import resolve_model

    inp = keras.Input((None, None, 3))
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(inp))
    path = tmp_path / "any.keras"
    keras.Model(inp, out).save(path)
    assert resolve_model(path).preprocessing.image_size is None
    (tmp_path / "l.json").write_text('{"class_names": ["a", "b"], "image_size": [12, 10]}')
    loaded = resolve_model(path, labels=tmp_path / "l.json")
    assert loaded.preprocessing.image_size == (12, 10)
    assert loaded.predict_batch(np.zeros((2, 12, 10, 3))).shape == (2, 2)


def test_saved_model_dir_refused_for_keras_loading(tmp_path):
    from dlcli.modeling.loading import load_model_file

    sm = tmp_path / "sm"
    sm.mkdir()
    (sm / "saved_model.pb").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="SavedModel") as err:
        load_model_file(sm)
    assert "predict" in err.value.format()


@pytest.mark.parametrize(
    ("prep", "message"),
    [
        ({"image_size": [8, "x"]}, "bad image_size"),
        ({"image_size": [8, 8], "color_mode": "cmyk"}, "bad color_mode"),
        ({"image_size": [16, 16]}, "image_size [16, 16] does not fit the model"),
        ({"image_size": [8, 8], "color_mode": "rgb"}, "color_mode 'rgb' gives 3 channel(s)"),
    ],
)
def test_image_settings_from_labels_checked_against_the_model(
    tmp_path, image_model_file, prep, message
):
    # These used to surface later as a bare ValueError from int() or from the model (exit 1,
    # no file named); they are the labels file's fault and must say so.
    from dlcli.modeling.loading import resolve_model

    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"class_names": ["a", "b", "c"], "kind": "images", **prep}))
    with pytest.raises(ModelLoadError) as err:
        resolve_model(image_model_file, labels=labels)
    assert err.value.exit_code == 2
    assert err.value.format().startswith(f"{labels}: {message}")
    good = {"class_names": ["a", "b", "c"], "image_size": [8, 8], "color_mode": "grayscale"}
    labels.write_text(json.dumps(good))
    assert resolve_model(image_model_file, labels=labels).preprocessing.image_size == (8, 8)
