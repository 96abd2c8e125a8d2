"""SIGTERM during ``dlcli export``: exit 130 with a message, no hidden staging folder left."""

from __future__ import annotations

import signal
from pathlib import Path

from conftest import make_image_folder
from train_processes import error_lines, start_dlcli, wait_until


def _tiny_model(path: Path) -> Path:
    from dlcli.backend import keras

    model = keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.save(path)
    return path


def test_sigterm_while_exporting_leaves_no_staging_folder(tmp_path: Path):
    model = _tiny_model(tmp_path / "tiny.keras")
    images = make_image_folder(tmp_path / "images", per_class=2)
    dest = tmp_path / "exports"
    dest.mkdir()
    out = dest / "tiny_saved_model"
    proc = start_dlcli(
        "export", str(model), "-f", "saved_model", "--sample", str(images), "--out", str(out),
        cwd=tmp_path,
    )  # fmt: skip
    # The hidden staging folder beside the output exists while the model is converted.
    wait_until(lambda: any(dest.iterdir()), proc, "the staging folder")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert error_lines(err) == ["error: interrupted (SIGTERM)"]
    assert list(dest.iterdir()) == []
