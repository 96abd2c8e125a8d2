"""Pictures as ``data:`` URIs: the report is one file, and nothing in it is fetched.

Thumbnails are at most :data:`THUMB_SIDE` pixels on their longer side (a larger input is
shrunk, a smaller one kept: the page scales it up with ``image-rendering: pixelated``),
and each is stored as PNG (exact), or as JPEG when the PNG would pass a few kilobytes and
the JPEG is smaller, so a gallery of photos stays a few kilobytes per picture.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

THUMB_SIDE = 96
JPEG_QUALITY = 85
PNG_LIMIT = 6_000  # bytes: a smaller PNG is kept as it is, exact


@dataclass(frozen=True)
class Picture:
    """An embedded image: its ``data:`` URI, pixel size and encoded size in bytes."""

    uri: str
    width: int
    height: int
    nbytes: int


def pixels_to_uint8(image: np.ndarray) -> np.ndarray:
    """A model input (``H x W x C`` float in 0..255) as ``H x W`` or ``H x W x 3`` uint8."""
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    elif arr.ndim == 3 and arr.shape[-1] > 3:
        arr = arr[..., :3]  # RGBA: the colour, not the transparency
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def thumbnail(image: np.ndarray, side: int = THUMB_SIDE) -> Picture:
    """``image`` (uint8 ``H x W`` or ``H x W x 3``) shrunk to fit ``side`` and embedded."""
    from PIL import Image

    picture = Image.fromarray(np.ascontiguousarray(image))
    if max(picture.size) > side:
        picture.thumbnail((side, side), Image.Resampling.LANCZOS)
    return encode(picture)


def encode(picture: Image.Image) -> Picture:
    """A PIL image as PNG (exact pixels), or as JPEG when that PNG would be large and the
    JPEG is smaller (photographs)."""
    candidates = [("image/png", _save(picture, "PNG"))]
    if len(candidates[0][1]) > PNG_LIMIT and picture.mode in ("RGB", "L"):
        candidates.append(("image/jpeg", _save(picture, "JPEG", quality=JPEG_QUALITY)))
    mime, data = min(candidates, key=lambda c: len(c[1]))
    return Picture(data_uri(data, mime), picture.width, picture.height, len(data))


def png_file(path: Path) -> Picture:
    """A PNG written by matplotlib, embedded as it is."""
    from PIL import Image

    data = Path(path).read_bytes()
    with Image.open(io.BytesIO(data)) as picture:
        width, height = picture.size
    return Picture(data_uri(data, "image/png"), width, height, len(data))


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _save(picture: Image.Image, fmt: str, **options: int) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, optimize=True, **options)
    return buffer.getvalue()
