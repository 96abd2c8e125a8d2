"""Terminal previews of layer outputs and kernels; plain summary lines off a terminal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dlcli.viz.activations import LayerActivation, unit_label

MAX_PREVIEW_LINES = 24  # character rows per picture (48 pixel rows)
MAP_LINES = 32  # character rows per feature-map preview (64 pixel rows)
MIN_TILE_PX = 24  # a feature map drawn smaller than this is a smudge: show fewer maps


def _width(console: Any) -> int:
    return max(20, min(console.width, 160) - 2)


def summary_line(act: LayerActivation, class_names: Sequence[str] | None = None) -> str:
    shape = "x".join(str(d) for d in act.shape)
    text = f"{act.name} ({act.type}) {shape}"
    if act.kind == "maps" and act.ranked:
        text += (
            f": top {len(act.ranked)} of {act.shape[-1]} channels by mean activation, "
            f"strongest ch {act.ranked[0]} (mean {act.scores[0]:.4g})"
        )
    elif act.kind == "vector" and act.ranked:
        text += f": strongest unit {act.ranked[0]} ({act.scores[0]:.4g})"
    elif act.kind in ("probabilities", "scores") and act.ranked:
        what = "probability" if act.kind == "probabilities" else "score (logit)"
        label = unit_label(act, act.ranked[0], class_names)
        text += f": top class {label} ({what} {act.scores[0]:.4g})"
    if act.files:
        text += " -> " + ", ".join(act.files)
    return text


@dataclass(frozen=True)
class TileLayout:
    """How many maps the terminal shows, in how many columns, and at what scale."""

    shown: int
    cols: int
    scale: float  # terminal pixels per map pixel


def tile_layout(count: int, map_h: int, map_w: int, width: int, height: int) -> TileLayout:
    """The most maps that fit ``width`` x ``height`` terminal pixels with each tile at least
    ``MIN_TILE_PX`` (or its own size, if smaller) on its short side; for that many, the
    column count that draws them largest. A narrow terminal shows fewer, larger tiles."""
    readable = min(MIN_TILE_PX, map_h, map_w)
    fallback = TileLayout(1, 1, min(width / map_w, height / map_h, 4.0))
    for shown in range(count, 0, -1):
        best: TileLayout | None = None
        for cols in range(1, shown + 1):
            rows = -(-shown // cols)
            full_w, full_h = cols * (map_w + 1) - 1, rows * (map_h + 1) - 1
            scale = min(width / full_w, height / full_h, 4.0)
            if best is None or scale > best.scale:
                best = TileLayout(shown, cols, scale)
        if best is not None and best.scale * min(map_h, map_w) >= readable:
            return best
    return fallback


def _maps_picture(act: LayerActivation, width: int) -> tuple[Any, int]:
    """The strongest maps as half-block text, and how many of them it shows."""
    import numpy as np

    from dlcli.viz.halfblock import colorize, fit_width, mosaic, render_halfblock

    map_h, map_w = act.shape[0], act.shape[1]
    plan = tile_layout(len(act.ranked), map_h, map_w, width, 2 * MAP_LINES)
    maps = np.stack([act.array[..., c] for c in act.ranked[: plan.shown]])
    # Shared scale across tiles, as in the PNG: brightness compares channels.
    lo, hi = float(maps.min()), float(maps.max())
    scaled = (maps - lo) / (hi - lo) if hi > lo else np.zeros_like(maps)
    tiled = mosaic(scaled, cols=plan.cols)
    rgb = colorize(tiled, vmin=0.0, vmax=1.0)
    picture = fit_width(rgb, width, max_height=2 * MAP_LINES)
    return render_halfblock(picture), plan.shown


def _bars(act: LayerActivation, class_names: Sequence[str] | None, width: int) -> Any:
    from rich.text import Text

    labels = [unit_label(act, i, class_names) for i in act.ranked[:10]]
    pad = max(len(label) for label in labels) if labels else 0
    top = max((abs(s) for s in act.scores[:10]), default=1.0) or 1.0
    scale = 1.0 if act.kind == "probabilities" else top
    bar_width = max(10, min(width - pad - 14, 50))
    text = Text()
    for label, score in zip(labels, act.scores[:10], strict=False):
        n = round(bar_width * max(score, 0.0) / scale)
        text.append(f"{label:>{pad}} ")
        text.append("█" * n, style="green" if act.kind == "probabilities" else "cyan")
        text.append(f" {score:.3f}\n")
    text.rstrip()
    return text


def preview_activation(
    act: LayerActivation, console: Any, class_names: Sequence[str] | None = None
) -> None:
    from dlcli.console import is_interactive

    if not is_interactive(console):
        console.print(summary_line(act, class_names), markup=False, highlight=False, soft_wrap=True)
        return
    from rich.markup import escape

    console.print(f"[bold]{escape(summary_line(act, class_names))}[/bold]")
    if act.kind == "maps" and act.ranked:
        picture, shown = _maps_picture(act, _width(console))
        console.print(picture)
        if shown < len(act.ranked):
            note = (
                f"{shown} of the {len(act.ranked)} strongest maps at {console.width} columns"
                " (a wider terminal shows more; the PNG has all)"
            )
            console.print(note, style="dim", markup=False, highlight=False)
    elif act.kind in ("vector", "probabilities", "scores") and act.ranked:
        console.print(_bars(act, class_names, _width(console)))


def preview_filters(tiles: Any, console: Any, title: str) -> None:
    from dlcli.console import is_interactive

    if not is_interactive(console):
        console.print(title, markup=False, highlight=False, soft_wrap=True)
        return
    import numpy as np

    from dlcli.viz.halfblock import colorize, fit_width, mosaic, render_halfblock

    console.print(title, markup=False, highlight=False, soft_wrap=True)
    width = _width(console)
    if tiles.colour:
        arr = np.asarray(tiles.tiles, dtype=np.float64)
        n, kh, kw, _ = arr.shape
        cols = min(n, 16)
        rows = -(-n // cols)
        canvas = np.zeros((rows * (kh + 1) - 1, cols * (kw + 1) - 1, 3))
        for i in range(n):
            r, c = divmod(i, cols)
            k = arr[i]
            lo, hi = k.min(), k.max()
            canvas[r * (kh + 1) : r * (kh + 1) + kh, c * (kw + 1) : c * (kw + 1) + kw] = (
                (k - lo) / (hi - lo) if hi > lo else 0.0
            )
        rgb = (canvas * 255).round().astype(np.uint8)
    else:
        arr = np.asarray(tiles.tiles, dtype=np.float64)
        out_n, in_n, kh, kw = arr.shape
        flat = arr.reshape(out_n * in_n, kh, kw)
        bound = float(np.abs(arr).max()) or 1.0
        # One row per filter; a single input channel packs filters 16 to a row instead.
        cols = in_n if in_n > 1 else min(out_n, 16)
        rgb = colorize(mosaic(flat, cols=cols), cmap="RdBu_r", vmin=-bound, vmax=bound)
    console.print(render_halfblock(fit_width(rgb, width, max_height=4 * MAX_PREVIEW_LINES)))
