"""The one image decoder, shared by training and ``dlcli predict``.

A model must see the same pixels at predict time as in training, so both go through
:func:`decode_pixels`: ``H x W x C`` uint8 pixels (what training streams and caches) or a
:class:`SkippedFile` saying why the file could not be used; it never raises for a bad file.
:func:`decode_image` is the same pixels as float32 in 0..255 (the model's input: its own
``Rescaling`` layer scales, as in the Keras tutorials).

Choices, stated once:

- EXIF orientation is applied (phone photos come out upright).
- Colour: palette, CMYK, 1-bit, LA/RGBA are converted with Pillow (grayscale uses ITU-R
  601-2 luma, as ``keras.utils.load_img``). 16-bit images (``I;16``, ``I``) are scaled by
  255/65535, never clipped. Alpha is *dropped* for ``rgb``/``grayscale`` (the colour under a
  transparent pixel is kept), which is what Keras' ``load_img`` and ``tf.io.decode_image``
  do; ``rgba`` keeps it (opaque images get alpha 255).
- Resizing: bilinear with half-pixel centres and no antialiasing, computed in NumPy to
  match ``tf.image.resize(..., "bilinear")`` as used by ``image_dataset_from_directory``
  (identity when the image already has the target size), then rounded to the nearest
  integer (8-bit pixels, so training can cache them at a byte each). JPEGs at least 4x
  larger than the target in both directions are first decoded at reduced scale
  (``Image.draft``, DCT scaling), which is much faster and closer to an area average than
  plain bilinear.
- Images over :data:`MAX_PIXELS` are refused as possible decompression bombs.
- 16-bit images end up 8-bit too (scaled, then rounded).
- Speed: when TensorFlow is already loaded, :func:`iter_decoded_batches` decodes the plain
  RGB JPEGs of each batch in one TF call, which gives Pillow's pixels bit for bit (checked
  once per process, else off; ``DLCLI_TF_JPEG=0`` turns it off). Everything else, and every
  file TF rejects, goes through Pillow.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Listing sources lives in dlcli.data.listing; these names stay importable from here.
from dlcli.data.listing import IMAGE_EXTENSIONS
from dlcli.data.listing import SkippedFile as SkippedFile
from dlcli.data.listing import find_images as find_images
from dlcli.data.listing import is_hidden as is_hidden
from dlcli.data.listing import walk as _walk  # noqa: F401  (dlcli.data.images uses it)
from dlcli.recipe.spec import CHANNELS_BY_COLOR_MODE

MAX_PIXELS = 64_000_000  # 8000 x 8000; larger headers are treated as decompression bombs
INTERPOLATION = "bilinear"
INTERPOLATIONS = (INTERPOLATION,)  # the resize methods decode_image implements
_DRAFT_FACTOR = 4

# MAX_PIXELS is below Pillow's own warning threshold and enforced by decode_image, so
# Pillow's warning would only repeat our refusal. (A filter set once here rather than
# ``warnings.catch_warnings`` per file: that is not thread-safe and we decode on threads.)
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


@dataclass
class DecodedBatch:
    """Decoded images in input order; ``paths[i]`` is the file of ``images[i]``."""

    images: np.ndarray
    paths: list[str]
    errors: list[SkippedFile] = field(default_factory=list)


def channels_for(color_mode: str) -> int:
    try:
        return CHANNELS_BY_COLOR_MODE[color_mode]
    except KeyError:
        raise ValueError(
            f"color_mode must be one of {sorted(CHANNELS_BY_COLOR_MODE)}. "
            f"Received: color_mode={color_mode!r}"
        ) from None


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        if exc.start < len(head) - 3:
            return False
    return True


def _to_mode(img: Image.Image, color_mode: str) -> np.ndarray:
    """Convert any Pillow mode to an H x W x C array in 0..255 (uint8, float32 for 16-bit)."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float32)
        # PNG/TIFF 16-bit data come in as I;16 or I (32-bit int holding 0..65535).
        arr = arr * (255.0 / 65535.0)
        arr = np.clip(arr, 0.0, 255.0)[..., None]
        if color_mode == "grayscale":
            return arr
        rgb = np.repeat(arr, 3, axis=-1)
        if color_mode == "rgb":
            return rgb
        return np.concatenate([rgb, np.full_like(arr, 255.0)], axis=-1)
    if mode == "F":
        arr = np.clip(np.asarray(img, dtype=np.float32), 0.0, 255.0)
        img = Image.fromarray(arr.astype(np.uint8), mode="L")
    elif mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "PA":
        img = img.convert("RGBA")
    target = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}[color_mode]
    if img.mode != target:
        if color_mode == "grayscale" and img.mode in ("RGBA", "LA", "CMYK", "YCbCr", "1"):
            img = img.convert("RGB") if img.mode != "1" else img
        img = img.convert(target)
    arr = np.asarray(img)  # uint8; resize_bilinear converts to float32
    return arr[..., None] if arr.ndim == 2 else arr


