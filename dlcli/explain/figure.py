"""One PNG per explained input: the input, the attribution over it, the top classes.

Images and spectrograms: three panels (the input, the heat map blended over it, the top-k
probabilities with the explained class marked). Text: the document's tokens, each on a
background coloured by its score (green towards the explained class, red against), over
the top-k panel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dlcli.explain.engine import Explanation
from dlcli.explain.methods import DESCRIPTIONS
from dlcli.explain.overlays import HEAT_CMAP, as_rgb, overlay

DPI = 100
LINE_CHARS = 80  # token lines wrap here (about the axes width in 10-point monospace)
TOKEN_CMAP = "RdYlGn"


def picture_rgb(exp: Explanation) -> np.ndarray:
    """The input as RGB pixels (a spectrogram scaled to its own range, low frequencies at
    the bottom)."""
    picture = exp.attribution.picture
    if exp.view == "spectrogram":
        return as_rgb(_unit(picture))[::-1]
    return as_rgb(picture)


def overlay_rgb(exp: Explanation) -> np.ndarray:
    heat = exp.attribution.heat
    if exp.view == "spectrogram":
        return overlay(_unit(exp.attribution.picture)[::-1], heat[::-1])
    return overlay(exp.attribution.picture, heat)


def _unit(values: np.ndarray) -> np.ndarray:
    lo, hi = float(np.min(values)), float(np.max(values))
    return (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)


def _method_name(exp: Explanation) -> str:
    return DESCRIPTIONS[exp.method].split(":")[0]


def title(exp: Explanation) -> str:
    how = _method_name(exp)
    where = f" at {exp.layer}" if exp.layer else ""
    p = float(exp.probabilities[exp.explained])
    return f"{Path(exp.path).name}: {how}{where} for '{exp.explained_name}' (p={p:.3f})"


def save_png(exp: Explanation, path: Path) -> Path:
    from dlcli.viz.plots import _pyplot, _save

    plt = _pyplot()
    draw = _token_figure if exp.view == "token" else _picture_figure
    fig = draw(plt, exp)
    return _save(fig, path, dpi=DPI)


def _picture_figure(plt: Any, exp: Explanation) -> Any:
    fig, axes = plt.subplots(
        1, 3, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1, 1, 0.9]}, layout="constrained"
    )
    aspect = "auto" if exp.view == "spectrogram" else "equal"
    axes[0].imshow(picture_rgb(exp), interpolation="nearest", aspect=aspect)
    axes[0].set_title(exp.attribution.picture_label or "input", fontsize=9)
    shown = axes[1].imshow(overlay_rgb(exp), interpolation="nearest", aspect=aspect)
    axes[1].set_title(f"{_method_name(exp)} for '{exp.explained_name}'", fontsize=9)
    for ax in axes[:2]:
        ax.set_xticks([])
        ax.set_yticks([])
    if exp.view == "spectrogram":
        axes[0].set_xlabel("time", fontsize=8)
        axes[0].set_ylabel("frequency", fontsize=8)
    shown.set_cmap(HEAT_CMAP)  # the colour bar shows the heat scale, 0..1
    shown.set_clim(0.0, 1.0)
    bar = fig.colorbar(
        plt.cm.ScalarMappable(cmap=HEAT_CMAP, norm=plt.Normalize(0, 1)),
        ax=axes[1],
        fraction=0.046,
    )
    bar.ax.tick_params(labelsize=7)
    _top_k(axes[2], exp)
    fig.suptitle(title(exp), fontsize=10)
    return fig


def _top_k(ax: Any, exp: Explanation) -> None:
    names = [name for name, _ in exp.top_k]
    probs = [p for _, p in exp.top_k]
    colours = ["#d9534f" if n == exp.explained_name else "#2a7fbf" for n in names]
    rows = np.arange(len(names))
    ax.barh(rows, probs, color=colours)
    ax.set_yticks(rows)
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.18)
    ax.set_xlabel("probability", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    for row, p in zip(rows, probs, strict=True):
        ax.text(p + 0.02, row, f"{p:.3f}", va="center", fontsize=8)
    ax.set_title(f"top {len(names)} (red: explained)", fontsize=9)


def token_lines(tokens: list[str], width: int = LINE_CHARS) -> list[list[int]]:
    """Token indices per line, wrapped at ``width`` characters."""
    lines: list[list[int]] = [[]]
    used = 0
    for i, token in enumerate(tokens):
        size = len(token) + 1
        if lines[-1] and used + size > width:
            lines.append([])
            used = 0
        lines[-1].append(i)
        used += size
    return lines


def _token_figure(plt: Any, exp: Explanation) -> Any:
    from matplotlib import colormaps

    tokens = exp.attribution.tokens or ["(no known token)"]
    scores = np.asarray(exp.attribution.heat, dtype=np.float64)
    bound = float(np.max(np.abs(scores))) if scores.size else 0.0
    lines = token_lines(tokens)
    text_height = 0.32 * len(lines) + 0.6
    fig = plt.figure(figsize=(9, text_height + 0.35 * len(exp.top_k) + 1.2))
    grid = fig.add_gridspec(2, 1, height_ratios=[text_height, 0.35 * len(exp.top_k) + 0.6])
    ax = fig.add_subplot(grid[0])
    ax.set_xlim(0, LINE_CHARS)
    ax.set_ylim(len(lines), -0.6)
    ax.axis("off")
    cmap = colormaps[TOKEN_CMAP]
    for row, line in enumerate(lines):
        col = 0
        for i in line:
            score = float(scores[i]) if i < len(scores) else 0.0
            level = 0.5 + 0.5 * score / bound if bound > 0 else 0.5
            ax.text(
                col,
                row,
                tokens[i],
                family="monospace",
                fontsize=10,
                va="center",
                bbox={"facecolor": cmap(level), "edgecolor": "none", "pad": 1.5},
            )
            col += len(tokens[i]) + 1
    ax.set_title(
        f"{_method_name(exp)} per token for '{exp.explained_name}' "
        f"(green: towards it, red: against; largest |score| {bound:.3g})",
        fontsize=9,
    )
    _top_k(fig.add_subplot(grid[1]), exp)
    fig.suptitle(title(exp), fontsize=10)
    fig.tight_layout()
    return fig
