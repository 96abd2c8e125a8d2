"""Curves and confusion plots: files written atomically, right size, not blank."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def _history(n: int) -> list[dict[str, float]]:
    return [
        {
            "epoch": i,
            "loss": 1 / i,
            "val_loss": 1.2 / i,
            "accuracy": i / n,
            "val_accuracy": i / (n + 1),
            "lr": 0.01 * 0.5**i,
            "epoch_time_s": 1.0,
        }
        for i in range(1, n + 1)
    ]


def test_plot_curves_families_and_png(tmp_path: Path) -> None:
    from dlcli.viz.plots import metric_families, plot_curves

    history = _history(4)
    assert metric_families(history) == ["loss", "accuracy"]
    out = plot_curves(history, tmp_path / "sub" / "curves.png", title="run")
    image = Image.open(out)
    # 2 metric panels + the changing learning rate = 3 columns of 4.2 in at 100 dpi.
    assert image.size == (420 * 3, 320)
    assert np.asarray(image.convert("L"), dtype=float).var() > 0
    assert [p.name for p in out.parent.iterdir()] == ["curves.png"]  # no temp files left


def test_plot_confusion_and_shape_check(tmp_path: Path) -> None:
    import pytest

    from dlcli.viz.plots import plot_confusion

    out = plot_confusion(np.array([[5, 1], [2, 7]]), ["a", "b"], tmp_path / "cm.png")
    assert np.asarray(Image.open(out).convert("L"), dtype=float).var() > 0
    with pytest.raises(ValueError, match="square"):
        plot_confusion(np.ones((2, 3)), ["a", "b"], tmp_path / "bad.png")
