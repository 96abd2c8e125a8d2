"""The export-format registry: a format is one module.

A toy format (the Keras zip under another suffix, ``.kz``) is defined and registered here,
then written by ``dlcli export`` (parity check, metadata sidecar) and run by
``dlcli evaluate``, which recognises the file through the registry. No engine names it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from train_helpers import write_csv, write_recipe

from dlcli.cli import main
from dlcli.modeling.formats import (
    ExportFormat,
    format_of_path,
    get_format,
    register_format,
    unregister_format,
)
from dlcli.modeling.runtimes import Runner, keras_runner


class KerasZipFormat(ExportFormat):
    name = "kzip"
    title = "Keras zip"
    suffix = ".kz"
    aliases = ("keras_zip",)

    def write(self, model: Any, path: Path, *, quantize: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            model.save(Path(tmp) / "m.keras")
            shutil.move(Path(tmp) / "m.keras", path)

    def runner(self, path: Path) -> Runner:
        from dlcli.backend import keras

        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(path, Path(tmp) / "m.keras")
            model = keras.saving.load_model(Path(tmp) / "m.keras", compile=False)
        return keras_runner(model)


@pytest.fixture
def kzip() -> Iterator[ExportFormat]:
    fmt = register_format(KerasZipFormat())
    yield fmt
    unregister_format("kzip")


def test_a_format_registered_in_a_test_module_exports_and_runs(
    kzip: ExportFormat, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dlcli.backend import keras

    data = write_csv(tmp_path / "d.csv", n=40)
    layers = [{"Dense": {"units": 2, "activation": "softmax"}}]
    recipe = write_recipe(
        tmp_path / "r.yaml", data={"kind": "csv", "train": str(data)}, layers=layers
    )
    run = tmp_path / "run"
    assert main(["train", str(recipe), "--out", str(run), "--quiet"]) == 0
    assert get_format("Keras-Zip") is kzip  # aliases, any case

    capsys.readouterr()
    assert main(["export", str(run), "--format", "kzip", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    out = run / "export" / "model.kz"
    assert result["path"] == str(out) and result["max_abs_diff"] <= 1e-6
    meta = json.loads((run / "export" / "model.kz.json").read_text())
    assert (meta["format"], meta["kind"], meta["input"]["layout"]) == ("kzip", "csv", "NF")
    assert format_of_path(out) is kzip

    # evaluate runs the exported file through the registry; compare with Keras by hand.
    assert main(["evaluate", str(out), "--data", str(data), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    model = keras.saving.load_model(run / "best.keras")
    rows = np.loadtxt(data, delimiter=",", skiprows=1, usecols=(0, 1, 2), dtype=np.float32)
    truth = np.asarray([line.rsplit(",", 1)[1] == "yes" for line in data.read_text().split()[1:]])
    expected = float(np.mean(np.argmax(model(rows), axis=-1) == truth.astype(int)))
    assert got["num_samples"] == 40 and got["accuracy"] == pytest.approx(expected)

    assert main(["export", str(run), "--format", "kzip", "--quantize", "float16"]) == 2
    assert "applies to tflite only" in capsys.readouterr().err


def test_unknown_format_suggests_a_registered_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "nowhere", "--format", "tflit"]) == 2
    err = capsys.readouterr().err
    assert "unknown export format" in err and "did you mean 'tflite'" in err
