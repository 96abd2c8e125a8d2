"""The shared image decoder: every kind of file a user's folder may hold."""

from __future__ import annotations

import io
import os
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

from dlcli.data import decode
from dlcli.data.decode import SkippedFile, decode_image, find_images, iter_decoded_batches


def _arr(result: np.ndarray | SkippedFile) -> np.ndarray:
    assert not isinstance(result, SkippedFile), result
    assert result.dtype == np.float32
    return result


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _keras_oracle(path: Path, size: tuple[int, int], color_mode: str) -> np.ndarray:
    """Independent decode: Keras' own loader, then TF's bilinear resize (as Keras datasets)."""
    from dlcli.backend import keras, tf

    img = keras.utils.load_img(path, color_mode=color_mode)
    arr = keras.utils.img_to_array(img, dtype="float32")
    return tf.image.resize(arr, size, method="bilinear").numpy()


@pytest.mark.parametrize("color_mode", ["rgb", "grayscale", "rgba"])
@pytest.mark.parametrize("size", [(12, 20), (24, 24), (40, 33)])
def test_matches_keras_loader_and_tf_resize(tmp_path: Path, rng, color_mode, size) -> None:
    path = tmp_path / "x.png"
    Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(path)
    ours = _arr(decode_image(path, size, color_mode))
    oracle = _keras_oracle(path, size, color_mode)
    assert ours.shape == (*size, decode.channels_for(color_mode))
    # 8-bit pixels: TF's resize rounded to the nearest whole number (training caches uint8)
    np.testing.assert_array_equal(ours, np.round(ours))
    np.testing.assert_allclose(ours, oracle, atol=0.5 + 1e-3)


def test_same_size_is_identity(tmp_path: Path, rng) -> None:
    pixels = rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    np.testing.assert_array_equal(_arr(decode_image(tmp_path / "a.png", (9, 7), "rgb")), pixels)


def test_16bit_png_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    img = Image.fromarray(values)  # mode I;16
    assert img.mode.startswith("I;16")
    img.save(tmp_path / "deep.png")
    out = _arr(decode_image(tmp_path / "deep.png", (1, 4), "grayscale"))[0, :, 0]
    np.testing.assert_allclose(out, values[0] / 257.0, atol=1e-3)
    rgb = _arr(decode_image(tmp_path / "deep.png", (1, 4), "rgb"))
    np.testing.assert_allclose(rgb[0, :, 1], values[0] / 257.0, atol=1e-3)


