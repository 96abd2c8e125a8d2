"""Curves and confusion plots: files written atomically, right size, not blank."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from figure_capture import capture_figures
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


# -- curves.png marks the best epoch and an early stop (issue 18) ------------------------------


@pytest.fixture
def saved_figures(monkeypatch: pytest.MonkeyPatch) -> list:
    return capture_figures(monkeypatch)


def _vertical_at(ax, colour: str) -> list[float]:
    """x positions of the vertical lines of ``colour`` in ``ax``."""
    from matplotlib.colors import same_color

    found = []
    for line in ax.lines:
        xs = list(line.get_xdata())
        if len(xs) == 2 and xs[0] == xs[1] and same_color(line.get_color(), colour):
            found.append(float(xs[0]))
    return found


def test_curves_mark_the_best_epoch_and_the_early_stop(tmp_path: Path, saved_figures) -> None:
    from dlcli.viz.plots import CurveMarks, plot_curves

    rng = np.random.default_rng(4)
    val = [1.0, 0.7, 0.45, 0.5, 0.52, 0.6]
    history = [
        {"epoch": i, "loss": 1 / i, "val_loss": v, "accuracy": rng.random(), "val_accuracy": 0.5}
        for i, v in enumerate(val, start=1)
    ]
    best = int(np.argmin(val)) + 1  # the oracle: numpy over the values given
    marks = CurveMarks("val_loss", best, min(val), 6.0, "val_loss", 3)
    plot_curves(history, tmp_path / "curves.png", title="run", marks=marks)
    (fig,) = saved_figures
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["loss", "accuracy"]
    for ax in panels:  # both lines on every metric panel
        assert _vertical_at(ax, "tab:green") == [best]
        assert _vertical_at(ax, "tab:red") == [6.0]
    stars = [ln for ln in panels[0].lines if ln.get_marker() == "*"]
    assert [(float(s.get_xdata()[0]), float(s.get_ydata()[0])) for s in stars] == [(best, 0.45)]
    (key,) = fig.legends  # one key for the marks, below the panels
    legend = [t.get_text() for t in key.get_texts()]
    assert f"best epoch {best}" in legend
    assert "early stop (val_loss, patience 3)" in legend
    assert "best val_loss 0.45 at epoch 3" in fig.get_suptitle()
    assert "stopped early at epoch 6" in fig.get_suptitle()
    pixels = np.asarray(Image.open(tmp_path / "curves.png").convert("RGB"), dtype=int)
    for colour in ((44, 160, 44), (214, 39, 40)):  # tab:green, tab:red drawn in the PNG
        assert np.any(np.all(np.abs(pixels - colour) <= 8, axis=-1))


def test_a_run_with_early_stopping_marks_it_in_curves_png(tmp_path: Path, saved_figures) -> None:
    import csv

    from conftest import make_image_folder
    from train_helpers import image_data, write_recipe

    from dlcli.recipe import load_recipe
    from dlcli.training import TrainOptions, train

    train_dir = make_image_folder(tmp_path / "train", per_class=4, seed=1)
    val_dir = make_image_folder(tmp_path / "val", per_class=2, seed=2)
    # An improvement of 100 is never reached: early stopping ends the run after epoch 2.
    recipe = write_recipe(
        tmp_path / "r.yaml",
        data=image_data(train_dir, val_dir),
        epochs=5,
        early_stopping={"patience": 1, "min_delta": 100.0},
    )
    run = tmp_path / "run"
    train(load_recipe(recipe), TrainOptions(out=run))
    with open(run / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2  # stopped early
    losses = [float(r["val_loss"]) for r in rows]
    best = int(np.argmin(losses)) + 1
    (fig,) = [f for f in saved_figures if f.axes and f.axes[0].get_title() == "loss"]
    loss_panel = fig.axes[0]
    assert _vertical_at(loss_panel, "tab:green") == [best]
    assert _vertical_at(loss_panel, "tab:red") == [2.0]
    assert "stopped early at epoch 2" in fig.get_suptitle()
