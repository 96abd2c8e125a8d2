"""Tables whose rows name files: predictions in the order the rows were asked for, a
non-class model evaluated one batch of decoded files at a time, and audio columns decoded
once (the audio kind's waveform cache), not every epoch.

Oracles: the csv module (row order, the target values), Pillow (pixels), plain Keras (the
model), soundfile (samples) and counted file reads.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import make_image_folder
from PIL import Image

from dlcli.cli import main
from dlcli.data import load_datasets
from dlcli.recipe import load_recipe_text

BATCH = 4


def image_table(root: Path, per_class: int = 9) -> tuple[Path, list[dict[str, str]]]:
    """``t.csv`` of ``filename,value`` (value: the picture's mean brightness / 255), one row
    naming a file that is not a picture (decoding it fails; it exists, so it is listed)."""
    make_image_folder(root / "images", per_class=per_class)
    rows = []
    for path in sorted((root / "images").rglob("*.png")):
        mean = float(np.asarray(Image.open(path), dtype=np.float32).mean()) / 255
        rows.append({"filename": path.relative_to(root).as_posix(), "value": f"{mean:.5f}"})
    (root / "images" / "broken.png").write_bytes(b"not a picture")
    rows.insert(5, {"filename": "images/broken.png", "value": "0.5"})
    with (root / "t.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["filename", "value"])
        writer.writeheader()
        writer.writerows(rows)
    return root / "t.csv", rows


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list]:
    root = tmp_path_factory.mktemp("regression")
    table, rows = image_table(root)
    (root / "recipe.yaml").write_text(
        "name: t\nseed: 3\n"
        "data: {kind: table, train: t.csv, label: value, target: regression, batch_size: 4,"
        " validation_split: 0.5}\n"
        "model: {layers: [{Rescaling: {scale: 0.00392}}, {Flatten: {}}, {Dense: {units: 1}}]}\n"
        "train: {epochs: 1, loss: mse}\n"
    )
    run = root / "run"
    assert main(["train", str(root / "recipe.yaml"), "--out", str(run), "--quiet"]) in (0, 3)
    return run, table, rows


def assert_same_scores(got: dict, expected: dict) -> None:
    for key in ("mae", "rmse", "r2", "num_samples"):
        assert got[key] == pytest.approx(expected[key], rel=1e-6), key


class DecodeSpy:
    """Wraps a real decoding function and records how many rows each call decoded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> None:
        self.calls: list[int] = []
        real = getattr(owner, name)

        def spy(*args: object) -> object:
            self.calls.append(len(args[-1]))  # type: ignore[arg-type]
            return real(*args)

        monkeypatch.setattr(owner, name, spy)


def test_evaluate_of_a_regression_table_streams_its_files_in_batches(
    regression_run: tuple[Path, Path, list], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dlcli.backend import keras
    from dlcli.data import table_predict
    from dlcli.evaluation.target_scores import evaluate_target
    from dlcli.modeling.loading import resolve_model

    run, table, rows = regression_run
    loaded = resolve_model(run)
    spy = DecodeSpy(monkeypatch, table_predict, "decode_files")
    streamed = evaluate_target(loaded, data=table, batch_size=BATCH)
    listed = len(rows)  # every row names an existing file; the broken one fails to decode
    assert spy.calls == [BATCH] * (listed // BATCH) + ([listed % BATCH] if listed % BATCH else [])
    assert [s.path for s in streamed.skipped] == [f"{table}:7"]  # CSV line of the 6th row

    whole = evaluate_target(loaded, data=table, batch_size=10_000)  # one batch: no streaming
    assert spy.calls[-1] == listed
    assert_same_scores(streamed.scores, whole.scores)

    # the oracle: plain Keras on Pillow's pixels of the readable rows
    good = [r for r in rows if not r["filename"].endswith("broken.png")]
    root = table.parent
    pixels = np.stack([np.asarray(Image.open(root / r["filename"]).convert("RGB")) for r in good])
    model = keras.saving.load_model(run / "best.keras")
    predicted = np.asarray(model(pixels.astype(np.float32)))[:, 0]
    truth = np.asarray([float(r["value"]) for r in good])
    assert streamed.scores["mae"] == pytest.approx(float(np.mean(np.abs(predicted - truth))), 1e-4)


def test_evaluate_of_a_run_validation_split_streams_its_files_in_batches(
    regression_run: tuple[Path, Path, list], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dlcli.data.table_stream import TableRows
    from dlcli.evaluation.target_scores import evaluate_target
    from dlcli.modeling.loading import resolve_model

    run, _, rows = regression_run
    loaded = resolve_model(run)
    spy = DecodeSpy(monkeypatch, TableRows, "load_files")
    streamed = evaluate_target(loaded, data=None, batch_size=BATCH)
    batches = list(spy.calls)
    whole = evaluate_target(loaded, data=None, batch_size=10_000)  # one batch: no streaming
    split = spy.calls[len(batches) :]
    assert len(split) == 1 and len(rows) // 2 <= split[0] <= len(rows) // 2 + 1
    assert max(batches) == BATCH and sum(batches) == split[0]
    assert_same_scores(streamed.scores, whole.scores)


def test_predict_returns_table_rows_in_the_order_given(
    regression_run: tuple[Path, Path, list], tmp_path: Path
) -> None:
    run, table, _ = regression_run
    other = tmp_path / "u.csv"
    other.write_bytes(table.read_bytes().replace(b"images/", f"{table.parent}/images/".encode()))
    asked = [f"{table}:12", f"{other}:3", f"{table}:4", f"{table}:9", f"{other}:2", f"{table}:3"]
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run), *asked, "--out", str(out)]) == 0
    with out.open(newline="") as fh:
        got = [r["path"] for r in csv.DictReader(fh)]
    assert got == asked


def test_audio_columns_are_decoded_once_not_every_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dlcli.data import audio_read

    rng = np.random.default_rng(4)
    (tmp_path / "s").mkdir()
    lines = ["clip,label"]
    waves = []
    for i in range(6):
        n = 4000 + 800 * (i % 3)  # some clips longer than 0.25 s: center-cropped
        wave = (0.3 * np.sin(np.arange(n) * (0.05 + 0.1 * (i % 2)))).astype(np.float32)
        wave += rng.normal(0, 0.01, n).astype(np.float32)
        sf.write(tmp_path / "s" / f"{i}.wav", wave, 16000, "FLOAT")
        lines.append(f"s/{i}.wav,{'ab'[i % 2]}")
        waves.append(wave)
    (tmp_path / "a.csv").write_text("\n".join(lines) + "\n")
    recipe = load_recipe_text(
        "name: t\ndata: {kind: table, train: a.csv, duration: 0.25, cache: memory}\n"
        "model: {layers: [{Dense: {units: 2, activation: softmax}}]}\n",
        base_dir=tmp_path,
    )
    bundle = load_datasets(recipe.data, seed=0)
    reads: list[str] = []
    real = audio_read.read_sound

    def counted(path: str) -> object:
        reads.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(audio_read, "read_sound", counted)
    epochs = [np.concatenate([x.numpy() for x, _ in bundle.make_train_unshuffled(4)])]
    assert sorted(reads) == [f"{i}.wav" for i in range(6)]  # epoch 1: each file once
    epochs.append(np.concatenate([x.numpy() for x, _ in bundle.make_train_unshuffled(4)]))
    assert len(reads) == 6  # epoch 2: no file read again
    expected = []
    for wave in waves:  # soundfile's samples, center-cropped to 4,000 by hand
        start = (len(wave) - 4000) // 2
        expected.append(wave[start : start + 4000])
    for x in epochs:
        np.testing.assert_allclose(x, np.stack(expected), atol=1e-6)
    assert any("column 'clip': clip cache: memory" in note.text for note in bundle.notes)