def test_palette_rgba_grayscale_1bit_cmyk(tmp_path: Path, rng) -> None:
    base = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    rgb = Image.fromarray(base)
    pal = rgb.quantize(16)
    pal.save(tmp_path / "pal.png")
    np.testing.assert_array_equal(
        _arr(decode_image(tmp_path / "pal.png", (8, 8), "rgb")), np.asarray(pal.convert("RGB"))
    )
    rgba = np.dstack([base, np.full((8, 8), 7, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    # Alpha dropped for rgb (colour under it kept), kept for rgba.
    np.testing.assert_array_equal(_arr(decode_image(tmp_path / "rgba.png", (8, 8), "rgb")), base)
    np.testing.assert_array_equal(_arr(decode_image(tmp_path / "rgba.png", (8, 8), "rgba")), rgba)
    gray = base[..., 0]
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    out = _arr(decode_image(tmp_path / "g.png", (8, 8), "rgb"))
    assert out.shape == (8, 8, 3)
    np.testing.assert_array_equal(out[..., 2], gray)
    bits = Image.fromarray(gray > 128).convert("1")
    bits.save(tmp_path / "b.png")
    np.testing.assert_array_equal(
        _arr(decode_image(tmp_path / "b.png", (8, 8), "grayscale"))[..., 0],
        np.where(gray > 128, 255, 0),
    )
    rgb.convert("CMYK").save(tmp_path / "cmyk.jpg", quality=100)
    out = _arr(decode_image(tmp_path / "cmyk.jpg", (8, 8), "rgb"))
    assert out.shape == (8, 8, 3)
    assert np.abs(out - base).mean() < 20  # JPEG loss only, not inverted channels


def test_exif_rotation_applied(tmp_path: Path) -> None:
    # Stored 4 wide x 2 high, left half white; orientation 6 = rotate 90 degrees clockwise.
    stored = np.zeros((2, 4), np.uint8)
    stored[:, :2] = 255
    img = Image.fromarray(stored, "L")
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(tmp_path / "rot.jpg", exif=exif, quality=100)
    out = _arr(decode_image(tmp_path / "rot.jpg", (4, 2), "grayscale"))[..., 0]
    # After rotating clockwise, the stored left half is on top.
    assert out[:2].mean() > 200 and out[2:].mean() < 55


def test_animated_gif_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("L", (4, 4), v) for v in (10, 200, 90)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    out = _arr(decode_image(tmp_path / "anim.gif", (4, 4), "grayscale"))
    np.testing.assert_allclose(out, 10, atol=1)


def test_large_jpeg_uses_draft_and_stays_close(tmp_path: Path) -> None:
    grad = np.tile(np.linspace(0, 255, 256, dtype=np.float32), (256, 1)).astype(np.uint8)
    Image.fromarray(grad).save(tmp_path / "big.jpg", quality=95)
    out = _arr(decode_image(tmp_path / "big.jpg", (16, 16), "grayscale"))[..., 0]
    expected = np.asarray(Image.fromarray(grad).resize((16, 16), Image.Resampling.BOX), np.float32)
    assert np.abs(out - expected).max() < 12


def test_bad_files_give_reasons(tmp_path: Path) -> None:
    good = tmp_path / "ok.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(good)
    (tmp_path / "empty.png").write_bytes(b"")
    data = good.read_bytes()
    big = tmp_path / "big.png"
    Image.new("L", (1200, 1200)).save(big)
    truncated = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), np.uint8)).save(
        truncated, "PNG"
    )
    (tmp_path / "trunc.png").write_bytes(truncated.getvalue()[: len(truncated.getvalue()) // 2])
    (tmp_path / "notes.jpg").write_text("this is a text file, not a photo\n")
    (tmp_path / "garbage.jpg").write_bytes(b"\x00\x01\x02\xff" * 50)
    # A header claiming 100000 x 100000 pixels: refused before any pixel is decoded.
    bomb = bytearray(data)
    bomb[16:24] = (100000).to_bytes(4, "big") * 2
    bomb[29:33] = zlib.crc32(bytes(bomb[12:29])).to_bytes(4, "big")
    (tmp_path / "bomb.png").write_bytes(bytes(bomb))
    # 9000 x 9000: under Pillow's own limit, over ours.
    bomb[16:24] = (9000).to_bytes(4, "big") * 2
    bomb[29:33] = zlib.crc32(bytes(bomb[12:29])).to_bytes(4, "big")
    (tmp_path / "bomb2.png").write_bytes(bytes(bomb))
    reasons = {}
    names = ("empty.png", "trunc.png", "notes.jpg", "garbage.jpg", "bomb.png", "bomb2.png")
    for name in (*names, "missing.png"):
        result = decode_image(tmp_path / name, (8, 8), "rgb")
        assert isinstance(result, SkippedFile), name
        reasons[name] = result.reason
    assert reasons["empty.png"] == "empty file (0 bytes)"
    assert "truncated" in reasons["trunc.png"]
    assert reasons["notes.jpg"] == "not an image (looks like text)"
    assert "not an image" in reasons["garbage.jpg"]
    assert "decompression bomb" in reasons["bomb.png"]
    assert "decompression bomb (9000x9000" in reasons["bomb2.png"]
    assert "file not found" in reasons["missing.png"]
    assert isinstance(decode_image(good, (8, 8), "rgb"), np.ndarray)
    assert isinstance(decode_image(big, (8, 8), "rgb"), np.ndarray)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file(tmp_path: Path) -> None:
    p = tmp_path / "locked.png"
    Image.new("L", (4, 4)).save(p)
    p.chmod(0)
    try:
        result = decode_image(p, (4, 4), "grayscale")
    finally:
        p.chmod(0o644)
    assert isinstance(result, SkippedFile) and "permission denied" in result.reason


def test_parallel_batches_keep_paths_with_their_pixels(tmp_path: Path) -> None:
    paths = []
    for i in range(203):
        p = tmp_path / f"img_{i:03d}.png"
        if i % 37 == 5:
            p.write_bytes(b"")
        else:
            Image.new("L", (6, 6), i).save(p)
        paths.append(str(p))
    seen, errors = [], []
    for batch in iter_decoded_batches(iter(paths), (6, 6), "grayscale", batch_size=16, workers=4):
        assert len(batch.images) == len(batch.paths) <= 16
        for img, p in zip(batch.images, batch.paths, strict=True):
            assert img.min() == img.max() == int(Path(p).stem.split("_")[1])
        seen += batch.paths
        errors += [e.path for e in batch.errors]
    assert seen == [p for i, p in enumerate(paths) if i % 37 != 5]
    assert errors == [p for i, p in enumerate(paths) if i % 37 == 5]


def test_find_images(tmp_path: Path) -> None:
    (tmp_path / "a" / "deep").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for rel in ("a/1.png", "a/deep/2.JPG", "a/.DS_Store", "a/._1.png", ".hidden/3.png", "4.gif"):
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "a" / "notes.txt").write_text("hi")
    images, skipped = find_images([tmp_path / "a"], recursive=True)
    assert images == [str(tmp_path / "a/1.png"), str(tmp_path / "a/deep/2.JPG")]
    assert [(Path(s.path).name, s.reason, s.ignored) for s in skipped] == [
        ("notes.txt", "not an image (ignored)", True)
    ]
    flat, _ = find_images([tmp_path / "a"], recursive=False)
    assert flat == [str(tmp_path / "a/1.png")]
    globbed, skipped = find_images([str(tmp_path / "*.gif"), tmp_path / "nope"], recursive=False)
    assert globbed == [str(tmp_path / "4.gif")]
    assert skipped[0].reason == "no such file or directory"


@pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP")
def test_webp_and_bmp(tmp_path: Path, rng) -> None:
    pixels = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.webp", lossless=True)
    Image.fromarray(pixels).save(tmp_path / "a.bmp")
    for name in ("a.webp", "a.bmp"):
        np.testing.assert_array_equal(_arr(decode_image(tmp_path / name, (5, 6), "rgb")), pixels)


def test_stopping_early_leaves_no_work_behind(tmp_path: Path) -> None:
    for i in range(40):
        Image.new("L", (4, 4), i).save(tmp_path / f"{i:02d}.png")
    paths = sorted(str(p) for p in tmp_path.glob("*.png"))
    batches = iter_decoded_batches(paths, (4, 4), "grayscale", batch_size=4, workers=2)
    first = next(batches)
    batches.close()  # a consumer that stops (e.g. Ctrl-C in predict) must not hang
    assert first.paths == paths[:4] and first.images.shape == (4, 4, 4, 1)
