"""Static charts: training curves, run-comparison overlays, confusion matrices.

matplotlib is imported inside each function with the Agg backend selected first, so
importing this module costs nothing and works without a display. Every figure is
written through ``dlcli.atomic.atomic_path``: a crash never leaves half a PNG behind.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlcli.atomic import atomic_path

# Columns of history.csv that are bookkeeping, not metrics.
_NOT_METRICS = frozenset({"epoch", "stage", "epoch_time_s", "lr", "learning_rate"})
_LR_KEYS = ("lr", "learning_rate")


def _pyplot() -> Any:
    """matplotlib.pyplot on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def metric_families(history: Sequence[Mapping[str, Any]]) -> list[str]:
    """Base metric names (``loss``, ``accuracy``...) in first-seen order, ``loss`` first.

    ``val_accuracy`` belongs to the ``accuracy`` family so train and validation share a
    subplot.
    """
    families: list[str] = []
    for row in history:
        for key in row:
            if key in _NOT_METRICS:
                continue
            base = key[4:] if key.startswith("val_") else key
            if base and base not in families:
                families.append(base)
    if "loss" in families:
        families.remove("loss")
        families.insert(0, "loss")
    return families


def _epochs(history: Sequence[Mapping[str, Any]]) -> list[float]:
    """The epoch numbers to plot against: the ``epoch`` column, else 1..n."""
    values = [_as_float(row.get("epoch")) for row in history]
    if values and not any(math.isnan(v) for v in values):
        return values
    return [float(i + 1) for i in range(len(history))]


def _lr_series(history: Sequence[Mapping[str, Any]]) -> list[float] | None:
    """The learning rate per epoch, only when it changes (a flat line says nothing)."""
    for key in _LR_KEYS:
        values = [_as_float(row.get(key)) for row in history]
        finite = [v for v in values if not math.isnan(v)]
        if finite and max(finite) != min(finite):
            return values
    return None


def _grid(n: int) -> tuple[int, int]:
    cols = min(n, 3)
    return math.ceil(n / cols), cols


def _save(fig: Any, path: Path, *, dpi: int = 100) -> Path:
    plt = _pyplot()
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi)
    finally:
        plt.close(fig)
    return path


@dataclass(frozen=True)
class CurveMarks:
    """What a run's curves point out: the best epoch of ``monitor`` (what ``best.keras``
    holds) and, when early stopping ended the run, the epoch it stopped at."""

    monitor: str | None = None
    best_epoch: float | None = None
    best_value: float | None = None
    stopped_at: float | None = None  # None: the run was not stopped early
    stop_monitor: str | None = None
    patience: int | None = None

    def headline(self) -> str:
        parts = []
        if self.best_epoch is not None and self.best_value is not None:
            parts.append(f"best {self.monitor} {self.best_value:.4g} at epoch {self.best_epoch:g}")
        if self.stopped_at is not None:
            parts.append(f"stopped early at epoch {self.stopped_at:g}")
        return "; ".join(parts)


_MARKS = ("best ", "early stop")
BEST_COLOUR = "tab:green"
STOP_COLOUR = "tab:red"


def _mark(ax: Any, family: str, marks: CurveMarks, *, first: bool) -> None:
    """The best epoch (dashed, a star on the monitored curve) and an early stop (dotted)."""
    if marks.best_epoch is not None:
        label = f"best epoch {marks.best_epoch:g}" if first else None
        ax.axvline(marks.best_epoch, color=BEST_COLOUR, ls="--", lw=1.2, label=label)
        monitor = marks.monitor or ""
        if marks.best_value is not None and family == (monitor.removeprefix("val_")):
            ax.plot(
                [marks.best_epoch],
                [marks.best_value],
                "*",
                color=BEST_COLOUR,
                ms=12,
                label=f"best {monitor} {marks.best_value:.4g}",
            )
    if marks.stopped_at is not None:
        why = f" ({marks.stop_monitor}, patience {marks.patience})" if marks.patience else ""
        label = f"early stop{why}" if first else None
        ax.axvline(marks.stopped_at, color=STOP_COLOUR, ls=":", lw=1.5, label=label)


