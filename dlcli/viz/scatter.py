"""Predicted against true values of a regression model, one panel per target column."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlcli.viz.plots import _pyplot, _save

MAX_POINTS = 20000  # more points only hide each other; a seeded sample keeps the picture


def plot_scatter(
    true: Any, predicted: Any, columns: Sequence[str], path: Path, *, title: str | None = None
) -> Path:
    import numpy as np

    plt = _pyplot()
    t = np.asarray(true, dtype=float).reshape(len(true), -1)
    p = np.asarray(predicted, dtype=float).reshape(len(predicted), -1)
    if len(t) > MAX_POINTS:
        keep = np.random.default_rng(0).choice(len(t), MAX_POINTS, replace=False)
        t, p = t[keep], p[keep]
    k = t.shape[1]
    fig, axes = plt.subplots(1, k, figsize=(4.5 * k, 4.5), squeeze=False)
    for j, ax in enumerate(axes[0]):
        ax.scatter(t[:, j], p[:, j], s=8, alpha=0.5)
        low = float(min(t[:, j].min(), p[:, j].min())) if len(t) else 0.0
        high = float(max(t[:, j].max(), p[:, j].max())) if len(t) else 1.0
        ax.plot([low, high], [low, high], linestyle="--", color="grey", label="predicted = true")
        ax.set_xlabel(f"true {columns[j]}")
        ax.set_ylabel(f"predicted {columns[j]}")
        ax.legend(loc="upper left", fontsize="small")
    fig.suptitle(title or "predicted vs true")
    fig.tight_layout()
    return _save(fig, path)
