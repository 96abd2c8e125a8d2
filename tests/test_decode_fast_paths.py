"""Batch decoding's fast paths give exactly the pixels and verdicts of the one-file decoder.

The oracle is :func:`decode_image` (Pillow only, one file at a time): the TF JPEG path that
:func:`iter_decoded_batches` takes when TensorFlow is loaded must agree with it bit for bit,
and a padded last batch must not change any prediction.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dlcli.data import jpeg_tf
from dlcli.data.decode import SkippedFile, decode_image, iter_decoded_batches


def _photo(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 128 / (w + h)], axis=-1)
    return Image.fromarray(np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8))


def _jpeg_folder(root: Path) -> dict[str, bool]:
    """JPEGs of every kind (and a PNG), named; value: should the TF path take it?"""
    rng = np.random.default_rng(0)
    root.mkdir()
    kinds: dict[str, bool] = {}

    def save(name: str, img: Image.Image, tf_path: bool, **options: object) -> None:
        img.save(root / name, **options)
        kinds[name] = tf_path

    save("same_size.jpg", _photo(rng, 24, 20), True, quality=90)
    save("large_scale4.jpg", _photo(rng, 200, 170), True, quality=90)
    save("large_scale8.jpg", _photo(rng, 400, 330), True, quality=85)
    save("medium_scale2.jpg", _photo(rng, 100, 90), True, quality=95)
    save("small_upscaled.jpg", _photo(rng, 13, 11), True, quality=90)
    save("progressive.jpg", _photo(rng, 150, 120), True, quality=80, progressive=True)
    save("subsampling444.jpg", _photo(rng, 90, 70), True, quality=90, subsampling=0)
    save("gray.jpg", _photo(rng, 60, 50).convert("L"), False, quality=90)
    save("cmyk.jpg", _photo(rng, 60, 50).convert("CMYK"), False, quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6
    save("rotated.jpg", _photo(rng, 60, 40), False, quality=90, exif=exif.tobytes())
    save("png.png", _photo(rng, 30, 30), False)
    return kinds


@pytest.fixture
def tf_loaded():
    import dlcli.backend  # noqa: F401 - the fast path only runs when TF is already loaded

    for scale in (1, 2, 4, 8):
        assert jpeg_tf._tf_jpeg_decoder(scale) is not None, f"TF and Pillow disagree at 1/{scale}"


@pytest.mark.parametrize("size", [(24, 20), (20, 24), (8, 8)])
def test_tf_jpeg_batches_match_pillow_bit_for_bit(tmp_path: Path, tf_loaded, size) -> None:
    kinds = _jpeg_folder(tmp_path / "jpegs")
    paths = [str(tmp_path / "jpegs" / name) for name in kinds]
    batches = list(iter_decoded_batches(paths, size, "rgb", batch_size=5, workers=2))
    got = np.concatenate([b.images for b in batches])
    assert [p for b in batches for p in b.paths] == paths
    expected = np.stack([decode_image(p, size, "rgb") for p in paths])
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    # ... and the plain RGB JPEGs really went through TensorFlow, the others did not.
    fast = jpeg_tf.batch_decode_jpegs(paths, size)
    assert sorted(fast) == [i for i, name in enumerate(kinds) if kinds[name]]


def test_bad_jpegs_same_verdict_as_pillow(tmp_path: Path, tf_loaded) -> None:
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    _photo(rng, 120, 100).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    files = {
        "good.jpg": data,
        "cut_half.jpg": data[: len(data) // 2],
        "cut_end.jpg": data[:-2],
        "zeros_inside.jpg": data[: len(data) // 2] + bytes(40) + data[len(data) // 2 + 40 :],
        "junk_inside.jpg": data[: len(data) // 2] + b"\xff\x81" * 20 + data[len(data) // 2 + 40 :],
        "empty.jpg": b"",
        "text.jpg": b"hello, not an image\n",
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    paths = [str(tmp_path / name) for name in files]
    for size in [(25, 30), (100, 120)]:
        [batch] = list(iter_decoded_batches(paths, size, "rgb", batch_size=len(paths)))
        oracle = {p: decode_image(p, size, "rgb") for p in paths}
        assert batch.paths == [p for p, r in oracle.items() if not isinstance(r, SkippedFile)]
        assert batch.errors == [r for r in oracle.values() if isinstance(r, SkippedFile)]
        assert str(tmp_path / "good.jpg") in batch.paths
        assert str(tmp_path / "cut_half.jpg") not in batch.paths
        np.testing.assert_array_equal(batch.images, np.stack([oracle[p] for p in batch.paths]))


def test_fast_path_can_be_turned_off(monkeypatch) -> None:
    import dlcli.backend  # noqa: F401

    monkeypatch.setattr(jpeg_tf, "_jpeg_decoders", {})
    monkeypatch.setenv("DLCLI_TF_JPEG", "0")
    assert jpeg_tf._tf_jpeg_decoder(1) is None
    assert jpeg_tf.batch_decode_jpegs([], (8, 8)) == {}


def test_short_last_batch_is_padded_and_predictions_unchanged(tmp_path: Path) -> None:
    from dlcli.backend import keras
    from dlcli.modeling.loading import resolve_model
    from dlcli.prediction import iter_scored_batches

    rng = np.random.default_rng(2)
    root = tmp_path / "imgs"
    root.mkdir()
    for i in range(13):
        Image.fromarray(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)).save(root / f"{i}.png")
    (root / "bad.png").write_bytes(b"not a png")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((6, 5, 3)), keras.layers.Flatten(), keras.layers.Dense(3, "softmax")]
    )
    model.save(tmp_path / "m.keras")
    loaded = resolve_model(tmp_path / "m.keras")
    shapes: list[tuple[int, ...]] = []
    inner = loaded.predict_batch

    def recording(x: np.ndarray) -> np.ndarray:
        shapes.append(x.shape)
        return inner(x)

    loaded.predict_batch = recording
    paths = sorted(str(p) for p in root.iterdir())  # 4 + 4 + 4 + (9.png, bad.png)
    scored = list(iter_scored_batches(loaded, paths, batch_size=4))
    assert shapes == [(4, 6, 5, 3)] * 4  # the last batch, 1 good file, padded to 4
    got_paths = [p for s in scored for p in s.paths]
    got = np.concatenate([s.probabilities for s in scored])
    assert len(got_paths) == 13 and str(root / "bad.png") not in got_paths
    x = np.stack([np.asarray(Image.open(p), dtype=np.float32) for p in got_paths])
    np.testing.assert_allclose(got, np.asarray(model(x)), atol=1e-6)
