"""The shipped audio recipes (speech_cnn, audio_1d): each builds the same network as Keras
written by hand, reads the shipped speech corpus, and trains through the CLI on a slice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dlcli.backend import keras
from dlcli.modeling.audio_layers import LogScaling, PerExampleNormalization, SpecAugment
from dlcli.modeling.builder import build_model
from dlcli.modeling.inputs import recipe_input_shape
from dlcli.recipe import load_recipe

L = keras.layers
RECIPES = Path(__file__).resolve().parent.parent / "recipes"
SPEECH = Path(__file__).resolve().parent.parent / "data" / "speech"


def speech_cnn() -> keras.Model:
    inp = keras.Input((16000,))
    x = L.MelSpectrogram(
        sampling_rate=16000,
        fft_length=512,
        sequence_length=400,
        sequence_stride=160,
        num_mel_bins=40,
        power_to_db=False,
    )(inp)
    x = SpecAugment(1, 8, 1, 4)(PerExampleNormalization()(LogScaling()(x)))
    x = L.Reshape((40, 101, 1))(x)
    for i, filters in enumerate((32, 64, 128)):
        x = L.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = L.BatchNormalization(momentum=0.9)(x)
        if i < 2:
            x = L.MaxPooling2D()(x)
    x = L.Dropout(0.3)(L.GlobalAveragePooling2D()(x))
    return keras.Model(inp, L.Dense(10, activation="softmax")(x))


def audio_1d() -> keras.Model:
    inp = keras.Input((16000,))
    x = PerExampleNormalization()(L.Reshape((16000, 1))(inp))
    for i, (filters, kernel) in enumerate(((32, 80), (32, 3), (64, 3), (64, 3))):
        x = L.Conv1D(filters, kernel, strides=4 if i == 0 else 1, padding="same")(x)
        x = L.Activation("relu")(L.BatchNormalization(momentum=0.9)(x))
        if i < 3:
            x = L.MaxPooling1D(4)(x)
    x = L.GlobalAveragePooling1D()(x)
    return keras.Model(inp, L.Dense(10, activation="softmax")(x))


AUDIO_ORACLES = {"speech_cnn": speech_cnn, "audio_1d": audio_1d}


@pytest.mark.parametrize("name", sorted(AUDIO_ORACLES))
def test_recipe_builds_the_hand_written_network(name: str) -> None:
    recipe = load_recipe(RECIPES / f"{name}.yaml")
    model = build_model(recipe.model, recipe_input_shape(recipe), name=recipe.name)
    oracle = AUDIO_ORACLES[name]()
    assert model.count_params() == oracle.count_params()
    assert [tuple(w.shape) for w in model.weights] == [tuple(w.shape) for w in oracle.weights]
    assert model.output.shape == oracle.output.shape
    # Same weights, same answers on a real clip: the features inside match too.
    model.set_weights(oracle.get_weights())
    import soundfile as sf

    clip, rate = sf.read(next(SPEECH.glob("test/yes/*.wav")), dtype="float32")
    assert rate == 16000 and clip.shape == (16000,)
    np.testing.assert_allclose(model(clip[None]), oracle(clip[None]), atol=1e-5)


def test_the_shipped_corpus_is_what_the_readme_says() -> None:
    import soundfile as sf

    files = sorted(SPEECH.rglob("*.wav"))
    words = sorted(p.name for p in (SPEECH / "train").iterdir())
    assert len(words) >= 8 and sorted(p.name for p in (SPEECH / "test").iterdir()) == words
    assert len(files) >= 300
    assert sum(p.stat().st_size for p in files) < 20 * 2**20
    info = sf.info(files[0])
    assert (info.samplerate, info.channels) == (16000, 1)


def test_speech_cnn_trains_on_a_slice_through_the_cli(tmp_path: Path) -> None:
    from dlcli.cli import main

    for part, keep in (("train", 4), ("test", 2)):
        for word in (SPEECH / part).iterdir():
            (tmp_path / part / word.name).mkdir(parents=True)
            for f in sorted(word.glob("*.wav"))[:keep]:
                shutil.copy(f, tmp_path / part / word.name)
    out = tmp_path / "run"
    args = ["train", str(RECIPES / "speech_cnn.yaml"), "--out", str(out), "--quiet"]
    args += [
        "--set",
        f"data.train={tmp_path / 'train'}",
        "--set",
        f"data.validation={tmp_path / 'test'}",
    ]
    args += ["--set", "train.epochs=2"]
    assert main(args) == 0
    labels = json.loads((out / "labels.json").read_text())
    assert labels["kind"] == "audio" and len(labels["class_names"]) == 10
    assert (out / "model.keras").is_file()
