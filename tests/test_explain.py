"""``dlcli explain`` and :mod:`dlcli.explain` (issue 18): Grad-CAM, saliency and integrated
gradients against hand-written ``tf.GradientTape`` computations on tiny models, a heat map
that finds the one quadrant carrying the class, the command on three shipped digits (the
heat map saved beside each PNG equals the hand computation), text and sound models, and
the usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fixtures_images import DIGITS, digits_model_path, pil_digits
from PIL import Image

from dlcli.backend import keras, tf
from dlcli.cli import main
from dlcli.explain.explainers import Attribution, Explainer

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
    one = gradcam(model, x, 2, layer="max_pooling2d")  # a named layer, one class for all
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


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return digits_model_path(tmp_path_factory)


def three_digits() -> list[Path]:
    return [sorted((DIGITS / "test" / d).glob("*.png"))[0] for d in ("3", "5", "8")]


def test_explain_three_digits_writes_pngs_whose_gradcam_is_the_hand_computation(
    digits_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "explained"
    files = three_digits()
    assert main(["explain", str(digits_model), *map(str, files), "--out", str(out)]) == 0

    model = keras.saving.load_model(digits_model)
    paths, x_all, _ = pil_digits(DIGITS / "test")
    x = np.stack([x_all[paths.index(f)] for f in files])
    predicted = np.argmax(model.predict(x, verbose=0), axis=1)
    rescale, conv, pool, flatten, dense = model.layers
    want = hand_gradcam([rescale, conv], [pool, flatten], dense, x, predicted)
    records = json.loads((out / "explanations.json").read_text(encoding="utf-8"))
    assert [r["path"] for r in records] == [str(f) for f in files]
    for i, f in enumerate(files):
        heat = np.load(out / f"{f.stem}.npy")
        assert heat.shape == (32, 32)
        assert np.abs(heat - want[i]).max() < 1e-5
        assert records[i]["predicted"] == str(predicted[i])
        assert records[i]["layer"] == conv.name and records[i]["method"] == "gradcam"
        assert len(records[i]["top_k"]) == 3
        with Image.open(out / f"{f.stem}.png") as png:
            assert png.format == "PNG" and png.width > 2 * png.height >= 300
            pixels = np.asarray(png.convert("RGB"), dtype=np.float32)
        assert pixels.std() > 20  # not blank
        # the overlay panel holds the heat map's colours: strongly red and blue pixels
        red = (pixels[..., 0] > 150) & (pixels[..., 2] < 80)
        blue = (pixels[..., 2] > 100) & (pixels[..., 0] < 60)
        assert red.sum() > 20 and blue.sum() > 20


def test_explain_other_methods_a_named_class_and_no_overwrite(
    digits_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dlcli.explain import integrated_gradients

    out = tmp_path / "ig"
    first = three_digits()[0]
    args = ["explain", str(digits_model), str(first), "--out", str(out)]
    ig = ["--method", "integrated_gradients", "--class", "7", "--steps", "8", "--top-k", "1"]
    assert main([*args, *ig]) == 0
    model = keras.saving.load_model(digits_model)
    x = np.asarray(Image.open(first), dtype=np.float32)[None, ..., None]
    want = integrated_gradients(model, x, 7, steps=8)[0]
    assert np.abs(np.load(out / f"{first.stem}.npy") - want).max() < 1e-5
    record = json.loads((out / "explanations.json").read_text())[0]
    assert record["explained"] == "7" and record["predicted"] != "7"
    assert [t["label"] for t in record["top_k"]] == [record["predicted"], "7"]  # 7 shown too
    before = (out / f"{first.stem}.png").read_bytes()
    capsys.readouterr()
    assert main([*args, "--method", "saliency"]) == 2  # outputs exist: refused
    assert "--overwrite" in capsys.readouterr().err
    assert (out / f"{first.stem}.png").read_bytes() == before
    assert main([*args, "--method", "saliency", "--overwrite"]) == 0


def test_terminal_preview_is_truecolour_half_blocks_sized_to_the_window(
    digits_model: Path,
) -> None:
    import io
    import re

    from rich.console import Console

    from dlcli.explain.engine import explain_files, prepare
    from dlcli.explain.overlays import overlay
    from dlcli.modeling.loading import resolve_model
    from dlcli.render.explain_output import render_explanation

    loaded = resolve_model(digits_model)
    setup = prepare(loaded, method=None, class_spec=None, layer=None, steps=8)
    (exp,) = next(iter(explain_files(setup, [str(three_digits()[0])]))).explanations
    for width, height in ((60, 20), (200, 60)):
        buf = io.StringIO()
        console = Console(
            file=buf, force_terminal=True, color_system="truecolor", width=width, height=height
        )
        render_explanation(console, exp, [])
        text = buf.getvalue()
        picture = [line for line in text.splitlines() if "▀" in line]
        plain = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in picture]
        assert picture and "38;2;" in text  # truecolour escapes
        assert len(picture) <= height - 8 and max(len(line) for line in plain) <= width
        # the top rows are the overlay's pixels: two per character cell
        rgb = overlay(exp.attribution.picture, exp.attribution.heat)
        scale = len(plain[0]) / rgb.shape[1]
        assert len(picture) == -(-round(rgb.shape[0] * scale) // 2)
    assert len(picture) > 20  # a larger window, a larger picture (up to 4x)
    buf = io.StringIO()
    render_explanation(Console(file=buf, force_terminal=False, width=120), exp, ["a.png"])
    assert "\x1b" not in buf.getvalue() and buf.getvalue().count("\n") == 1


def test_a_bad_input_is_reported_and_skipped(digits_model: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    good = three_digits()[0]
    (inbox / good.name).write_bytes(good.read_bytes())
    (inbox / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    code = main(["explain", str(digits_model), str(inbox), "--out", str(out)])
    assert code == 3
    assert (out / f"{good.stem}.png").is_file() and not (out / "broken.png").exists()
    assert len(json.loads((out / "explanations.json").read_text())) == 1


@pytest.mark.slow
def test_sigint_stops_with_the_summary_of_what_was_written(
    digits_model: Path, tmp_path: Path
) -> None:
    import signal

    from train_processes import error_lines, start_dlcli, wait_until

    out = tmp_path / "out"
    proc = start_dlcli(
        "explain", str(digits_model), str(DIGITS / "test"), "-r", "--out", str(out),
        cwd=tmp_path,
    )  # fmt: skip
    wait_until(lambda: len(list(out.glob("*.png"))) >= 2, proc, "the first pictures")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert error_lines(err) == ["error: interrupted (SIGINT)"]
    records = json.loads((out / "explanations.json").read_text(encoding="utf-8"))
    assert 1 <= len(records) < 360  # the input being saved when stopped may be left out
    assert all(Path(r["png"]).is_file() and Path(r["npy"]).is_file() for r in records)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--class", "eleven"], "unknown class 'eleven'"),
        (["--class", "10"], "an index 0..9"),
        (["--layer", "{conv}x"], "did you mean {conv}"),
        (["--layer", "{dense}"], "Grad-CAM needs feature maps"),
        (["--method", "saliency", "--layer", "{conv}"], "--layer picks Grad-CAM's layer"),
    ],
)
def test_usage_errors_exit_2_saying_what_was_expected(
    digits_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    model = keras.saving.load_model(digits_model)  # layer names depend on the session
    names = {"conv": model.layers[1].name, "dense": model.layers[-1].name}
    extra = [e.format(**names) for e in extra]
    args = ["explain", str(digits_model), str(three_digits()[0]), "--out", str(tmp_path / "o")]
    capsys.readouterr()
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err
    message = message.format(**names)
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_an_unknown_method_exits_2_before_tensorflow_starts(run_dlcli, tmp_path: Path) -> None:
    proc = run_dlcli(
        "explain", "nowhere.keras", "x.png", "--method", "gradcamm",
        env={"DLCLI_DEBUG": ""},
    )  # fmt: skip
    assert proc.returncode == 2
    assert "unknown method 'gradcamm'" in proc.stderr
    assert "gradcam, saliency, integrated_gradients" in proc.stderr
    assert "did you mean gradcam" in proc.stderr


class BrightnessExplainer(Explainer):
    """A toy explainer registered from this test: the heat is the input's own brightness."""

    view = "image"
    methods = ("saliency",)
    default_method = "saliency"

    @classmethod
    def claims(cls, model: object) -> bool:
        return True

    def explain(self, x: np.ndarray, class_index: np.ndarray) -> list[Attribution]:
        return [Attribution(img[..., 0] / img.max(), img) for img in x]


def test_a_registered_explainer_is_used_end_to_end(
    digits_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dlcli.explain import explainers

    monkeypatch.setattr(explainers, "_REGISTERED", [])  # registered for this test only
    explainers.register_explainer(BrightnessExplainer)
    first = three_digits()[0]
    out = tmp_path / "out"
    assert main(["explain", str(digits_model), str(first), "--out", str(out)]) == 0
    pixels = np.asarray(Image.open(first), dtype=np.float32)
    assert np.abs(np.load(out / f"{first.stem}.npy") - pixels / pixels.max()).max() < 1e-6
    assert json.loads((out / "explanations.json").read_text())[0]["method"] == "saliency"


# --------------------------------------------------------------------------- text and sound


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


def test_output_names_are_unique_and_name_table_rows() -> None:
    from dlcli.commands.explain import output_names

    paths = ["a/3/x.png", "a/5/x.png", "b/5/x.png", "t/docs.csv:2", "t/docs.csv:10", "-:4"]
    paths += ["v1.0.png", "v1.1.png"]
    want = ["x", "5_x", "5_x_2", "docs_2", "docs_10", "stdin_4", "v1.0", "v1.1"]
    assert output_names(paths) == want
