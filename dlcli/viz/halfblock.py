"""Pictures in the terminal: two pixels per character cell with the upper half block.

Each cell prints '▀' with the foreground colour set to the upper pixel and the
background colour to the lower one, so an ``H x W`` image takes ``ceil(H/2)`` lines of
``W`` characters at truecolour. Rich downgrades colours on terminals that lack
truecolour support.
"""

from __future__ import annotations

from typing import Any

UPPER_HALF = "▀"


def render_halfblock(rgb: Any) -> Any:
    """A ``rich.text.Text`` showing ``rgb`` (``H x W x 3`` uint8), two rows per line.

    With an odd height the last line's lower half keeps the terminal background.
    """
    import numpy as np
    from rich.color import Color
    from rich.style import Style
    from rich.text import Text

    pixels = np.asarray(rgb)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 array; Received: shape={pixels.shape}")
    pixels = np.clip(pixels, 0, 255).astype(np.uint8)
    height, width = pixels.shape[:2]
    text = Text(no_wrap=True, overflow="crop")
    cache: dict[tuple[int, ...], Style] = {}
    for top in range(0, height, 2):
        if top:
            text.append("\n")
        for col in range(width):
            upper = tuple(int(v) for v in pixels[top, col])
            lower = tuple(int(v) for v in pixels[top + 1, col]) if top + 1 < height else None
            key = upper + (lower or ())
            style = cache.get(key)
            if style is None:
                style = Style(
                    color=Color.from_rgb(*upper),
                    bgcolor=Color.from_rgb(*lower) if lower is not None else None,
                )
                cache[key] = style
            text.append(UPPER_HALF, style=style)
    return text


def colorize(
    values: Any, *, cmap: str = "viridis", vmin: float | None = None, vmax: float | None = None
) -> Any:
    """Map a 2-D array to ``H x W x 3`` uint8 through a matplotlib colour map.

    Scaled to ``[vmin, vmax]`` (default: the array's own range); a constant array maps
    to the bottom colour rather than dividing by zero; NaN pixels are black.
    """
    import matplotlib
    import numpy as np

    data = np.asarray(values, dtype=np.float64)
    finite = data[np.isfinite(data)]
    lo = (float(finite.min()) if finite.size else 0.0) if vmin is None else vmin
    hi = (float(finite.max()) if finite.size else 0.0) if vmax is None else vmax
    span = hi - lo
    scaled = (data - lo) / span if span > 0 else np.zeros_like(data)
    lut = matplotlib.colormaps[cmap]
    rgb = (lut(np.clip(np.nan_to_num(scaled), 0, 1))[..., :3] * 255).round().astype(np.uint8)
    rgb[np.isnan(data)] = 0  # gaps between tiles: black
    return rgb


def fit_width(rgb: Any, max_width: int, *, max_height: int | None = None) -> Any:
    """Nearest-neighbour resize so the picture fits ``max_width`` columns (never upscaled
    past 4x, so tiny maps stay readable without filling the screen)."""
    import numpy as np

    pixels = np.asarray(rgb)
    height, width = pixels.shape[:2]
    scale = min(max_width / width, 4.0)
    if max_height is not None:
        scale = min(scale, max_height / height)
    new_w, new_h = max(1, int(width * scale)), max(1, int(height * scale))
    rows = np.minimum((np.arange(new_h) * height / new_h).astype(int), height - 1)
    cols = np.minimum((np.arange(new_w) * width / new_w).astype(int), width - 1)
    return pixels[rows][:, cols]


def mosaic(maps: Any, *, cols: int, gap: int = 1, fill: float = float("nan")) -> Any:
    """Tile ``N x H x W`` maps into one ``rows*H x cols*W`` array with ``gap`` pixels of
    ``fill`` between tiles (NaN: drawn as the colour map's 'bad' colour after colorize)."""
    import numpy as np

    stack = np.asarray(maps, dtype=np.float64)
    count, height, width = stack.shape
    cols = max(1, min(cols, count))
    rows = -(-count // cols)
    out = np.full((rows * (height + gap) - gap, cols * (width + gap) - gap), fill)
    for i in range(count):
        r, c = divmod(i, cols)
        out[
            r * (height + gap) : r * (height + gap) + height,
            c * (width + gap) : c * (width + gap) + width,
        ] = stack[i]
    return out