def _integer_ticks() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def curves_figure(
    history: list[dict[str, float]], *, title: str | None = None, marks: CurveMarks | None = None
) -> Any:
    """The figure of :func:`plot_curves`, not saved."""
    plt = _pyplot()
    families = metric_families(history)
    lr = _lr_series(history)
    panels = len(families) + (lr is not None)
    rows, cols = _grid(max(panels, 1))
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False, layout="constrained"
    )
    flat = list(axes.flat)
    x = _epochs(history)
    for i, (ax, family) in enumerate(zip(flat, families, strict=False)):
        for key, style, label in ((family, "-", "train"), (f"val_{family}", "--", "validation")):
            y = [_as_float(row.get(key)) for row in history]
            if all(math.isnan(v) for v in y):
                continue
            ax.plot(x, y, style, marker="o" if len(x) < 30 else None, ms=3, label=label)
        ax.legend(fontsize="small")  # train/validation; the marks get one legend below
        if marks is not None:
            _mark(ax, family, marks, first=i == 0)
        ax.set_title(family)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(_integer_ticks())
        ax.grid(alpha=0.3)
    if lr is not None:
        ax = flat[len(families)]
        ax.plot(x, lr, "-", color="tab:gray")
        ax.set_title("learning rate")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(_integer_ticks())
        ax.grid(alpha=0.3)
    if not panels:
        flat[0].text(0.5, 0.5, "no epochs recorded", ha="center", va="center")
    for ax in flat[max(panels, 1) :]:
        ax.set_visible(False)
    handles, labels = flat[0].get_legend_handles_labels()
    marked = [(h, t) for h, t in zip(handles, labels, strict=True) if t.startswith(_MARKS)]
    if marked:
        fig.legend(
            *zip(*marked, strict=True), loc="outside lower center", ncols=3, fontsize="small"
        )
    headline = marks.headline() if marks is not None else ""
    if title or headline:
        fig.suptitle("\n".join(t for t in (title, headline) if t), fontsize="medium")
    return fig


def plot_curves(
    history: list[dict[str, float]],
    path: Path,
    *,
    title: str | None = None,
    marks: CurveMarks | None = None,
) -> Path:
    """Loss and each metric per epoch: one subplot per family, train solid, val dashed.

    ``history`` is one dict per epoch with Keras log keys (``loss``, ``val_loss``,
    ``accuracy``...) and optionally ``epoch``/``lr``/``epoch_time_s``. A changing
    learning rate gets its own subplot. ``marks`` draws the best epoch and an early stop
    on every metric panel and says them in the title. Returns ``path``.
    """
    return _save(curves_figure(history, title=title, marks=marks), path)


def plot_compare(
    histories: Mapping[str, list[dict[str, float]]],
    path: Path,
    *,
    title: str | None = None,
    notes: Mapping[str, str] | None = None,
    footer: str | None = None,
) -> Path:
    """Several runs' curves overlaid: one colour per run, train solid, val dashed.

    ``histories`` maps a run label to its history rows (as for ``plot_curves``). One
    legend under the panels names every run once (a legend per panel with two entries
    per run would cover the curves as soon as there are a few runs), each with its
    ``notes`` entry (what sets it apart: ``learning_rate=0.001``); ``footer`` (the keys
    that differ, or that none does) is the legend's title.
    """
    return _save(compare_figure(histories, title=title, notes=notes, footer=footer), path)


def _all_families(histories: Mapping[str, list[dict[str, float]]]) -> list[str]:
    """Every run's metric families, in the order they first appear."""
    families: list[str] = []
    for rows in histories.values():
        for fam in metric_families(rows):
            if fam not in families:
                families.append(fam)
    return families


