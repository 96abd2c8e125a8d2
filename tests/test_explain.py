"""``dlcli explain`` (issue 18) on three shipped digits: the heat map saved beside each PNG
equals the hand computation (test_explain_methods.py), other methods and classes, the
terminal preview, bad inputs, stops and the usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fixtures_images import DIGITS, digits_model_path, pil_digits
from PIL import Image
from test_explain_methods import hand_gradcam

from dlcli.backend import keras
from dlcli.cli import main
from dlcli.explain.explainers import Attribution, Explainer


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
    if "--layer" in extra:  # a layer the model lacks: the error names the model's file
        assert f"error: {digits_model}: --layer" in err


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


def test_output_names_are_unique_and_name_table_rows() -> None:
    from dlcli.commands.explain import output_names

    paths = ["a/3/x.png", "a/5/x.png", "b/5/x.png", "t/docs.csv:2", "t/docs.csv:10", "-:4"]
    paths += ["v1.0.png", "v1.1.png"]
    want = ["x", "5_x", "5_x_2", "docs_2", "docs_10", "stdin_4", "v1.0", "v1.1"]
    assert output_names(paths) == want