@functools.lru_cache(maxsize=64)
def _axis_weights(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights of TF's half-pixel-centre bilinear resize along one axis."""
    scale = in_size / out_size
    pos = (np.arange(out_size, dtype=np.float64) + 0.5) * scale - 0.5
    floor = np.floor(pos)
    lerp = (pos - floor).astype(np.float32)
    lo = np.clip(floor, 0, in_size - 1).astype(np.intp)
    hi = np.clip(floor + 1, 0, in_size - 1).astype(np.intp)
    return lo, hi, lerp


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """Round float pixels to the nearest integer in 0..255 (uint8 input is returned as is)."""
    if arr.dtype == np.uint8:
        return arr
    return np.clip(np.rint(arr), 0.0, 255.0).astype(np.uint8)


def resize_bilinear(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize H x W x C like ``tf.image.resize(method="bilinear", antialias=False)``.

    Accepts uint8 or float input and returns float32. Rows are gathered from the input
    dtype before converting, so a large photo shrunk to a small target costs little more
    than the rows it actually uses.
    """
    out_h, out_w = size
    in_h, in_w = arr.shape[:2]
    if (in_h, in_w) == (out_h, out_w):
        return arr.astype(np.float32, copy=False)
    if in_h != out_h:
        lo, hi, w = _axis_weights(in_h, out_h)
        top = np.take(arr, lo, axis=0).astype(np.float32)
        bottom = np.take(arr, hi, axis=0).astype(np.float32)
        bottom -= top
        bottom *= w[:, None, None]
        top += bottom
        arr = top
    if in_w != out_w:
        lo, hi, w = _axis_weights(in_w, out_w)
        left = np.take(arr, lo, axis=1).astype(np.float32)
        right = np.take(arr, hi, axis=1).astype(np.float32)
        right -= left
        right *= w[None, :, None]
        left += right
        arr = left
    return arr.astype(np.float32, copy=False)


def _open_reason(path: str, head: bytes, exc: Exception) -> str:
    if _looks_like_text(head):
        return "not an image (looks like text)"
    ext = os.path.splitext(path)[1].lower()
    if ext in IMAGE_EXTENSIONS:
        return f"not an image or unsupported format (content is not valid {ext[1:].upper()})"
    return f"unsupported format ({exc.__class__.__name__})"


def decode_image(
    path: str | os.PathLike[str], image_size: tuple[int, int], color_mode: str = "rgb"
) -> np.ndarray | SkippedFile:
    """Decode one file to float32 ``image_size + (channels,)`` (whole numbers 0..255), or
    say why not: :func:`decode_pixels` as the model's input."""
    result = decode_pixels(path, image_size, color_mode)
    if isinstance(result, SkippedFile):
        return result
    return result.astype(np.float32)


def decode_pixels(
    path: str | os.PathLike[str], image_size: tuple[int, int], color_mode: str = "rgb"
) -> np.ndarray | SkippedFile:
    """Decode one file to uint8 ``image_size + (channels,)``, or say why not.

    The pixels every command uses: training streams and caches them, ``predict``,
    ``evaluate``, ``inspect`` and ``export`` feed them to the model as float32.
    """
    channels_for(color_mode)
    size = (int(image_size[0]), int(image_size[1]))
    return _decode_pixels(os.fspath(path), size, color_mode)


def _decode_pixels(
    spath: str, image_size: tuple[int, int], color_mode: str
) -> np.ndarray | SkippedFile:
    """:func:`decode_pixels` without the argument checks (uint8 pixels or the reason)."""
    try:
        size = os.stat(spath).st_size
    except FileNotFoundError:
        return SkippedFile(spath, "file not found")
    except OSError as exc:
        return SkippedFile(spath, f"unreadable ({exc.strerror or exc})")
    if size == 0:
        return SkippedFile(spath, "empty file (0 bytes)")
    try:
        fh = open(spath, "rb")  # noqa: SIM115 - closed in finally, Pillow reads lazily
    except PermissionError:
        return SkippedFile(spath, "unreadable (permission denied)")
    except IsADirectoryError:
        return SkippedFile(spath, "is a directory")
    except OSError as exc:
        return SkippedFile(spath, f"unreadable ({exc.strerror or exc})")
    try:
        head = fh.read(512)
        fh.seek(0)
        try:
            img = Image.open(fh)
        except Image.DecompressionBombError:
            return SkippedFile(spath, _bomb_reason(None))
        except (UnidentifiedImageError, SyntaxError, ValueError) as exc:
            return SkippedFile(spath, _open_reason(spath, head, exc))
        width, height = img.size
        if width * height > MAX_PIXELS:
            return SkippedFile(spath, _bomb_reason((width, height)))
        try:
            arr = _decode_opened(img, image_size, color_mode)
        except Image.DecompressionBombError:
            return SkippedFile(spath, _bomb_reason((width, height)))
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        text = str(exc)
        if "truncated" in text or "broken data stream" in text or isinstance(exc, EOFError):
            return SkippedFile(spath, f"truncated or corrupt image data ({text or 'EOF'})")
        return SkippedFile(spath, f"corrupt image ({exc.__class__.__name__}: {text})")
    except MemoryError:
        return SkippedFile(spath, "image too large to decode in the available memory")
    except Exception as exc:  # one odd file must never stop a batch of thousands
        return SkippedFile(spath, f"could not decode ({exc.__class__.__name__}: {exc})")
    finally:
        fh.close()
    return arr


def _bomb_reason(size: tuple[int, int] | None) -> str:
    dims = f"{size[0]}x{size[1]} = {size[0] * size[1]:,} pixels, " if size else ""
    return f"image too large, possible decompression bomb ({dims}limit {MAX_PIXELS:,} pixels)"


def _decode_opened(img: Image.Image, image_size: tuple[int, int], color_mode: str) -> np.ndarray:
    target_h, target_w = image_size
    if img.format == "JPEG":
        orientation = img.getexif().get(0x0112, 1)
        req_w, req_h = (target_h, target_w) if orientation in (5, 6, 7, 8) else (target_w, target_h)
        if img.width >= _DRAFT_FACTOR * req_w and img.height >= _DRAFT_FACTOR * req_h:
            draft_mode = "L" if color_mode == "grayscale" and img.mode == "L" else img.mode
            img.draft(draft_mode, (req_w, req_h))
    if getattr(img, "n_frames", 1) > 1:
        img.seek(0)
    img.load()
    ImageOps.exif_transpose(img, in_place=True)  # no copy when already upright
    arr = _to_mode(img, color_mode)
    if arr.shape[:2] != (target_h, target_w):
        arr = resize_bilinear(arr, (target_h, target_w))
    return to_uint8(arr)


def _decode_chunk(
    paths: Sequence[str], image_size: tuple[int, int], color_mode: str
) -> DecodedBatch:
    images = np.empty((len(paths), *image_size, channels_for(color_mode)), dtype=np.float32)
    fast: dict[int, np.ndarray] = {}
    if color_mode == "rgb":
        from dlcli.data.jpeg_tf import batch_decode_jpegs  # imports this module: import late

        fast = batch_decode_jpegs(paths, image_size)
    good: list[str] = []
    errors: list[SkippedFile] = []
    for i, p in enumerate(paths):
        result = fast.get(i)
        if result is None:
            result = _decode_pixels(p, image_size, color_mode)
        if isinstance(result, SkippedFile):
            errors.append(result)
        else:
            images[len(good)] = result  # casts uint8 -> float32 in place, exactly
            good.append(p)
    return DecodedBatch(images=images[: len(good)], paths=good, errors=errors)


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def iter_decoded_batches(
    paths: Iterable[str | os.PathLike[str]],
    image_size: tuple[int, int],
    color_mode: str = "rgb",
    batch_size: int = 64,
    workers: int | None = None,
    max_in_flight: int | None = None,
) -> Iterator[DecodedBatch]:
    """Decode ``paths`` in order, ``batch_size`` files per batch, on a thread pool.

    At most ``max_in_flight`` batches (default ``2 * workers``) are decoded or waiting at
    once, so memory stays bounded however many paths there are; ``paths`` may be a lazy
    iterator. A batch holds fewer than ``batch_size`` images when some files failed: their
    reasons are in ``errors``. Pillow and NumPy release the GIL for the heavy work, so
    threads scale across cores.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1. Received: batch_size={batch_size}")
    channels_for(color_mode)
    workers = workers or default_workers()
    limit = max_in_flight or 2 * workers
    size = (int(image_size[0]), int(image_size[1]))
    it = iter(paths)

    def next_chunk() -> list[str]:
        chunk: list[str] = []
        for p in it:
            chunk.append(os.fspath(p))
            if len(chunk) == batch_size:
                break
        return chunk

    pending: deque[Future[DecodedBatch]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dlcli-decode") as pool:
        try:
            while True:
                while len(pending) < limit:
                    chunk = next_chunk()
                    if not chunk:
                        break
                    pending.append(pool.submit(_decode_chunk, chunk, size, color_mode))
                if not pending:
                    return
                yield pending.popleft().result()
        finally:
            for fut in pending:
                fut.cancel()


def peek_size(path: str) -> tuple[int, int] | None:
    """(H, W) of an image after EXIF orientation, reading only the header; None if unreadable."""
    try:
        with Image.open(path) as img:
            w, h = img.size
            orientation = img.getexif().get(0x0112, 1) if img.format in ("JPEG", "WEBP") else 1
    except Exception:
        return None
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)
