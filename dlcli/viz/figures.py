"""PNG pictures of layer outputs and kernels (matplotlib, Agg, written atomically).

Sizes are fixed in inches at 100 dpi without ``bbox_inches="tight"``, so a picture's
pixel size is predictable (tests check it) and the same for every run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlcli.viz.activations import LayerActivation, unit_label
from dlcli.viz.plots import _pyplot, _save

DPI = 100
TILE_IN = 1.5  # inches per feature-map tile


def grid_shape(count: int) -> tuple[int, int]:
    cols = max(1, math.ceil(math.sqrt(count)))
    return math.ceil(count / cols), cols


def _shown_image(image: Any) -> tuple[Any, str | None]:
    """An input image (``H x W x C`` in 0..255) as imshow wants it."""
    import numpy as np

    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        return arr[..., 0] / 255.0, "gray"
    if arr.ndim == 3 and arr.shape[-1] >= 3:
        return np.clip(arr[..., :3] / 255.0, 0, 1), None
    return arr, "viridis"


def _is_waveform(x: Any) -> bool:
    """A sound input: ``(samples,)`` or ``(samples, channels)`` with few channels."""
    shape = getattr(x, "shape", ())
    return len(shape) == 1 or (len(shape) == 2 and shape[1] <= 8 and shape[0] > 8 * shape[1])


def _bar(ax: Any, act: LayerActivation, class_names: Sequence[str] | None) -> None:
    labels = [unit_label(act, i, class_names) for i in act.ranked]
    y = list(range(len(act.ranked)))[::-1]
    colour = "tab:green" if act.kind == "probabilities" else "tab:blue"
    bars = ax.barh(y, act.scores, color=colour)
    ax.set_yticks(y, labels=labels, fontsize="x-small")
    # Each bar carries its value; the axis leaves room for the text past the longest bar.
    ax.bar_label(bars, labels=[f"{s:.3g}" for s in act.scores], padding=2, fontsize=6)
    ax.tick_params(axis="x", labelsize="x-small")
    if act.kind == "probabilities":
        ax.set_xlim(0, 1.35 * max(1.0, max(act.scores, default=1.0)))
        ax.set_xticks([0.0, 0.5, 1.0])
        ax.set_xlabel("probability", fontsize="x-small")
    else:
        lo, hi = min(0.0, *act.scores), max(0.0, *act.scores)
        room = 0.35 * ((hi - lo) or 1.0)
        ax.set_xlim(lo - (room if lo < 0 else 0.0), hi + room)


def _what(act: LayerActivation) -> str:
    shape = "x".join(str(d) for d in act.shape)
    if act.kind == "maps":
        return (
            f"{act.name} ({act.type}) {shape}: {len(act.ranked)} of {act.shape[-1]} "
            "channels, strongest first by mean activation"
        )
    if act.kind == "vector":
        return f"{act.name} ({act.type}) {shape}: top {len(act.ranked)} units by activation"
    if act.kind == "probabilities":
        return f"{act.name} ({act.type}) {shape}: class probabilities"
    if act.kind == "scores":
        return f"{act.name} ({act.type}) {shape}: output scores (logits, no softmax in the model)"
    return f"{act.name} ({act.type}) {shape}"


def layer_figure_size(act: LayerActivation) -> tuple[float, float]:
    """Figure size in inches for one layer's picture (pixels = inches x DPI)."""
    if act.kind == "maps":
        rows, cols = grid_shape(len(act.ranked))
        return max(cols * TILE_IN, 5.0), rows * TILE_IN + 0.6
    if act.kind in ("vector", "probabilities", "scores"):
        return 6.0, 1.2 + 0.25 * max(len(act.ranked), 2)
    return 6.0, 4.0


