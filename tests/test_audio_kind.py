"""``data.kind: audio`` end to end (issue 15): train on class folders of sound files with
bad files among them (skipped with their reasons, training continues), files at another
rate resampled and counted, predict equal to the model called on the waveform, evaluate,
and the recipe section's checks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import yaml

from dlcli.cli import main

RATE = 8000
SAMPLES = 2000  # 0.25 s
BAD = {
    "truncated.wav": "data",
    "text.wav": "cannot decode sound",
    "empty.wav": "empty file (0 bytes)",
    "huge.wav": "1,000,000,000 frames",
}


def chirp(freq: float, rng: np.random.Generator, rate: int = RATE) -> np.ndarray:
    n = int(rate * rng.uniform(0.15, 0.3))
    t = np.arange(n) / rate
    x = 0.4 * np.sin(2 * np.pi * freq * rng.uniform(0.9, 1.1) * t)
    return (x + 0.05 * rng.standard_normal(n)).astype(np.float32)


def write_folders(root: Path, n: int, seed: int, bad: bool = False) -> None:
    """Two classes: low hum and high whistle; the third file of each class at 11,025 Hz."""
    rng = np.random.default_rng(seed)
    for cls, freq in (("hum", 300.0), ("whistle", 2400.0)):
        folder = root / cls
        folder.mkdir(parents=True)
        for i in range(n):
            rate = 11_025 if i == 2 else RATE
            sf.write(folder / f"{cls}_{i}.wav", chirp(freq, rng, rate), rate, subtype="PCM_16")
    if bad:
        good = (root / "hum" / "hum_0.wav").read_bytes()
        at = good.index(b"data")
        contents = {
            "truncated.wav": good[:30],
            "text.wav": b"not audio at all\n",
            "empty.wav": b"",
            "huge.wav": good[: at + 4] + (2 * 10**9).to_bytes(4, "little") + good[at + 8 :],
        }
        for name, content in contents.items():
            (root / "whistle" / name).write_bytes(content)


def write_recipe(path: Path, train: Path, validation: Path, **data: object) -> Path:
    doc = {
        "name": "tiny_audio",
        "seed": 5,
        "data": {
            "kind": "audio",
            "train": str(train),
            "validation": str(validation),
            "sample_rate": RATE,
            "duration": SAMPLES / RATE,
            "batch_size": 4,
            **data,
        },
        "model": {
            "layers": [
                {
                    "MelSpectrogram": {
                        "sampling_rate": RATE,
                        "fft_length": 128,
                        "sequence_stride": 64,
                        "num_mel_bins": 16,
                        "power_to_db": False,
                    }
                },
                "LogScaling",
                "PerExampleNormalization",
                "GlobalAveragePooling1D",
                {"Dense": {"units": 2, "activation": "softmax", "name": "probs"}},
            ]
        },
        "train": {"epochs": 2, "optimizer": {"name": "adam", "learning_rate": 0.05}},
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("audio")
    write_folders(tmp / "train", 8, seed=0, bad=True)
    write_folders(tmp / "val", 3, seed=1)
    recipe = write_recipe(tmp / "r.yaml", tmp / "train", tmp / "val")
    run = tmp / "run"
    assert main(["train", str(recipe), "--out", str(run), "--quiet"]) == 0
    return run


def test_training_skips_each_bad_file_with_its_reason(trained: Path) -> None:
    skipped = (trained / "skipped.txt").read_text(encoding="utf-8")
    for name, reason in BAD.items():
        line = next(x for x in skipped.splitlines() if name in x)
        assert reason in line, line
    labels = json.loads((trained / "labels.json").read_text())
    assert labels["class_names"] == ["hum", "whistle"]
    assert labels["kind"] == "audio"
    assert (labels["sample_rate"], labels["samples"]) == (RATE, SAMPLES)


def test_resampled_files_are_counted(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_folders(tmp_path / "train", 4, seed=2)
    write_folders(tmp_path / "val", 3, seed=3)
    recipe = write_recipe(tmp_path / "r.yaml", tmp_path / "train", tmp_path / "val")
    assert main(["train", str(recipe), "--out", str(tmp_path / "run"), "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "4 file(s) resampled to 8,000 Hz" in out  # one per class in each split


def _oracle_waveform(path: Path) -> np.ndarray:
    """The clip read with soundfile/soxr directly, padded or center-cropped to length."""
    x, rate = sf.read(path, dtype="float32")
    if rate != RATE:
        x = soxr.resample(x, rate, RATE, "HQ")
    if x.size < SAMPLES:
        return np.pad(x, (0, SAMPLES - x.size))
    start = (x.size - SAMPLES) // 2
    return x[start : start + SAMPLES]


def test_predict_on_sound_files_equals_the_model_called_directly(
    trained: Path, tmp_path: Path
) -> None:
    from dlcli.backend import keras

    files = sorted((trained.parent / "val").rglob("*.wav"))
    out = tmp_path / "pred.csv"
    val = trained.parent / "val"
    code = main(["predict", str(trained), str(val), "--recursive", "--out", str(out)])
    assert code == 0
    rows = {Path(r["path"]).name: r for r in csv.DictReader(out.open())}
    model = keras.saving.load_model(trained / "best.keras", safe_mode=True)
    x = np.stack([_oracle_waveform(p) for p in files])
    probs = keras.ops.convert_to_numpy(model(x, training=False))
    for path, p in zip(files, probs, strict=True):
        row = rows[path.name]
        assert row["label"] == ["hum", "whistle"][int(np.argmax(p))]
        assert float(row["confidence"]) == pytest.approx(float(p.max()), abs=1e-4)


def test_predict_reports_a_bad_file_and_exits_3(trained: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"text, not sound")
    good = next((trained.parent / "val" / "hum").glob("*.wav"))
    out = tmp_path / "p.csv"
    assert main(["predict", str(trained), str(good), str(bad), "--out", str(out)]) == 3
    assert len(list(csv.DictReader(out.open()))) == 1


def test_evaluate_on_a_folder_of_sound_files(trained: Path, capsys: pytest.CaptureFixture) -> None:
    from dlcli.backend import keras

    data = trained.parent / "val"
    capsys.readouterr()
    assert main(["evaluate", str(trained), "--data", str(data), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["num_samples"] == 6
    files = sorted(data.rglob("*.wav"))
    model = keras.saving.load_model(trained / "best.keras", safe_mode=True)
    probs = keras.ops.convert_to_numpy(model(np.stack([_oracle_waveform(p) for p in files])))
    truth = np.array([p.parent.name == "whistle" for p in files], dtype=int)
    assert result["accuracy"] == pytest.approx(float(np.mean(probs.argmax(1) == truth)))


def test_a_bad_audio_section_is_refused_with_its_field(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    write_folders(tmp_path / "t", 2, seed=0)
    recipe = write_recipe(tmp_path / "r.yaml", tmp_path / "t", tmp_path / "t", crop="middle")
    assert main(["validate", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "data.crop" in err and "middle" in err


AUGMENT = [
    {"RandomTimeShift": {"max_shift": 0.2}},
    {"RandomGain": {"gain_db": [-6, 6]}},
    {"RandomNoise": {"snr_db": [5, 20]}},
]


def _weights(run: Path) -> list[np.ndarray]:
    from dlcli.backend import keras

    return keras.saving.load_model(run / "model.keras", safe_mode=True).get_weights()


def test_augmented_training_is_reproducible_with_its_seed(tmp_path: Path) -> None:
    write_folders(tmp_path / "train", 4, seed=6)
    write_folders(tmp_path / "val", 2, seed=7)
    recipe = write_recipe(
        tmp_path / "r.yaml", tmp_path / "train", tmp_path / "val", augment=AUGMENT
    )
    runs = []
    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        run = tmp_path / name
        args = ["train", str(recipe), "--out", str(run), "--quiet", "--set", f"seed={seed}"]
        assert main(args) == 0
        runs.append(_weights(run))
    assert all(np.array_equal(x, y) for x, y in zip(runs[0], runs[1], strict=True))
    assert any(not np.array_equal(x, y) for x, y in zip(runs[0], runs[2], strict=True))


def test_validation_batches_are_the_decoded_files_never_augmented(tmp_path: Path) -> None:
    from dlcli.data import load_datasets
    from dlcli.recipe import load_recipe

    write_folders(tmp_path / "train", 3, seed=8)
    write_folders(tmp_path / "val", 2, seed=9)
    recipe = write_recipe(
        tmp_path / "r.yaml", tmp_path / "train", tmp_path / "val", augment=AUGMENT
    )
    bundle = load_datasets(load_recipe(recipe).data, seed=1)
    assert bundle.augmentation() is not None
    files = sorted((tmp_path / "val").rglob("*.wav"))
    got = np.concatenate([x.numpy() for x, _ in bundle.make_validation(4)])
    np.testing.assert_allclose(got, np.stack([_oracle_waveform(p) for p in files]), atol=1e-6)


def test_inspect_activations_on_a_sound_file_shows_its_spectrogram(
    trained: Path, tmp_path: Path
) -> None:
    from PIL import Image

    from dlcli.backend import keras

    wav = sorted((trained.parent / "val" / "whistle").glob("*.wav"))[0]
    out = tmp_path / "acts"
    assert main(["inspect", str(trained), "--activations", str(wav), "--out", str(out)]) == 0
    assert Image.open(out / "overview.png").size[0] > 0
    mel = np.load(next(out.glob("*_mel_spectrogram.npy")))
    oracle = keras.layers.MelSpectrogram(
        sampling_rate=RATE, fft_length=128, sequence_stride=64, num_mel_bins=16, power_to_db=False
    )(_oracle_waveform(wav)[None])
    np.testing.assert_allclose(mel, keras.ops.convert_to_numpy(oracle)[0], rtol=1e-4, atol=1e-6)
    assert next(out.glob("*_probs.npy")).is_file()


def test_export_keeps_the_spectrogram_inside_or_refuses_naming_the_layer(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pytest.importorskip("tf2onnx")
    for fmt, name in (("saved_model", "sm"), ("tflite", "m.tflite")):
        capsys.readouterr()
        args = ["export", str(trained), "--format", fmt, "--out", str(tmp_path / name)]
        assert main(args) == 0
        assert "parity: max abs diff" in capsys.readouterr().out
    capsys.readouterr()
    args = ["export", str(trained), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "'mel_spectrogram' (MelSpectrogram)" in err and "--format tflite" in err
    assert not (tmp_path / "m.onnx").exists()


def test_the_clip_cache_gives_the_same_batches_as_decoding_every_epoch(
    tmp_path: Path,
) -> None:
    from dlcli.data import load_datasets
    from dlcli.recipe import load_recipe

    write_folders(tmp_path / "train", 3, seed=10)
    batches = {}
    for cache in ("memory", "none"):
        recipe = write_recipe(
            tmp_path / f"{cache}.yaml", tmp_path / "train", tmp_path / "train", cache=cache
        )
        bundle = load_datasets(load_recipe(recipe).data, seed=1)
        assert any(f"clip cache: {cache}" in n.text for n in bundle.notes)
        ds = bundle.make_train_epochs(4, 0, 2, augment=False)
        batches[cache] = np.concatenate([x.numpy() for x, _ in ds])
        if cache == "memory":
            assert len(bundle.train.cache) == 6  # every clip decoded once, kept
    np.testing.assert_array_equal(batches["memory"], batches["none"])
