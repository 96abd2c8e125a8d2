"""The CPU bfloat16 path (TensorFlow's oneDNN rewrite): scoped to training steps, real on AMX.

The parts that need bfloat16 instructions skip on CPUs without them; the selection logic is
covered with faked CPUs in test_devices_selection.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_image_folder
from train_helpers import image_data, write_recipe

from dlcli.devices.probe import cpu_bfloat16, read_cpu_flags
from dlcli.recipe import load_recipe
from dlcli.training import TrainOptions, train

HAS_BF16 = cpu_bfloat16(read_cpu_flags()) is not None
needs_bf16 = pytest.mark.skipif(not HAS_BF16, reason="this CPU has no bfloat16 instructions")

CONV_MODEL = [
    {"Rescaling": {"scale": 1 / 255}},
    {"Conv2D": {"filters": 8, "kernel_size": 3, "padding": "same", "activation": "relu"}},
    {"MaxPooling2D": None},
    {"Flatten": None},
    {"Dense": {"units": 2, "activation": "softmax", "name": "probs"}},
]


def _conv_pair():
    from dlcli.backend import tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((8, 16, 16, 8), dtype=np.float32))
    w = tf.constant(rng.random((3, 3, 8, 16), dtype=np.float32))
    return tf.function(lambda x: tf.nn.conv2d(x, w, 1, "SAME")), x, tf.nn.conv2d(x, w, 1, "SAME")


def test_option_is_scoped_and_restored():
    from dlcli.backend import tf
    from dlcli.devices import onednn_bfloat16
    from dlcli.devices.strategy import ONEDNN_BF16_OPTION

    fn, x, exact = _conv_pair()
    with onednn_bfloat16(True):
        assert tf.config.optimizer.get_experimental_options()[ONEDNN_BF16_OPTION] is True
        inside = fn(x)
    assert not tf.config.optimizer.get_experimental_options().get(ONEDNN_BF16_OPTION, False)
    outside = fn(x)  # the same function, called again outside: float32 again
    np.testing.assert_array_equal(outside.numpy(), exact.numpy())
    with onednn_bfloat16(False):
        np.testing.assert_array_equal(fn(x).numpy(), exact.numpy())
    if HAS_BF16:  # the rewrite really ran: bfloat16 products differ from float32 ones
        diff = np.abs(inside.numpy() - exact.numpy())
        assert diff.max() > 1e-3 and np.allclose(inside.numpy(), exact.numpy(), rtol=2e-2)


@needs_bf16
def test_bfloat16_training_saves_float32_model_and_validates_in_float32(tmp_path: Path):
    from PIL import Image

    from dlcli.backend import keras
    from dlcli.modeling.loading import load_model_file

    train_dir = make_image_folder(tmp_path / "train", per_class=8, seed=1)
    val_dir = make_image_folder(tmp_path / "val", per_class=4, seed=2)
    runs = {}
    for mode in ("onednn_bfloat16", "off"):
        recipe = load_recipe(
            write_recipe(
                tmp_path / f"{mode}.yaml",
                data=image_data(train_dir, val_dir),
                layers=CONV_MODEL,
                mixed_precision=mode,
            )
        )
        train(recipe, TrainOptions(out=tmp_path / mode))
        runs[mode] = tmp_path / mode

    run = runs["onednn_bfloat16"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["onednn_bfloat16"] is True and "bfloat16" in metrics["precision"]
    assert metrics["precision_policy"] == "float32"
    off = json.loads((runs["off"] / "metrics.json").read_text())
    assert off["onednn_bfloat16"] is False and off["precision"] == "float32"

    model = load_model_file(run / "model.keras")
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    ours = model.get_weights()
    assert all(w.dtype == np.float32 for w in ours)
    # Same seed, same data: only the step's arithmetic differs, so the weights are close but
    # not equal (the bfloat16 products really were used for training).
    plain = load_model_file(runs["off"] / "model.keras").get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(ours, plain, strict=True))
    for a, b in zip(ours, plain, strict=True):
        np.testing.assert_allclose(a, b, atol=0.05)

    # Validation ran in float32: it equals a plain float32 evaluation of the saved model.
    labels = json.loads((run / "labels.json").read_text())["class_names"]
    x, y = [], []
    for ci, cls in enumerate(labels):
        for p in sorted((val_dir / cls).iterdir()):
            x.append(np.asarray(Image.open(p), np.float32)[..., None])
            y.append(ci)
    probs = model.predict(np.stack(x), verbose=0)
    loss = keras.losses.sparse_categorical_crossentropy(np.array(y), probs)
    assert metrics["final"]["val_loss"] == pytest.approx(float(np.mean(loss)), rel=1e-5)
    assert metrics["final"]["val_accuracy"] == pytest.approx(
        float(np.mean(np.argmax(probs, 1) == np.array(y)))
    )
