"""Tiny runs for the ``dlcli report`` tests, trained once per session and cached.

- :func:`image_run`: three classes of 16x16 pictures in folders whose names are HTML
  (``<script>alert(1)``, ``<img src=x onerror=alert(1)>``: a folder name cannot hold ``/``),
  a separate validation folder (so the oracle knows which files were scored) where two
  pictures are filed under the wrong class (confident mistakes), and one broken file in the
  training data (``skipped.txt``); a small CNN, 2 epochs.
- :func:`csv_run`: a table whose label column holds ``<script>alert(1)</script>``.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from conftest import make_image_folder
from train_helpers import image_data, write_recipe

SCRIPT_CLASS = "<script>alert(1)"
IMG_CLASS = "<img src=x onerror=alert(1)>"
PLAIN_CLASS = 'plain & "quoted"'
IMAGE_CLASSES = (SCRIPT_CLASS, IMG_CLASS, PLAIN_CLASS)
CSV_SCRIPT_LABEL = "<script>alert(1)</script>"
CNN = [
    {"Rescaling": {"scale": 1 / 255}},
    {"Conv2D": {"filters": 4, "kernel_size": 3, "activation": "relu", "name": "conv"}},
    {"MaxPooling2D": None},
    {"Flatten": None},
    {"Dense": {"units": 3, "activation": "softmax", "name": "probs"}},
]

_CACHE: dict[str, Path] = {}


def train(recipe: Path, out: Path) -> Path:
    from dlcli.cli import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(["train", str(recipe), "--out", str(out)])
    assert code == 0, f"training {recipe} failed"
    return out


def image_run(root: Path) -> Path:
    """The trained image run (see the module docstring); ``root`` is a session temp dir."""
    if "images" not in _CACHE:
        train_dir = make_image_folder(root / "train", classes=IMAGE_CLASSES, per_class=10)
        valid_dir = make_image_folder(root / "valid", classes=IMAGE_CLASSES, per_class=6, seed=1)
        (train_dir / PLAIN_CLASS / "broken.png").write_bytes(b"not a png")
        # Pictures of one class filed under another: mistakes the model is sure of.
        for source, target in ((IMG_CLASS, SCRIPT_CLASS), (PLAIN_CLASS, IMG_CLASS)):
            moved = sorted((valid_dir / source).glob("*.png"))[0]
            moved.rename(valid_dir / target / f"filed_wrong_{moved.name}")
        recipe = write_recipe(
            root / "recipe.yaml",
            data=image_data(train_dir, valid_dir),
            layers=CNN,
            epochs=2,
        )
        _CACHE["images"] = train(recipe, root / "runs" / "images")
    return _CACHE["images"]


def csv_run(root: Path) -> Path:
    if "csv" not in _CACHE:
        import numpy as np

        rng = np.random.default_rng(0)
        lines = ["a,b,c,label"]
        for i in range(40):
            label = CSV_SCRIPT_LABEL if i % 2 else "ok"
            a, b, c = rng.normal(size=3) + (1.5 if i % 2 else 0.0)
            lines.append(f'{a:.4f},{b:.4f},{c:.4f},"{label}"')
        table = root / "table.csv"
        table.write_text("\n".join(lines) + "\n", encoding="utf-8")
        recipe = write_recipe(
            root / "csv.yaml",
            data={"kind": "csv", "train": str(table), "validation_split": 0.25, "batch_size": 8},
            layers=[{"Dense": {"units": 2, "activation": "softmax", "name": "probs"}}],
            epochs=2,
        )
        _CACHE["csv"] = train(recipe, root / "runs" / "csv")
    return _CACHE["csv"]


def make_report(run: Path, out: Path, *extra: str) -> tuple[int, str]:
    """``dlcli report RUN --out OUT``: (exit code, stderr)."""
    from dlcli.cli import main

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(["report", str(run), "--out", str(out), *extra])
    return code, err.getvalue()
