"""How raw model outputs become probabilities, and the plain/terminal progress output."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from rich.console import Console

from dlcli.prediction.probabilities import (
    BINARY_LOGIT,
    BINARY_SIGMOID,
    LOGITS,
    MULTI_SIGMOID,
    PROBABILITIES,
    OutputConverter,
)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_softmax_outputs_used_as_is(rng) -> None:
    probs = _softmax(rng.normal(size=(5, 4)))
    conv = OutputConverter()
    np.testing.assert_allclose(conv(probs), probs, atol=1e-6)
    assert conv.kind == PROBABILITIES


def test_logits_detected_by_range_and_get_softmax(rng) -> None:
    logits = rng.normal(scale=3, size=(6, 3))
    conv = OutputConverter()
    np.testing.assert_allclose(conv(logits), _softmax(logits), atol=1e-6)
    assert conv.kind == LOGITS
    # The decision sticks: a later batch that happens to look like probabilities is still logits.
    looks_like_probs = np.array([[0.2, 0.3, 0.5]])
    np.testing.assert_allclose(conv(looks_like_probs), _softmax(looks_like_probs), atol=1e-6)


def test_linear_activation_means_logits_even_in_unit_range() -> None:
    z = np.array([[0.2, 0.3, 0.5]])
    conv = OutputConverter(activation="linear")
    np.testing.assert_allclose(conv(z), _softmax(z), atol=1e-6)


def test_single_sigmoid_unit_is_binary() -> None:
    p = np.array([[0.9], [0.2], [0.5]])
    conv = OutputConverter(activation="sigmoid")
    out = conv(p)
    np.testing.assert_allclose(out, np.hstack([1 - p, p]), atol=1e-6)
    assert conv.kind == BINARY_SIGMOID
    assert conv.num_classes(1) == 2


def test_single_logit_unit_gets_sigmoid() -> None:
    z = np.array([[2.0], [-3.0]])
    conv = OutputConverter()
    p = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(conv(z), np.hstack([1 - p, p]), atol=1e-6)
    assert conv.kind == BINARY_LOGIT


def test_several_sigmoid_units_normalised(rng) -> None:
    p = rng.uniform(0.01, 1, size=(4, 5))
    conv = OutputConverter(activation="sigmoid")
    out = conv(p)
    np.testing.assert_allclose(out, p / p.sum(axis=1, keepdims=True), atol=1e-6)
    assert (out.argmax(axis=1) == p.argmax(axis=1)).all()
    assert conv.kind == MULTI_SIGMOID


def test_final_activation_read_from_keras_layers() -> None:
    from dlcli.backend import keras
    from dlcli.prediction.probabilities import final_activation

    def last(layer) -> keras.Model:
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), layer])

    assert final_activation(last(keras.layers.Softmax())) == "softmax"
    assert final_activation(last(keras.layers.Activation("sigmoid"))) == "sigmoid"
    assert final_activation(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])) == (
        "linear"
    )
    assert final_activation(last(keras.layers.Dense(2, activation="relu"))) is None


def test_plain_progress_has_no_carriage_returns_or_colour() -> None:
    from dlcli.render.predict_output import ProgressReporter

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, width=120)
    with ProgressReporter(console, 100, every_s=0.0, noun="images", unit="img") as progress:
        for _ in range(4):
            progress.advance(20)
    text = buf.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert len(lines) == 4
    assert re.match(r"predict: 80/100 images \(80%\), [\d,]+ img/s, ETA \d+:\d\d:\d\d", lines[-1])


def test_terminal_progress_shows_rate_and_eta() -> None:
    from dlcli.render.predict_output import ProgressReporter

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120)
    with ProgressReporter(console, 50, noun="images", unit="img") as progress:
        progress.advance(25)
        progress._progress.refresh()  # type: ignore[union-attr]
    text = buf.getvalue()
    assert "25/50" in text and "img/s" in text and "ETA" in text
