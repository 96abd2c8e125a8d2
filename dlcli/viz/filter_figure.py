"""The picture behind ``inspect --filters``: kernel tiles on a grid laid out in inches.

Every box (title, column labels, tiles, colour bar) gets its own band of the figure,
computed from the number of rows and columns, so a title never runs into the first row
however many tiles there are, and the pixel size is predictable (100 dpi, no
``bbox_inches="tight"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlcli.viz.figures import DPI, grid_shape
from dlcli.viz.plots import _pyplot, _save

TILE_IN = 0.8  # tile side
GAP_IN = 0.12  # between tiles
TITLE_LINE_IN = 0.2  # one line of the figure title
LABEL_IN = 0.22  # one line of tile titles / column labels
CHAR_IN = 0.072  # width of a character of the title (font size "small")


@dataclass(frozen=True)
class FilterGrid:
    """Where each tile goes: ``cells[k] = (row, col, index into the tiles array)``."""

    rows: int
    cols: int
    cells: list[tuple[int, int, Any]]
    by_input: bool  # one column per input channel (else a square grid labelled f<i>)


def filter_grid(shape: Sequence[int], colour: bool) -> FilterGrid:
    """Colour tiles and single-input kernels: a square grid; several inputs: one row per
    filter, one column per input channel."""
    if colour or shape[1] == 1:
        count = shape[0]
        rows, cols = grid_shape(count)
        cells = [(i // cols, i % cols, i if colour else (i, 0)) for i in range(count)]
        return FilterGrid(rows, cols, cells, False)
    rows, cols = shape[0], shape[1]
    return FilterGrid(rows, cols, [(r, c, (r, c)) for r in range(rows) for c in range(cols)], True)


def filters_figure(
    tiles: Any, *, title: str, colour: bool, row_labels: Sequence[str] | None = None
) -> Any:
    """The figure (not saved): see :func:`save_filters_png`."""
    import numpy as np
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    plt = _pyplot()
    arr = np.asarray(tiles, dtype=np.float64)
    grid = filter_grid(arr.shape, colour)
    lines = title.count("\n") + 1
    left = 0.55 if grid.by_input else 0.2  # row labels f<i>
    right = 0.2 if colour else 1.0  # colour bar and its label
    header = 0.15 + lines * TITLE_LINE_IN + 0.1 + LABEL_IN  # title, then column labels
    row_pitch = TILE_IN + GAP_IN + (0 if grid.by_input else LABEL_IN)  # tile titles f<i>
    grid_w = grid.cols * (TILE_IN + GAP_IN) - GAP_IN
    grid_h = grid.rows * row_pitch - GAP_IN - (0 if grid.by_input else LABEL_IN)
    longest = max(len(line) for line in title.splitlines()) if title else 0
    width = max(left + grid_w + right, longest * CHAR_IN + 0.4, 4.0)
    height = header + grid_h + 0.15
    left += (width - (left + grid_w + right)) / 2  # centre the grid when the title is wider
    fig = plt.figure(figsize=(width, height), dpi=DPI)
    bound = float(np.abs(arr).max()) or 1.0
    for r, c, index in grid.cells:
        x = left + c * (TILE_IN + GAP_IN)
        top = height - header - r * row_pitch
        ax = fig.add_axes((x / width, (top - TILE_IN) / height, TILE_IN / width, TILE_IN / height))
        if colour:
            k = arr[index]
            lo, hi = k.min(), k.max()
            ax.imshow((k - lo) / (hi - lo) if hi > lo else np.zeros_like(k))
        else:
            # Diverging and symmetric: positive weights red, negative blue, zero white.
            ax.imshow(arr[index], cmap="RdBu_r", vmin=-bound, vmax=bound)
        ax.set_xticks([])
        ax.set_yticks([])
        if not grid.by_input:
            ax.set_title(f"f{r * grid.cols + c}", fontsize=7, pad=2)
        else:
            if r == 0:
                ax.set_title(f"in {c}", fontsize=7, pad=3)
            if c == 0 and row_labels:
                ax.set_ylabel(row_labels[r], fontsize=7, rotation=0, ha="right", va="center")
    if not colour:
        bar_h = min(grid_h, 3.0)
        bar_x, bar_y = left + grid_w + 0.2, height - header - bar_h
        cax = fig.add_axes((bar_x / width, bar_y / height, 0.15 / width, bar_h / height))
        bar = fig.colorbar(ScalarMappable(Normalize(-bound, bound), "RdBu_r"), cax=cax)
        bar.set_label("weight", fontsize=7)
        bar.ax.tick_params(labelsize=6)
    fig.suptitle(title, fontsize="small", y=1 - 0.12 / height, va="top")
    return fig


def save_filters_png(
    tiles: Any, path: Path, *, title: str, colour: bool, row_labels: Sequence[str] | None = None
) -> Path:
    """Kernel tiles: ``filters x inputs x kh x kw`` (grayscale) or ``n x kh x kw x 3`` (colour).

    Colour tiles and single-input kernels are laid out in a square grid labelled ``f<i>``;
    several inputs give one row per filter (``row_labels``) and one column per input
    channel (``in <i>``). Grayscale tiles share one symmetric scale, shown by a colour bar.
    """
    fig = filters_figure(tiles, title=title, colour=colour, row_labels=row_labels)
    return _save(fig, path, dpi=DPI)
