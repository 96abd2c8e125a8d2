"""Models and image folders for the predict/evaluate tests, with independent oracles.

- :func:`digits_model_path`: a tiny CNN trained in plain Keras on ``data/digits/train``
  (pixels read with Pillow + NumPy, not dlcli), saved with ``model.save``; trained once per
  test session and cached here.
- :func:`pil_digits`: the same kind of pixels for any folder of digit PNGs: the oracle side.
- :func:`make_nasty_folder`: good images of every awkward kind plus broken files. Each good
  image is a solid grey level (its top half, for the EXIF one) unique in the folder, and
  :func:`brightness_model` maps a level to a known probability, so every row of output can
  be checked against the level of the file it names.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, features

REPO = Path(__file__).resolve().parent.parent
DIGITS = REPO / "data" / "digits"

_CACHE: dict[str, Path] = {}


# --- digits --------------------------------------------------------------------------------


def pil_digits(root: Path) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """(paths, pixels N x 32 x 32 x 1 float32 in 0..255, labels) read with Pillow only."""
    paths = sorted(root.rglob("*.png"))
    x = np.stack([np.asarray(Image.open(p), dtype=np.float32)[..., None] for p in paths])
    y = np.array([int(p.parent.name) for p in paths], dtype=np.int64)
    return paths, x, y


def digits_model_path(tmp_path_factory) -> Path:
    """A tiny CNN trained for a few seconds in plain Keras; the path of its ``.keras`` file."""
    if "digits" in _CACHE:
        return _CACHE["digits"]
    from dlcli.backend import keras

    _, x, y = pil_digits(DIGITS / "train")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(4),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")],
    )
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    path = tmp_path_factory.mktemp("digits_model") / "digits.keras"
    model.save(path)
    _CACHE["digits"] = path
    return path


# --- brightness model: known answer for any solid grey level -------------------------------

SLOPE = 0.04  # logit(p_bright) = SLOPE * (mean grey level of the top half - 128)


def bright_logit(level: float) -> float:
    return SLOPE * (level - 128.0)


def brightness_model(folder: Path, *, units: str = "softmax") -> tuple[Path, Path]:
    """16x16 grayscale -> [dark, bright] from the mean of the image's *top half*.

    Weights set by hand: logits ``[-s*m/2 + 64s, s*m/2 - 64s]`` so that
    ``logit(p_bright) = s * (m - 128)``; the top half (not the whole image) makes EXIF
    rotation matter. ``units="logits"`` leaves out the softmax.
    """
    from dlcli.backend import keras

    inp = keras.Input((16, 16, 1))
    x = keras.layers.Cropping2D(((0, 8), (0, 0)))(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(2, activation="softmax" if units == "softmax" else None)(x)
    model = keras.Model(inp, out)
    half = SLOPE / 2
    model.layers[-1].set_weights(
        [np.array([[-half, half]], np.float32), np.array([64 * SLOPE, -64 * SLOPE], np.float32)]
    )
    path = folder / f"brightness_{units}.keras"
    model.save(path)
    labels = folder / "labels.txt"
    labels.write_text("dark\nbright\n")
    return path, labels


# --- the nasty folder ----------------------------------------------------------------------


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width x height`` pixels but holds almost no data (a 'bomb')."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _encoded(img: Image.Image, fmt: str, **save) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save)
    return buf.getvalue()


def make_nasty_folder(root: Path) -> tuple[dict[str, int], dict[str, str]]:
    """Write the folder; returns ({good name: grey level}, {bad name: word its reason has})."""
    root.mkdir(parents=True, exist_ok=True)
    size = (16, 16)
    levels: dict[str, int] = {}

    def good(name: str, level: int, img: Image.Image, **save) -> None:
        img.save(root / name, **save)
        levels[name] = level

    good("gray.png", 40, Image.new("L", size, 40))
    good("gray_big.png", 200, Image.new("L", (40, 30), 200))  # resized to 16x16
    good("rgb.jpg", 180, Image.new("RGB", size, (180,) * 3), quality=95)
    good("cmyk.jpg", 80, Image.new("CMYK", size, (0, 0, 0, 255 - 80)), quality=95)
    deep = np.full((16, 16), round(220 * 65535 / 255), np.uint16)
    good("deep16.png", 220, Image.fromarray(deep))  # mode I;16
    good("palette.png", 100, Image.new("L", size, 100).convert("P"))
    good("rgba.png", 160, Image.new("RGBA", size, (160, 160, 160, 90)))
    good("gray_alpha.png", 140, Image.new("LA", size, (140, 30)))
    good("bitmap.bmp", 120, Image.new("RGB", size, (120,) * 3))
    # A PNG behind a .jpg name: a mislabelled extension that is still a readable image.
    (root / "really_png.jpg").write_bytes(_encoded(Image.new("L", size, 60), "PNG"))
    levels["really_png.jpg"] = 60
    # Stored upside down with EXIF orientation 3: upright, the top half is 240, not 20.
    arr = np.full((16, 16), 240, np.uint8)
    arr[:8] = 20
    exif = Image.Exif()
    exif[0x0112] = 3
    good("exif_rotated.jpg", 240, Image.fromarray(arr), exif=exif, quality=95)
    frames = [Image.new("L", size, 30), Image.new("L", size, 230)]  # first frame counts
    good("animated.gif", 30, frames[0], save_all=True, append_images=frames[1:], duration=50)
    if features.check("webp"):
        good("lossless.webp", 190, Image.new("RGB", size, (190,) * 3), lossless=True)

    bad: dict[str, str] = {}
    noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    png = _encoded(Image.fromarray(noise), "PNG")  # incompressible: the cut falls in IDAT
    (root / "truncated.png").write_bytes(png[: len(png) // 2])
    bad["truncated.png"] = "truncated"
    jpg = _encoded(Image.fromarray(noise), "JPEG", quality=90)
    (root / "truncated.jpg").write_bytes(jpg[: len(jpg) // 2])
    bad["truncated.jpg"] = "truncated"
    (root / "empty.jpg").write_bytes(b"")
    bad["empty.jpg"] = "empty"
    (root / "text.jpg").write_text("this is not a picture\n")
    bad["text.jpg"] = "text"
    (root / "bomb.png").write_bytes(_png_header_only(20_000, 20_000))  # Pillow refuses
    bad["bomb.png"] = "decompression bomb"
    (root / "bomb_9k.png").write_bytes(_png_header_only(9_000, 9_000))  # dlcli's own limit
    bad["bomb_9k.png"] = "decompression bomb"
    (root / "notes.txt").write_text("some notes\n")
    bad["notes.txt"] = "not an image (ignored)"  # listed, but not a failure (no exit 3)
    # Hidden files and folders are ignored without a word.
    (root / ".DS_Store").write_bytes(b"\x00\x01hidden")
    (root / "._gray.png").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    return levels, bad
