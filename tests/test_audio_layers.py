"""dlcli's audio layers (issue 15): log-scaling and per-example normalisation against NumPy;
augmentations act only when training, are reproducible with a seed, and do what they say
(measured SNR, shifted copies, masked bands); all load back with safe_mode=True."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlcli.backend import keras
from dlcli.modeling.audio_layers import (
    LogScaling,
    PerExampleNormalization,
    RandomGain,
    RandomNoise,
    RandomTimeShift,
    SpecAugment,
)


def waves(batch: int = 4, n: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 100.0
    return (rng.uniform(0.2, 0.8, (batch, 1)) * np.sin(2 * np.pi * t)[None, :]).astype(
        np.float32
    ) + 0.01


def test_log_scaling_and_normalisation_match_numpy() -> None:
    x = np.abs(waves()) + 0.5
    np.testing.assert_allclose(LogScaling(offset=1e-3)(x), np.log(x + 1e-3), rtol=1e-5)
    got = keras.ops.convert_to_numpy(PerExampleNormalization(epsilon=1e-8)(x * 7 + 3))
    ref = x * 7 + 3
    ref = (ref - ref.mean(axis=1, keepdims=True)) / ref.std(axis=1, keepdims=True)
    np.testing.assert_allclose(got, ref, atol=1e-4)


@pytest.mark.parametrize(
    "layer",
    [
        lambda s: RandomGain((-6, 6), seed=s),
        lambda s: RandomNoise((5, 10), seed=s),
        lambda s: RandomTimeShift(0.2, seed=s),
    ],
)
def test_waveform_augmentation_only_when_training_and_reproducible(layer) -> None:
    x = waves()
    assert np.array_equal(keras.ops.convert_to_numpy(layer(1)(x, training=False)), x)
    first = keras.ops.convert_to_numpy(layer(1)(x, training=True))
    again = keras.ops.convert_to_numpy(layer(1)(x, training=True))
    other = keras.ops.convert_to_numpy(layer(2)(x, training=True))
    assert not np.allclose(first, x)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_gain_stays_in_its_decibel_range() -> None:
    x = waves(64)
    out = keras.ops.convert_to_numpy(RandomGain((-6, 3), seed=3)(x, training=True))
    db = 20 * np.log10(np.abs(out[:, 25]) / np.abs(x[:, 25]))
    assert db.min() >= -6.001 and db.max() <= 3.001 and db.max() - db.min() > 3


def test_noise_is_added_at_the_requested_snr() -> None:
    x = waves(32, 4000)
    out = keras.ops.convert_to_numpy(RandomNoise((12, 12), seed=4)(x, training=True))
    noise = out - x
    snr = 10 * np.log10(np.mean(x**2, axis=1) / np.mean(noise**2, axis=1))
    np.testing.assert_allclose(snr, 12.0, atol=0.5)


def test_time_shift_is_a_shifted_copy_padded_with_silence() -> None:
    x = waves(8) + 1.0  # no zero inside the clip: padding shows up as zeros
    out = keras.ops.convert_to_numpy(RandomTimeShift(0.25, seed=5)(x, training=True))
    for row, src in zip(out, x, strict=True):
        candidates = [s for s in range(-100, 101) if np.allclose(row, _shift(src, s))]
        assert len(candidates) == 1, "each row is the input shifted by one amount"


def _shift(x: np.ndarray, s: int) -> np.ndarray:
    out = np.zeros_like(x)
    if s >= 0:
        out[s:] = x[: x.size - s]
    else:
        out[:s] = x[-s:]
    return out


def test_specaugment_masks_bands_with_the_mean_only_when_training() -> None:
    rng = np.random.default_rng(0)
    spec = rng.normal(size=(6, 20, 30)).astype(np.float32) + 5
    layer = SpecAugment(time_masks=1, time_width=6, freq_masks=1, freq_width=4, seed=9)
    assert np.array_equal(keras.ops.convert_to_numpy(layer(spec)), spec)
    out = keras.ops.convert_to_numpy(layer(spec, training=True))
    for got, src in zip(out, spec, strict=True):
        changed = ~np.isclose(got, src)
        cols = np.flatnonzero(changed.all(axis=0))  # frames masked over every mel bin
        rows = np.flatnonzero(changed.all(axis=1))
        assert cols.size <= 6 and rows.size <= 4
        if cols.size:
            assert np.ptp(cols) == cols.size - 1  # one contiguous band
        np.testing.assert_allclose(got[changed], src.mean(), rtol=1e-5)
    assert (~np.isclose(out, spec)).any()


def test_a_model_with_every_audio_layer_loads_in_safe_mode(tmp_path: Path) -> None:
    inp = keras.Input((400,))
    x = RandomNoise((10, 20), seed=1)(RandomGain(seed=1)(RandomTimeShift(0.1, seed=1)(inp)))
    x = keras.layers.MelSpectrogram(
        sampling_rate=8000, fft_length=64, sequence_stride=32, num_mel_bins=8, power_to_db=False
    )(x)
    x = SpecAugment(1, 2, 1, 2, seed=2)(PerExampleNormalization()(LogScaling()(x)))
    out = keras.layers.Dense(2)(keras.layers.Flatten()(x))
    model = keras.Model(inp, out)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = waves(2)
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)
    assert [type(layer).__name__ for layer in loaded.layers[1:4]] == [
        "RandomTimeShift",
        "RandomGain",
        "RandomNoise",
    ]