def _compare_panel(
    ax: Any, family: str, histories: Mapping[str, list[dict[str, float]]], colours: list[str]
) -> None:
    """One metric family: each run's train (solid) and validation (dashed) curve."""
    for i, (label, hist) in enumerate(histories.items()):
        x = _epochs(hist)
        for key, style, part in ((family, "-", "train"), (f"val_{family}", "--", "val")):
            y = [_as_float(row.get(key)) for row in hist]
            if all(math.isnan(v) for v in y):
                continue
            ax.plot(x, y, style, color=colours[i], label=f"{label} ({part})")
    ax.set_title(family)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(_integer_ticks())
    ax.grid(alpha=0.3)


def compare_figure(
    histories: Mapping[str, list[dict[str, float]]],
    *,
    title: str | None = None,
    notes: Mapping[str, str] | None = None,
    footer: str | None = None,
) -> Any:
    """The figure of :func:`plot_compare`, not saved."""
    plt = _pyplot()
    from matplotlib.lines import Line2D

    families = _all_families(histories)
    rows_n, cols = _grid(max(len(families), 1))
    notes = notes or {}
    # Runs labelled with what sets them apart need the width: one run per legend row then.
    ncols = 1 if any(notes.values()) else 3
    legend_rows = math.ceil((len(histories) + 2) / ncols) + (1 if footer else 0)
    fig, axes = plt.subplots(
        rows_n,
        cols,
        figsize=(4.6 * cols, 3.4 * rows_n + 0.25 * legend_rows + 0.3),
        squeeze=False,
        layout="constrained",
    )
    flat = list(axes.flat)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    handles = [
        Line2D(
            [],
            [],
            color=colours[i % len(colours)],
            label=f"{label}: {notes[label]}" if notes.get(label) else label,
        )
        for i, label in enumerate(histories)
    ]
    for ax, family in zip(flat, families, strict=False):
        _compare_panel(ax, family, histories, [h.get_color() for h in handles])
    if not families:
        flat[0].text(0.5, 0.5, "no epochs recorded", ha="center", va="center")
    for ax in flat[max(len(families), 1) :]:
        ax.set_visible(False)
    handles += [
        Line2D([], [], color="gray", linestyle="-", label="train"),
        Line2D([], [], color="gray", linestyle="--", label="validation"),
    ]
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=ncols,
        fontsize="small",
        title=footer,
        title_fontsize="small",
    )
    if title:
        fig.suptitle(title)
    return fig


def plot_confusion(
    matrix: Any,
    class_names: Sequence[str],
    path: Path,
    *,
    normalize: bool = False,
    title: str | None = None,
) -> Path:
    """A confusion matrix as a heat map: rows are true classes, columns predictions.

    Cells show counts (or row fractions with ``normalize``); the colour is always the
    row fraction so a large class does not wash out the others.
    """
    import numpy as np

    plt = _pyplot()
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] != len(class_names):
        raise ValueError(
            f"confusion matrix must be square with one row per class; "
            f"Received: shape={m.shape}, classes={len(class_names)}"
        )
    totals = m.sum(axis=1, keepdims=True)
    fractions = np.divide(m, totals, out=np.zeros_like(m), where=totals > 0)
    n = len(class_names)
    side = min(max(4.0, 0.55 * n + 2.0), 24.0)
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    image = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    ax.set_xticks(range(n), labels=list(class_names), rotation=45, ha="right")
    ax.set_yticks(range(n), labels=list(class_names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 30:
        shown = fractions if normalize else m
        for i in range(n):
            for j in range(n):
                text = f"{shown[i, j]:.2f}" if normalize else f"{round(shown[i, j])}"
                colour = "white" if fractions[i, j] > 0.5 else "black"
                ax.text(j, i, text, ha="center", va="center", color=colour, fontsize="small")
    ax.set_title(title or "confusion matrix")
    fig.tight_layout()
    return _save(fig, path)
