"""TensorFlow JPEG fast path for batches of images.

Decoding a JPEG is libjpeg's work either way; Pillow adds per-image Python around it. When
TensorFlow is already loaded (predict, train), plain RGB JPEGs of a batch are decoded in
one TF call instead: libjpeg-turbo with the same integer IDCT, chroma upsampling and DCT
scale as Pillow's ``draft``, so the pixels are Pillow's, bit for bit. That is checked once
per process and DCT scale, on generated baseline and progressive JPEGs; where this TF and
this Pillow disagree, the fast path stays off. Anything else (PNG, CMYK, grayscale,
EXIF-rotated, truncated, a group TF rejects) goes through Pillow in
:mod:`dlcli.data.decode`, which also gives the reasons for bad files. ``DLCLI_TF_JPEG=0``
turns the fast path off.
"""

from __future__ import annotations

import io
import os
import sys
import threading
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

from dlcli.data.decode import _DRAFT_FACTOR, MAX_PIXELS, resize_bilinear, to_uint8

_JPEG_LOCK = threading.Lock()
_jpeg_decoders: dict[int, Callable[[list[bytes]], np.ndarray] | None] = {}  # by DCT scale


def _jpeg_plan(path: str, image_size: tuple[int, int]) -> tuple[bytes, int, int, int] | None:
    """(bytes, DCT scale, decoded height, width) of a plain RGB JPEG, else None (use Pillow)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        if not data.endswith(b"\xff\xd9"):
            return None  # truncated (or trailing bytes): Pillow decides and says why
        with Image.open(io.BytesIO(data)) as img:
            if img.format != "JPEG" or img.mode != "RGB" or len(img.tile) != 1:
                return None
            if img.width * img.height > MAX_PIXELS or img.getexif().get(0x0112, 1) != 1:
                return None
            target_h, target_w = image_size
            if img.width >= _DRAFT_FACTOR * target_w and img.height >= _DRAFT_FACTOR * target_h:
                img.draft("RGB", (target_w, target_h))  # Pillow picks the scale, as below
            scale = img.decoderconfig[0] if img.decoderconfig else 1
            return data, int(scale), img.height, img.width
    except Exception:
        return None


def batch_decode_jpegs(paths: Sequence[str], image_size: tuple[int, int]) -> dict[int, np.ndarray]:
    """Pixels of the plain RGB JPEGs among ``paths`` (by index), decoded by TensorFlow."""
    if not _tf_jpeg_allowed():
        return {}
    groups: dict[tuple[int, int, int], list[tuple[int, bytes]]] = {}
    for i, p in enumerate(paths):
        plan = _jpeg_plan(p, image_size)
        if plan is not None:
            data, scale, h, w = plan
            groups.setdefault((scale, h, w), []).append((i, data))
    out: dict[int, np.ndarray] = {}
    for (scale, h, w), items in groups.items():
        decoder = _tf_jpeg_decoder(scale)
        if decoder is None:
            continue
        try:
            arrays = decoder([data for _, data in items])
        except Exception:
            continue  # a bad file in the group: Pillow decodes each and names the bad one
        if arrays.shape[1:3] != (h, w):
            continue
        same = (h, w) == tuple(image_size)
        for (i, _), arr in zip(items, arrays, strict=True):
            out[i] = arr if same else to_uint8(resize_bilinear(arr, image_size))
    return out


def _tf_jpeg_allowed() -> bool:
    # Never import TensorFlow from here: inspect and export decode single files with Pillow.
    return "dlcli.backend" in sys.modules and os.environ.get("DLCLI_TF_JPEG", "1") != "0"


def _tf_jpeg_decoder(scale: int) -> Callable[[list[bytes]], np.ndarray] | None:
    """The batched TF decoder for one DCT scale, if it matches Pillow here; built once."""
    if scale in _jpeg_decoders:
        return _jpeg_decoders[scale]
    if not _tf_jpeg_allowed():
        return None
    with _JPEG_LOCK:
        if scale not in _jpeg_decoders:
            decoder = _make_tf_jpeg_decoder(scale)
            _jpeg_decoders[scale] = decoder if _tf_matches_pillow(scale, decoder) else None
    return _jpeg_decoders[scale]


def _make_tf_jpeg_decoder(scale: int) -> Callable[[list[bytes]], np.ndarray]:
    from dlcli.backend import tf

    def one(data: object) -> object:
        return tf.io.decode_jpeg(data, channels=3, ratio=scale, dct_method="INTEGER_ACCURATE")

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def many(data: object) -> object:
        return tf.map_fn(
            one,
            data,
            fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
            parallel_iterations=8,
        )

    return lambda items: many(tf.constant(items)).numpy()


def _tf_matches_pillow(scale: int, decode: Callable[[list[bytes]], np.ndarray]) -> bool:
    """Does ``decode`` give Pillow's pixels for baseline and progressive JPEGs at ``scale``?"""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:120, 0:136]
    base = np.stack([xx * 1.7, yy * 2.1, (xx + yy) * 0.9], axis=-1)
    pixels = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
    try:
        for options in ({"quality": 90}, {"quality": 75, "progressive": True, "subsampling": 1}):
            buf = io.BytesIO()
            Image.fromarray(pixels).save(buf, "JPEG", **options)
            data = buf.getvalue()
            with Image.open(io.BytesIO(data)) as img:
                if scale > 1:
                    img.draft("RGB", (img.width // scale, img.height // scale))
                expected = np.asarray(img.convert("RGB"))
            if not np.array_equal(decode([data])[0], expected):
                return False
    except Exception:
        return False
    return True
