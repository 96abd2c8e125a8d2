"""Plain JPEGs and PNGs decoded by TensorFlow inside ``tf.data``, with Pillow's pixels.

Training streams images through :class:`dlcli.data.streaming.ImageSplit`. The files that
TensorFlow decodes to exactly the pixels of :func:`dlcli.data.decode.decode_pixels`
(the one decoder, Pillow) are read and decoded in the graph, with no Python per file;
everything else goes through Pillow on the host. Which files those are is read from the
first bytes of each file (:func:`graph_decodable`), without decoding it:

- 8-bit, 3-component baseline or progressive JPEGs (no Adobe colour transform, no EXIF
  rotation, complete: ending with the EOI marker) whose size is the model's: TensorFlow's
  libjpeg-turbo with ``INTEGER_ACCURATE`` IDCT gives Pillow's pixels. That is checked once
  per process on generated images (:mod:`dlcli.data.jpeg_tf`); where this TF and this
  Pillow disagree, no JPEG takes the graph path.
- 8-bit greyscale, RGB and RGBA PNGs (not interlaced-animated, no palette, gamma, colour
  profile or transparency chunk) whose size is the model's: lossless, and the alpha
  channel is dropped as Pillow's conversion to RGB does.

Only for ``color_mode: rgb``; other sizes (resized), other modes and formats are Pillow's.
A file the graph cannot decode after all (corrupt data) is dropped from the graph's output
(``ignore_errors`` on a small dataset of that batch's files, which carries each file's slot
in the batch) and decoded by Pillow on the host, which names the reason if it cannot
either. ``DLCLI_TF_JPEG=0`` sends every file through Pillow.
"""

from __future__ import annotations

import os
import struct
from typing import Any

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HEAD_BYTES = 65536  # a JPEG's markers before its first scan (EXIF included) fit in this
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2})  # baseline, extended and progressive Huffman
_JPEG_OTHER_SOF = frozenset({0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_PNG_PLAIN_CHUNKS = frozenset({b"IHDR", b"pHYs", b"tEXt", b"zTXt", b"iTXt", b"tIME", b"sRGB"})
_PNG_COLOUR_TYPES = frozenset({0, 2, 6})  # greyscale, RGB, RGBA


def graph_decode_enabled(color_mode: str) -> bool:
    """Whether training may decode in the graph: ``rgb``, and not turned off."""
    return color_mode == "rgb" and os.environ.get("DLCLI_TF_JPEG", "1") != "0"


def jpeg_in_graph_matches_pillow() -> bool:
    """TensorFlow's full-scale JPEG decode gives Pillow's pixels here (checked once)."""
    from dlcli.data.jpeg_tf import _tf_jpeg_decoder

    return _tf_jpeg_decoder(1) is not None


def graph_decodable(path: str, image_size: tuple[int, int], jpeg_ok: bool) -> bool:
    """Whether the graph decodes ``path`` to Pillow's pixels at ``image_size`` (H, W),
    from its first bytes; False on any doubt (Pillow then decides, and says why)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        size = os.fstat(fd).st_size
        head = os.pread(fd, HEAD_BYTES, 0)
        tail = os.pread(fd, 12, max(0, size - 12))
    except OSError:
        return False
    finally:
        os.close(fd)
    try:
        if head[:2] == b"\xff\xd8":
            return jpeg_ok and tail.endswith(b"\xff\xd9") and _plain_jpeg(head, image_size)
        if head[:8] == PNG_SIGNATURE:
            return tail[4:8] == b"IEND" and _plain_png(head, image_size)
    except (IndexError, struct.error, ValueError):
        return False
    return False


def _plain_jpeg(head: bytes, image_size: tuple[int, int]) -> bool:
    i, frame = 2, None
    while i + 4 <= len(head):
        if head[i] != 0xFF:
            return False
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # no length
            i += 2
            continue
        length = struct.unpack(">H", head[i + 2 : i + 4])[0]
        segment = head[i + 4 : i + 2 + length]
        if marker == 0xDA:  # start of scan: the header is complete
            break
        if marker in _JPEG_OTHER_SOF or marker == 0xEE:  # lossless/arithmetic; Adobe
            return False
        if marker in _JPEG_SOF:
            precision, height, width, components = struct.unpack(">BHHB", segment[:6])
            frame = (precision, height, width, components)
        elif marker == 0xE1 and segment.startswith(b"Exif\0\0") and _rotated(segment[6:]):
            return False
        i += 2 + length
    else:
        return False  # no scan within HEAD_BYTES
    return frame is not None and frame == (8, image_size[0], image_size[1], 3)


def _rotated(tiff: bytes) -> bool:
    """Whether an EXIF block's orientation (Pillow turns the image upright) is not 1."""
    return _exif_orientation(tiff) not in (None, 1)


def _exif_orientation(tiff: bytes) -> int | None:
    """The orientation tag (0x0112) of a TIFF block's first IFD, None when absent."""
    order = {b"II": "<", b"MM": ">"}[tiff[:2]]
    ifd = struct.unpack(order + "I", tiff[4:8])[0]
    count = struct.unpack(order + "H", tiff[ifd : ifd + 2])[0]
    for k in range(count):
        entry = tiff[ifd + 2 + 12 * k : ifd + 14 + 12 * k]
        if struct.unpack(order + "H", entry[:2])[0] == 0x0112:
            return int(struct.unpack(order + "H", entry[8:10])[0])
    return None


def _plain_png(head: bytes, image_size: tuple[int, int]) -> bool:
    i = 8
    while i + 8 <= len(head):
        length, name = struct.unpack(">I4s", head[i : i + 8])
        if name == b"IDAT":
            return True
        if name not in _PNG_PLAIN_CHUNKS:
            return False
        if name == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", head[i + 8 : i + 18])
            if (height, width) != tuple(image_size) or depth != 8:
                return False
            if colour not in _PNG_COLOUR_TYPES:
                return False
        i += 12 + length
    return False


def decode_in_graph(slots: Any, paths: Any, shape: tuple[int, int, int]) -> tuple[Any, Any]:
    """Read and decode ``paths`` (graph tensors; ``slots`` their places in the batch).

    Returns the slots decoded and their uint8 pixels, in order. A file that fails (read
    error, corrupt data, another size than its header said) is left out, not raised: the
    caller decodes it with Pillow, which gives the pixels or the reason.
    """
    from dlcli.backend import tf

    height, width, channels = shape

    def decode(slot: Any, path: Any) -> tuple[Any, Any]:
        data = tf.io.read_file(path)
        pixels = tf.cond(
            tf.io.is_jpeg(data),
            lambda: tf.io.decode_jpeg(data, channels=channels, dct_method="INTEGER_ACCURATE"),
            lambda: tf.io.decode_png(data, channels=channels),
        )
        return slot, tf.ensure_shape(pixels, [height, width, channels])

    files = tf.data.Dataset.from_tensor_slices((slots, paths))
    decoded = files.map(decode).ignore_errors().batch(tf.cast(tf.size(slots) + 1, tf.int64))
    none = tf.data.Dataset.from_tensors(
        (tf.zeros([0], slots.dtype), tf.zeros([0, height, width, channels], tf.uint8))
    )
    return decoded.concatenate(none).take(1).get_single_element()
