"""The report's charts: training curves with the best epoch marked, and feature maps.

Drawn with matplotlib (Agg) into a temporary folder and embedded as PNG; sizes are small
(about 100 dpi, a few hundred pixels a side) because the page must stay under 5 MB.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dlcli.report.images import Picture, png_file
from dlcli.viz.plots import _pyplot, _save, metric_families

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_MAP_LAYERS = 8  # feature-map pictures per page (spread over the model's depth)


def curves(
    history: Sequence[dict[str, float]],
    *,
    best_epoch: int | None,
    best_monitor: str | None,
    early_stop: int | None,
) -> Picture | None:
    """Loss and each metric per epoch; the best epoch and an early stop as vertical lines."""
    families = metric_families(history)
    if not history or not families:
        return None
    plt = _pyplot()
    cols = min(len(families), 3)
    rows = math.ceil(len(families) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 3.0 * rows), squeeze=False)
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
    for ax, family in zip(axes.flat, families, strict=False):
        for key, style, label in ((family, "-", "train"), (f"val_{family}", "--", "validation")):
            values = [row.get(key, math.nan) for row in history]
            if all(math.isnan(v) for v in values):
                continue
            ax.plot(epochs, values, style, marker="o" if len(epochs) < 30 else None, ms=3)
            ax.lines[-1].set_label(label)
        _mark(ax, history, family, best_epoch, best_monitor, early_stop)
        ax.set_title(family)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small")
    for ax in list(axes.flat)[len(families) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return _embed(fig)


def _mark(
    ax: Axes,
    history: Sequence[dict[str, float]],
    family: str,
    best_epoch: int | None,
    best_monitor: str | None,
    early_stop: int | None,
) -> None:
    """The best epoch (a line, and a star on the monitored curve) and an early stop."""
    if best_epoch is not None:
        ax.axvline(best_epoch, color="tab:green", lw=1.2, label=f"best epoch {best_epoch}")
        row = next((r for r in history if r.get("epoch") == best_epoch), {})
        if best_monitor in (family, f"val_{family}") and best_monitor in row:
            ax.plot([best_epoch], [row[best_monitor]], "*", color="tab:green", ms=12)
    if early_stop is not None:
        label = f"early stop after {early_stop}"
        ax.axvline(early_stop, color="tab:red", ls=":", lw=1.2, label=label)


@dataclass(frozen=True)
class MapLayers:
    """Pictures of up to :data:`MAX_MAP_LAYERS` of the ``total`` layers with feature maps."""

    pictures: list[Picture]
    total: int


def feature_maps(model: object, x: np.ndarray, class_names: Sequence[str]) -> MapLayers:
    """One picture per layer with feature maps (``H x W x C``) for one input ``x``."""
    from dlcli.viz.activations import compute_activations, inspectable_layers
    from dlcli.viz.figures import save_layer_png

    # Layers whose output has the input's shape (rescaling, normalisation) show the input
    # again, which the gallery already shows.
    same_as_input = tuple(np.shape(x))
    acts = [
        a
        for a in compute_activations(model, x, inspectable_layers(model))
        if a.kind == "maps" and a.shape != same_as_input
    ]
    chosen = _spread(len(acts), MAX_MAP_LAYERS)
    pictures = []
    with tempfile.TemporaryDirectory(prefix="dlcli-report-") as tmp:
        for k in chosen:
            path = Path(tmp) / f"{k}.png"
            save_layer_png(acts[k], path, list(class_names))
            pictures.append(png_file(path))
    return MapLayers(pictures, len(acts))


def _spread(count: int, limit: int) -> list[int]:
    """``limit`` indices out of ``count``, first and last included, evenly spaced."""
    if count <= limit:
        return list(range(count))
    return sorted({round(i * (count - 1) / (limit - 1)) for i in range(limit)})


def _embed(fig: Figure) -> Picture:
    with tempfile.TemporaryDirectory(prefix="dlcli-report-") as tmp:
        path = _save(fig, Path(tmp) / "figure.png")
        return png_file(path)
