"""A bare ``.keras`` model (no run folder, no labels.json) is claimed by the one data kind
its layers or input shape say it reads: a spectrogram model is a sound model even with a
``(samples,)`` input, which is also a CSV model's shape; two kinds claiming one model is an
error naming both. ``predict``'s summary counts what the kind predicts (clips, rows)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
import soundfile as sf

from dlcli.cli import main
from dlcli.data.kinds import register_kind, unregister_kind
from dlcli.errors import ModelLoadError
from dlcli.recipe.spec import DataSection

RATE = 8000
SAMPLES = 2000


def _save(layers: list[Any], shape: tuple[int, ...], path: Path) -> Path:
    from dlcli.backend import keras

    inputs = keras.Input(shape)
    x = inputs
    for layer in layers:
        x = layer(x)
    keras.Model(inputs, x).save(path)
    return path


def bare_audio_model(path: Path) -> Path:
    from dlcli.backend import keras

    spectrogram = keras.layers.MelSpectrogram(
        sampling_rate=RATE, fft_length=256, sequence_stride=128, num_mel_bins=16
    )
    dense = keras.layers.Dense(2, activation="softmax")
    return _save([spectrogram, keras.layers.Flatten(), dense], (SAMPLES,), path)


def bare_dense_model(path: Path, features: int = 3) -> Path:
    from dlcli.backend import keras

    return _save([keras.layers.Dense(2, activation="softmax")], (features,), path)


def write_clips(folder: Path, n: int) -> list[Path]:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        t = np.arange(SAMPLES) / RATE
        x = 0.4 * np.sin(2 * np.pi * (300 + 500 * i) * t) + 0.05 * rng.standard_normal(SAMPLES)
        path = folder / f"clip_{i}.wav"
        sf.write(path, x.astype(np.float32), RATE, subtype="FLOAT")
        paths.append(path)
    return paths


def test_a_bare_spectrogram_model_is_a_sound_model(tmp_path: Path) -> None:
    from dlcli.modeling.loading import resolve_model

    loaded = resolve_model(bare_audio_model(tmp_path / "sound.keras"))
    assert loaded.kind.name == "audio"
    prep = loaded.preprocessing
    assert (prep.sample_rate, prep.samples, prep.channels) == (RATE, SAMPLES, "mono")


def test_predict_with_a_bare_sound_model_reads_sound_files_and_counts_clips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dlcli.backend import keras

    model_path = bare_audio_model(tmp_path / "sound.keras")
    clips = write_clips(tmp_path / "clips", 3)
    out = tmp_path / "pred.csv"
    assert main(["predict", str(model_path), str(tmp_path / "clips"), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "predicted 3 clip(s) in " in err and " clips/s)" in err
    assert "image" not in err
    rows = {Path(r["path"]).name: r for r in csv.DictReader(out.open())}
    model = keras.saving.load_model(model_path)
    x = np.stack([sf.read(p, dtype="float32")[0] for p in clips])  # the oracle: soundfile
    probs = keras.ops.convert_to_numpy(model(x, training=False))
    for path, p in zip(clips, probs, strict=True):
        assert float(rows[path.name]["confidence"]) == pytest.approx(float(p.max()), abs=1e-5)


def test_predict_with_a_bare_csv_model_counts_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_path = bare_dense_model(tmp_path / "table.keras")
    data = tmp_path / "rows.csv"
    with data.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["a", "b", "c"])
        writer.writerows([[i, i + 1, i + 2] for i in range(5)])
    out = tmp_path / "pred.csv"
    assert main(["predict", str(model_path), str(data), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "predicted 5 row(s) in " in err and " rows/s)" in err
    assert "image" not in err


class RivalData(DataSection):
    kind: Literal["also-vectors"] = "also-vectors"


def test_two_kinds_claiming_a_bare_model_is_an_error_naming_both(tmp_path: Path) -> None:
    from dlcli.data.kinds import get_kind
    from dlcli.modeling.loading import resolve_model

    # The CSV kind's code under another name: it claims every 1-D input as CSV does.
    attrs = {"name": "also-vectors", "section": RivalData}
    rival = type("RivalKind", (type(get_kind("csv")),), attrs)()
    model_path = bare_dense_model(tmp_path / "vectors.keras")
    register_kind(rival)
    try:
        with pytest.raises(ModelLoadError) as info:
            resolve_model(model_path)
    finally:
        unregister_kind(rival.name)
    text = str(info.value)
    assert "'csv'" in text and "'also-vectors'" in text and "--labels" in text
    assert str(model_path) in text
