"""The :mod:`dlcli.explain` library (issue 18): Grad-CAM, saliency and integrated gradients
against hand-written ``tf.GradientTape`` computations on tiny models, a heat map that finds
the one quadrant carrying the class, the overlay, and Grad-CAM inside a backbone.

The hand computations here are the oracles of test_explain.py and test_explain_kinds.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from dlcli.backend import keras, tf

# --------------------------------------------------------------------------- oracles


def hand_gradcam(features: list, head: list, dense: object, x: np.ndarray, c: np.ndarray):
    """Grad-CAM written out: the layers called one by one, logits from the Dense weights,
    pooled gradients, ReLU, bilinear resize to the input, divided by the maximum."""
    a = tf.convert_to_tensor(x)
    for layer in features:
        a = layer(a)
    with tf.GradientTape() as tape:
        tape.watch(a)
        h = a
        for layer in head:
            h = layer(h)
        logits = tf.matmul(h, dense.kernel) + dense.bias
        score = tf.reduce_sum(tf.gather(logits, c, axis=1, batch_dims=1))
    grads = tape.gradient(score, a).numpy()
    weights = grads.mean(axis=(1, 2))
    cam = np.maximum(np.einsum("nhwk,nk->nhw", a.numpy(), weights), 0.0)
    cam = tf.image.resize(cam[..., None], x.shape[1:3], method="bilinear").numpy()[..., 0]
    top = cam.reshape(len(cam), -1).max(axis=1)
    return cam / np.where(top > 0, top, 1.0)[:, None, None]


def tiny_cnn(seed: int = 0):
    keras.utils.set_random_seed(seed)
    conv = keras.layers.Conv2D(4, 3, activation="relu", name="features")
    pool = keras.layers.MaxPooling2D(2)
    gap = keras.layers.GlobalAveragePooling2D()
    dense = keras.layers.Dense(3, activation="softmax")
    inputs = keras.Input((12, 10, 2))
    model = keras.Model(inputs, dense(gap(pool(conv(inputs)))))
    return model, conv, pool, gap, dense


def logits_of(model, dense, x: np.ndarray) -> np.ndarray:
    h = keras.Model(model.inputs[0], dense.input)(x)
    return (np.asarray(h) @ np.asarray(dense.kernel)) + np.asarray(dense.bias)


# --------------------------------------------------------------------------- library


def test_gradcam_equals_a_hand_written_gradient_tape_computation() -> None:
    from dlcli.explain import gradcam

    model, conv, pool, gap, dense = tiny_cnn()
    x = np.random.default_rng(1).normal(size=(3, 12, 10, 2)).astype(np.float32)
    classes = np.array([0, 2, 1])
    got = gradcam(model, x, classes)  # default layer: the last convolution
    want = hand_gradcam([conv], [pool, gap], dense, x, classes)
    assert got.shape == (3, 12, 10) and got.dtype == np.float32
    assert np.abs(got - want).max() < 1e-5
    assert float(want.max()) == pytest.approx(1.0)
    one = gradcam(model, x, 2, layer=pool.name)  # a named layer, one class for all
    assert np.abs(one - hand_gradcam([conv, pool], [gap], dense, x, np.full(3, 2))).max() < 1e-5


def test_gradcam_reaches_a_layer_inside_a_nested_model() -> None:
    from dlcli.explain import gradcam

    keras.utils.set_random_seed(3)
    first = keras.layers.Conv2D(3, 3, padding="same", name="inner_a")
    second = keras.layers.Conv2D(4, 3, activation="relu", name="inner_b")
    block = keras.Sequential([keras.Input((9, 9, 1)), first, second], name="block")
    gap, dense = keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, activation="softmax")
    inputs = keras.Input((9, 9, 1))
    model = keras.Model(inputs, dense(gap(block(inputs))))
    x = np.random.default_rng(2).normal(size=(2, 9, 9, 1)).astype(np.float32)
    classes = np.array([1, 0])
    want = hand_gradcam([first], [second, gap], dense, x, classes)
    assert np.abs(gradcam(model, x, classes, layer="block/inner_a") - want).max() < 1e-5
    assert np.abs(gradcam(model, x, classes, layer="inner_a") - want).max() < 1e-5
    default = hand_gradcam([first, second], [gap], dense, x, classes)
    assert np.abs(gradcam(model, x, classes) - default).max() < 1e-5


def test_saliency_equals_the_hand_written_input_gradient() -> None:
    from dlcli.explain import saliency

    model, conv, pool, gap, dense = tiny_cnn(seed=4)
    x = np.random.default_rng(5).normal(size=(2, 12, 10, 2)).astype(np.float32)
    xt = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        logits = tf.matmul(gap(pool(conv(xt))), dense.kernel) + dense.bias
        score = tf.reduce_sum(logits[:, 1])
    grads = np.abs(tape.gradient(score, xt).numpy()).max(axis=-1)
    want = grads / grads.reshape(2, -1).max(axis=1)[:, None, None]
    got = saliency(model, x, 1)
    assert got.shape == (2, 12, 10)
    assert np.abs(got - want).max() < 1e-5


def test_integrated_gradients_add_up_to_the_score_difference() -> None:
    from dlcli.explain import integrated_gradients, integrated_gradients_attributions

    model, *_, dense = tiny_cnn(seed=6)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 12, 10, 2)).astype(np.float32)
    for baseline in (None, rng.normal(size=(12, 10, 2)).astype(np.float32)):
        base = np.zeros_like(x) if baseline is None else np.broadcast_to(baseline, x.shape)
        attributions = integrated_gradients_attributions(model, x, 2, steps=256, baseline=baseline)
        want = logits_of(model, dense, x)[:, 2] - logits_of(model, dense, base)[:, 2]
        got = attributions.reshape(2, -1).sum(axis=1)
        assert np.allclose(got, want, rtol=1e-2, atol=1e-4), (got, want)  # ReLU kinks
    heat = integrated_gradients(model, x, 2, steps=8)
    assert heat.shape == (2, 12, 10) and heat.min() >= 0.0 and heat.max() == pytest.approx(1.0)


def quadrant_data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """16x16 noise everywhere; class 1 has a bright 4x4 square somewhere in the top-left
    quadrant, class 0 has none: only that quadrant tells the classes apart."""
    x = rng.uniform(0, 120, size=(n, 16, 16, 1)).astype(np.float32)
    y = np.arange(n) % 2
    for i in np.flatnonzero(y):
        r, c = rng.integers(0, 5, size=2)
        x[i, r : r + 4, c : c + 4] = 255.0
    return x, y


def test_gradcam_heat_lies_in_the_quadrant_that_carries_the_class() -> None:
    from dlcli.explain import gradcam

    rng = np.random.default_rng(0)
    x, y = quadrant_data(256, rng)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
            keras.layers.GlobalMaxPooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    test_x, test_y = quadrant_data(40, np.random.default_rng(1))
    accuracy = float(np.mean(np.argmax(model.predict(test_x, verbose=0), axis=1) == test_y))
    assert accuracy >= 0.9  # the model learned the signal; now: where does it look?
    positives = test_x[test_y == 1]
    heat = gradcam(model, positives, 1)
    share = heat[:, :8, :8].sum(axis=(1, 2)) / heat.sum(axis=(1, 2))
    assert float(np.median(share)) > 0.6, share
    assert float(np.mean(share > 0.5)) >= 0.8, share


def test_overlay_blends_the_heat_map_over_a_greyscale_image() -> None:
    from dlcli.explain import overlay

    image = np.zeros((4, 5, 1), dtype=np.float32)
    image[:, :2] = 255.0
    heat = np.zeros((4, 5), dtype=np.float32)
    heat[0, 4] = 1.0
    rgb = overlay(image, heat)
    assert rgb.shape == (4, 5, 3) and rgb.dtype == np.uint8
    # jet: 0 is dark blue (0, 0, 127.5), 1 dark red (127.5, 0, 0); half and half with the image
    for (row, col), want in {
        (1, 0): (128, 128, 191),
        (1, 4): (0, 0, 64),
        (0, 4): (64, 0, 0),
    }.items():
        assert np.abs(rgb[row, col].astype(int) - np.array(want)).max() <= 1


# --------------------------------------------------------------------------- the command


def test_gradcam_looks_inside_a_backbone_at_its_last_feature_maps() -> None:
    from dlcli.explain import gradcam
    from dlcli.explain.targets import gradcam_cut
    from dlcli.modeling.backbones import Backbone

    keras.utils.set_random_seed(8)
    backbone = Backbone("MobileNetV2", pooling="avg", options={"alpha": 0.35}, name="backbone")
    dense = keras.layers.Dense(4, activation="softmax")
    inputs = keras.Input((96, 96, 3))
    model = keras.Model(inputs, dense(backbone(inputs)))
    assert gradcam_cut(model, None).name == "backbone/out_relu"  # not the pooled vector
    x = np.random.default_rng(9).uniform(0, 255, size=(2, 96, 96, 3)).astype(np.float32)
    app = backbone.application
    maps = keras.Model(app.inputs[0], app.get_layer("out_relu").output)
    a = tf.convert_to_tensor(maps(backbone.preprocessing(x)))
    assert a.shape[1:3] == (3, 3)

    def hand(c: int) -> np.ndarray:
        with tf.GradientTape() as tape:
            tape.watch(a)
            pooled = tf.reduce_mean(a, axis=(1, 2))  # the application's average pooling
            score = tf.reduce_sum((tf.matmul(pooled, dense.kernel) + dense.bias)[:, c])
        weights = tape.gradient(score, a).numpy().mean(axis=(1, 2))
        cam = np.maximum(np.einsum("nhwk,nk->nhw", a.numpy(), weights), 0.0)
        return tf.image.resize(cam[..., None], (96, 96), method="bilinear").numpy()[..., 0]

    cams = {c: hand(c) for c in range(4)}
    c = next(c for c, cam in cams.items() if cam.reshape(2, -1).max(axis=1).min() > 0)
    want = cams[c] / cams[c].reshape(2, -1).max(axis=1)[:, None, None]
    assert np.abs(gradcam(model, x, c) - want).max() < 1e-5