def save_layer_png(
    act: LayerActivation, path: Path, class_names: Sequence[str] | None = None
) -> Path:
    """One layer's output: feature-map grid, top-unit bars or class probabilities."""
    import numpy as np

    plt = _pyplot()
    fig = plt.figure(figsize=layer_figure_size(act), dpi=DPI)
    if act.kind == "maps":
        rows, cols = grid_shape(len(act.ranked))
        # One shared colour scale, so a bright tile is a strongly activated channel.
        lo = float(min(act.array[..., i].min() for i in act.ranked))
        hi = float(max(act.array[..., i].max() for i in act.ranked))
        for k, (channel, score) in enumerate(zip(act.ranked, act.scores, strict=False)):
            ax = fig.add_subplot(rows, cols, k + 1)
            ax.imshow(act.array[..., channel], cmap="viridis", vmin=lo, vmax=hi or None)
            ax.set_title(f"ch {channel}  mean {score:.3g}", fontsize="x-small")
            ax.set_axis_off()
    elif act.kind in ("vector", "probabilities", "scores"):
        _bar(fig.add_subplot(1, 1, 1), act, class_names)
    else:
        ax = fig.add_subplot(1, 1, 1)
        data = np.asarray(act.array, dtype=np.float64)
        data = data.reshape(data.shape[0], -1) if data.ndim >= 2 else data[None, :]
        ax.imshow(data, cmap="viridis", aspect="auto")
    fig.suptitle(_what(act), fontsize="small")
    bars = act.kind in ("vector", "probabilities", "scores")
    fig.subplots_adjust(
        left=0.25 if act.kind != "maps" else 0.02,
        right=0.98,
        # Bars have an x axis: room for its tick labels and title below the axes.
        bottom=(0.55 if bars else 0.05 * fig.get_figheight()) / fig.get_figheight(),
        top=1 - 0.5 / fig.get_figheight(),
        hspace=0.35,
    )
    return _save(fig, path, dpi=DPI)


def save_overview_png(
    image: Any,
    acts: Sequence[LayerActivation],
    path: Path,
    class_names: Sequence[str] | None = None,
) -> Path:
    """The input and, per layer, its strongest feature map or its top units, in one picture."""
    plt = _pyplot()
    panels = 1 + len(acts)
    cols = min(panels, 5)
    rows = math.ceil(panels / cols)
    fig = plt.figure(figsize=(cols * 2.4, rows * 2.5), dpi=DPI)
    ax = fig.add_subplot(rows, cols, 1)
    if _is_waveform(image):
        ax.plot(image, linewidth=0.4)
        ax.set_title("input (waveform)", fontsize="small")
        ax.tick_params(labelsize=6)
    else:
        shown, cmap = _shown_image(image)
        ax.imshow(shown, cmap=cmap, vmin=0, vmax=1 if cmap == "gray" else None)
        ax.set_title("input", fontsize="small")
        ax.set_axis_off()
    for k, act in enumerate(acts, start=2):
        ax = fig.add_subplot(rows, cols, k)
        shape = "x".join(str(d) for d in act.shape)
        if act.kind == "maps" and act.ranked:
            ch = act.ranked[0]
            ax.imshow(act.array[..., ch], cmap="viridis")
            ax.set_title(f"{act.name}\n{shape}, ch {ch}", fontsize="x-small")
            ax.set_axis_off()
        elif act.kind in ("vector", "probabilities", "scores") and act.ranked:
            keep = 10
            trimmed = LayerActivation(
                act.name, act.type, act.array, act.kind, act.ranked[:keep], act.scores[:keep]
            )
            _bar(ax, trimmed, class_names)
            ax.set_title(f"{act.name}\n{shape}", fontsize="x-small")
            ax.tick_params(labelsize=6)
        elif act.kind == "sequence":  # e.g. a spectrogram: (frequency, time) as a picture
            ax.imshow(act.array, cmap="viridis", aspect="auto", origin="lower")
            ax.set_title(f"{act.name}\n{shape}", fontsize="x-small")
            ax.set_axis_off()
        else:
            ax.text(0.5, 0.5, f"{act.type}\n{shape}", ha="center", va="center", fontsize=7)
            ax.set_title(act.name, fontsize="x-small")
            ax.set_axis_off()
    fig.suptitle(
        "activations (feature maps: strongest channel by mean activation)", fontsize="small"
    )
    fig.tight_layout()
    return _save(fig, path, dpi=DPI)
