"""A heat map blended over its input, as RGB pixels (for PNGs and the terminal)."""

from __future__ import annotations

import numpy as np

from dlcli.viz.halfblock import colorize

HEAT_CMAP = "jet"  # the Grad-CAM convention: blue cold, red hot
ALPHA = 0.5  # the colour map's share of each pixel


def as_rgb(image: np.ndarray) -> np.ndarray:
    """``H x W``, ``H x W x 1``, RGB or RGBA -> ``H x W x 3`` uint8. Values are taken as 0..255
    when any exceeds 1, else as 0..1 (a float image), and clipped."""
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an H x W (x 1, 3 or 4) image. Received: shape={arr.shape}")
    arr = arr[..., :3]
    if arr.size and float(np.nanmax(arr)) <= 1.0:
        arr = arr * 255.0
    return np.clip(np.nan_to_num(arr), 0, 255).round().astype(np.uint8)


def overlay(image: np.ndarray, heat: np.ndarray, *, alpha: float = ALPHA) -> np.ndarray:
    """``heat`` (``H x W`` in [0, 1]) over ``image`` (same ``H x W``): ``H x W x 3`` uint8.

    Each pixel is ``(1 - alpha) * image + alpha * colour(heat)`` with the ``jet`` colour map
    (blue cold, red hot), the usual way Grad-CAM is shown.
    """
    rgb = as_rgb(image).astype(np.float64)
    heat = np.clip(np.asarray(heat, dtype=np.float64), 0.0, 1.0)
    if heat.shape != rgb.shape[:2]:
        raise ValueError(
            f"heat map and image differ in size. Received: heat={heat.shape}, image={rgb.shape[:2]}"
        )
    colour = colorize(heat, cmap=HEAT_CMAP, vmin=0.0, vmax=1.0).astype(np.float64)
    return np.clip(rgb * (1 - alpha) + colour * alpha, 0, 255).round().astype(np.uint8)
