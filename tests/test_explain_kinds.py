"""``dlcli explain`` on text and sound models: per-token scores that add up, table rows
explained one by one, heat maps over a spectrogram (the model's own, or one computed for a
raw-waveform model), checked against the hand computations of test_explain_methods.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_explain_methods import hand_gradcam, logits_of

from dlcli.backend import keras, tf
from dlcli.cli import main


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from test_text_kind import recipe_text, write_folders

    tmp = tmp_path_factory.mktemp("explain_text")
    write_folders(tmp / "train", 10, seed=0)
    (tmp / "r.yaml").write_text(recipe_text(str(tmp / "train")))
    assert main(["train", str(tmp / "r.yaml"), "--out", str(tmp / "run"), "--quiet"]) == 0
    return tmp / "run"


def test_text_model_scores_each_token_and_they_add_up(text_run: Path, tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    vocabulary = (text_run / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    known = vocabulary[2:7]  # after the padding "" and [UNK]
    doc.write_text(" ".join([*known, "qqqzzz"]), encoding="utf-8")  # unknown: [UNK]
    out = tmp_path / "out"
    assert main(["explain", str(text_run), str(doc), "--out", str(out), "--steps", "128"]) == 0
    record = json.loads((out / "explanations.json").read_text())[0]
    tokens = [t["token"] for t in record["tokens"]]
    assert tokens == [*known, "[UNK]"]
    scores = np.load(out / "doc.npy")
    assert scores.shape == (len(tokens),)
    with Image.open(out / "doc.png") as png:
        assert png.width >= 600 and np.asarray(png.convert("L")).std() > 10

    # Completeness: the token scores add up to the logit change when every embedding row
    # of the document's tokens is zeroed (the baseline), computed here by hand.
    model = keras.saving.load_model(text_run / "best.keras")
    dense = model.layers[-1]
    explained = record["explained"]
    names = json.loads((text_run / "labels.json").read_text())["class_names"]
    c = names.index(explained)
    raw = np.asarray([doc.read_text()], dtype=object)
    full = logits_of(model, dense, raw)[0, c]
    table = model.get_layer("embedding").embeddings
    tokenizer = next(la for la in model.layers if isinstance(la, keras.layers.TextVectorization))
    ids = np.unique(np.asarray(tokenizer(raw))[0])
    blanked = np.asarray(table).copy()
    blanked[ids[ids != 0]] = 0.0
    table.assign(blanked)
    empty = logits_of(model, dense, raw)[0, c]
    assert float(scores.sum()) == pytest.approx(full - empty, rel=1e-2, abs=1e-4)


def test_each_row_of_a_table_is_explained(text_run: Path, tmp_path: Path) -> None:
    table = tmp_path / "docs.csv"
    table.write_text("id,body\n1,cat whisker meow\n2,mast harbour\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["explain", str(text_run), str(table), "--out", str(out), "--text-column", "body"]
    assert main([*args, "--method", "saliency"]) == 0
    records = json.loads((out / "explanations.json").read_text())
    assert [len(r["tokens"]) for r in records] == [3, 2]
    assert sorted(p.name for p in out.glob("*.png")) == ["docs_2.png", "docs_3.png"]


def test_gradcam_on_a_text_model_exits_2_naming_the_methods(
    text_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("hello", encoding="utf-8")
    capsys.readouterr()
    assert main(["explain", str(text_run), str(doc), "--method", "gradcam"]) == 2
    err = capsys.readouterr().err
    assert "integrated gradients" in err and "saliency" in err


@pytest.fixture(scope="module")
def audio_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import yaml
    from test_audio_kind import RATE, SAMPLES, write_folders

    tmp = tmp_path_factory.mktemp("explain_audio")
    write_folders(tmp / "train", 6, seed=0)
    doc = {
        "name": "tiny_audio_cnn",
        "seed": 5,
        "data": {
            "kind": "audio",
            "train": str(tmp / "train"),
            "validation_split": 0.25,
            "sample_rate": RATE,
            "duration": SAMPLES / RATE,
            "batch_size": 4,
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
                {"Reshape": {"target_shape": [16, -1, 1]}},
                {"Conv2D": {"filters": 4, "kernel_size": 3, "activation": "relu"}},
                "GlobalAveragePooling2D",
                {"Dense": {"units": 2, "activation": "softmax"}},
            ]
        },
        "train": {"epochs": 1, "optimizer": {"name": "adam", "learning_rate": 0.05}},
    }
    (tmp / "r.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    assert main(["train", str(tmp / "r.yaml"), "--out", str(tmp / "run"), "--quiet"]) == 0
    return tmp / "run"


def test_sound_model_heat_map_lies_over_its_spectrogram(audio_run: Path, tmp_path: Path) -> None:
    from test_audio_kind import _oracle_waveform

    clip = sorted((audio_run.parent / "train" / "hum").glob("*.wav"))[0]
    out = tmp_path / "out"
    assert main(["explain", str(audio_run), str(clip), "--out", str(out)]) == 0
    heat = np.load(out / f"{clip.stem}.npy")
    model = keras.saving.load_model(audio_run / "best.keras")
    mel, log, norm, reshape, conv, gap, dense = (
        la for la in model.layers if not isinstance(la, keras.layers.InputLayer)
    )
    wave = _oracle_waveform(clip)[None]  # soundfile, padded or center-cropped
    spec = np.asarray(mel(wave))
    assert heat.shape == spec.shape[1:] and heat.shape[0] == 16  # mel bins x frames
    record = json.loads((out / "explanations.json").read_text())[0]
    assert record["layer"] == "conv2d"
    names = json.loads((audio_run / "labels.json").read_text())["class_names"]
    c = np.array([names.index(record["explained"])])
    cam = hand_gradcam([log, norm, reshape, conv], [gap], dense, spec[..., None], c)
    assert np.abs(heat - cam[0]).max() < 1e-4
    with Image.open(out / f"{clip.stem}.png") as png:
        assert np.asarray(png.convert("RGB")).std() > 10


def test_raw_waveform_model_gets_its_time_map_over_a_spectrogram(tmp_path: Path) -> None:
    import yaml
    from test_audio_kind import RATE, SAMPLES, _oracle_waveform, write_folders

    write_folders(tmp_path / "train", 4, seed=0)
    layers = [
        {"Reshape": {"target_shape": [SAMPLES, 1]}},
        {"Conv1D": {"filters": 4, "kernel_size": 9, "strides": 4, "activation": "relu"}},
        "GlobalAveragePooling1D",
        {"Dense": {"units": 2, "activation": "softmax"}},
    ]
    doc = {
        "name": "tiny_wave",
        "seed": 5,
        "data": {
            "kind": "audio",
            "train": str(tmp_path / "train"),
            "validation_split": 0.25,
            "sample_rate": RATE,
            "duration": SAMPLES / RATE,
            "batch_size": 4,
        },
        "model": {"layers": layers},
        "train": {"epochs": 1, "optimizer": {"name": "adam", "learning_rate": 0.01}},
    }
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    assert main(["train", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    clip = sorted((tmp_path / "train" / "whistle").glob("*.wav"))[0]
    out = tmp_path / "out"
    assert main(["explain", str(tmp_path / "run"), str(clip), "--out", str(out)]) == 0
    heat = np.load(out / f"{clip.stem}.npy")
    assert heat.ndim == 2 and np.allclose(heat, heat[:1])  # one value per frame, every bin

    model = keras.saving.load_model(tmp_path / "run" / "best.keras")
    reshape, conv, gap, dense = (
        la for la in model.layers if not isinstance(la, keras.layers.InputLayer)
    )
    wave = _oracle_waveform(clip)[None]  # soundfile, padded or center-cropped
    record = json.loads((out / "explanations.json").read_text())[0]
    names = json.loads((tmp_path / "run" / "labels.json").read_text())["class_names"]
    c = names.index(record["explained"])
    a = conv(reshape(wave))
    with tf.GradientTape() as tape:
        tape.watch(a)
        score = (tf.matmul(gap(a), dense.kernel) + dense.bias)[0, c]
    weights = tape.gradient(score, a).numpy().mean(axis=1)
    cam = np.maximum(np.einsum("ntk,nk->nt", a.numpy(), weights), 0.0)
    frames = heat.shape[1]
    cam = tf.image.resize(cam[:, None, :, None], (1, frames), method="bilinear").numpy()[0, 0, :, 0]
    assert np.abs(heat[0] - cam / cam.max()).max() < 1e-5
    assert record["layer"] == conv.name
