"""Pictures of a hyper-parameter study (matplotlib, Agg, written atomically).

``plot_history``: each finished trial's value by trial number, pruned ones apart, and the
best so far. ``plot_importances``: one bar per parameter. ``plot_parallel``: one axis per
parameter (log axes for log ranges, choices spread evenly) and the value last, one line
per complete trial coloured by its value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dlcli.tuning.events import TrialRow
from dlcli.viz.plots import _pyplot, _save


def plot_history(rows: Sequence[TrialRow], monitor: str, maximize: bool, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    done = [r for r in rows if r.state == "complete" and r.value is not None]
    pruned = [r for r in rows if r.state == "pruned" and r.value is not None]
    ax.scatter([r.number for r in done], [r.value for r in done], label="complete", zorder=3)
    if pruned:
        ax.scatter(
            [r.number for r in pruned],
            [r.value for r in pruned],
            marker="x",
            color="grey",
            label="pruned (last value)",
            zorder=3,
        )
    best: list[float] = []
    for r in sorted(done, key=lambda r: r.number):
        value = float(r.value or 0.0)
        best.append(value if not best else (max if maximize else min)(best[-1], value))
    if best:
        ax.step(
            [r.number for r in sorted(done, key=lambda r: r.number)],
            best,
            where="post",
            color="tab:red",
            label="best so far",
        )
    ax.set_xlabel("trial")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel(monitor)
    ax.set_title(f"Optimisation history ({'higher' if maximize else 'lower'} is better)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    return _save(fig, path)


def plot_importances(importances: Mapping[str, float], path: Path, method: str) -> Path:
    plt = _pyplot()
    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.5 * len(items)))
    ax.barh([k for k, _ in items], [v for _, v in items], color="tab:blue")
    for i, (_, v) in enumerate(items):
        ax.text(v, i, f" {v:.2f}", va="center")
    ax.set_xlabel(f"importance ({method})")
    ax.set_xlim(0, max(1.0, max(v for _, v in items) * 1.15))
    ax.set_title("Hyper-parameter importances")
    fig.tight_layout()
    return _save(fig, path)


def plot_parallel(
    rows: Sequence[TrialRow], keys: Sequence[str], log_keys: set[str], monitor: str, path: Path
) -> Path:
    plt = _pyplot()
    done = [r for r in rows if r.state == "complete" and r.value is not None]
    axes = [*keys, monitor]
    scaled = {k: _scale([r.params.get(k) for r in done], k in log_keys) for k in keys}
    scaled[monitor] = _scale([r.value for r in done], False)
    values = [float(r.value or 0.0) for r in done]
    lo, hi = min(values), max(values)
    cmap = plt.get_cmap("viridis")
    fig, ax = plt.subplots(figsize=(2.2 * len(axes) + 1, 4.5))
    for i, _ in enumerate(done):
        shade = (values[i] - lo) / (hi - lo) if hi > lo else 0.5
        ys = [scaled[k][0][i] for k in axes]
        ax.plot(range(len(axes)), ys, color=cmap(shade), alpha=0.8, marker="o")
    for x, key in enumerate(axes):
        ax.axvline(x, color="black", linewidth=0.8)
        for y, label in scaled[key][1]:
            ax.text(x + 0.03, y, label, fontsize=7, va="center")
    ax.set_xticks(range(len(axes)), [_short(k) for k in axes], fontsize=8)
    ax.set_yticks([])
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(f"Parallel coordinates (colour: {monitor})")
    fig.tight_layout()
    return _save(fig, path)


def _short(key: str, limit: int = 28) -> str:
    return key if len(key) <= limit else "…" + key[-(limit - 1) :]


def _scale(values: list[Any], log: bool) -> tuple[list[float], list[tuple[float, str]]]:
    """Values on 0..1 and tick labels: numbers linearly (or log), anything else by rank."""
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric and values:
        nums = [math.log10(v) if log and v > 0 else float(v) for v in values]
        lo, hi = min(nums), max(nums)
        span = hi - lo or 1.0
        ys = [(n - lo) / span if hi > lo else 0.5 for n in nums]
        ends = sorted({(y, f"{v:.3g}") for y, v in zip(ys, values, strict=True)})
        return ys, [ends[0], ends[-1]] if len(ends) > 1 else ends
    labels = sorted({str(v) for v in values})
    pos = {
        label: (i / (len(labels) - 1) if len(labels) > 1 else 0.5) for i, label in enumerate(labels)
    }
    return [pos[str(v)] for v in values], [(y, label) for label, y in pos.items()]
