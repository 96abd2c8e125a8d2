"""Training decodes plain JPEGs/PNGs inside tf.data and still gives Pillow's pixels and reasons.

The oracle is :func:`dlcli.data.decode.decode_pixels` (Pillow, one file at a time): every
image that training streams must equal it bit for bit, whichever decoder took the file, and
every file it refuses must be skipped with its path and Pillow's reason, also when the file
looked plain and TensorFlow's decoder failed on it in the graph.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixtures_images import make_nasty_folder
from PIL import Image
from test_data_images import image_spec

from dlcli.data import load_datasets
from dlcli.data.decode import SkippedFile, decode_pixels

SIZE = (16, 16)
# 8-bit 16x16 greyscale/RGB/RGBA PNGs and a baseline JPEG among make_nasty_folder's files
NASTY_PLAIN = ("gray.png", "rgb.jpg", "rgba.png", "really_png.jpg")


def _photo(
    rng: np.random.Generator, mode: str = "RGB", size: tuple[int, int] = SIZE
) -> Image.Image:
    bands = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    yy, xx = np.mgrid[0 : size[1], 0 : size[0]]
    base = np.stack([xx * 9.0, yy * 11.0, (xx + yy) * 5.0, xx * yy * 1.0][:bands], axis=-1)
    noisy = np.clip(base + rng.normal(0, 30, base.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(noisy[..., 0] if bands == 1 else noisy, mode)


def _without_quantisation_tables(jpeg: bytes) -> bytes:
    """The JPEG with its DQT segments removed: a plain header, a scan no decoder can read."""
    out, i = bytearray(jpeg[:2]), 2
    while jpeg[i + 1] != 0xDA:
        length = struct.unpack(">H", jpeg[i + 2 : i + 4])[0]
        if jpeg[i + 1] != 0xDB:
            out += jpeg[i : i + 2 + length]
        i += 2 + length
    return bytes(out + jpeg[i:])


def _plain_folder(folder: Path) -> list[str]:
    """Files the graph should decode (returned), beside ones it must leave to Pillow."""
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True)
    Image.new("RGB", SIZE, (9, 9, 9)).save(folder / "a_first.bmp")  # the start-up check's
    plain = {
        "baseline.jpg": (_photo(rng), {"quality": 90}),
        "progressive.jpg": (_photo(rng), {"quality": 80, "progressive": True}),
        "subsampling444.jpg": (_photo(rng), {"quality": 95, "subsampling": 0}),
        "rgb.png": (_photo(rng), {}),
        "rgba.png": (_photo(rng, "RGBA"), {}),
        "grey.png": (_photo(rng, "L"), {}),
        "interlaced.png": (_photo(rng), {"interlace": 1}),
    }
    for name, (img, options) in plain.items():
        img.save(folder / name, **options)
    _photo(rng, "L").save(folder / "grey.jpg", quality=90)
    _photo(rng, size=(24, 20)).save(folder / "other_size.jpg", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6  # square: the same size upright, different pixels
    _photo(rng).save(folder / "rotated.jpg", quality=90, exif=exif.tobytes())
    _photo(rng).convert("P").save(folder / "palette.png")
    return sorted(plain)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    train = tmp_path_factory.mktemp("graph") / "train"
    make_nasty_folder(train / "nasty")
    plain = _plain_folder(train / "plain")
    buf = io.BytesIO()
    _photo(np.random.default_rng(3)).save(buf, "JPEG", quality=90)
    (train / "plain" / "no_tables.jpg").write_bytes(_without_quantisation_tables(buf.getvalue()))
    return train, plain


def _one_epoch(bundle: Any) -> tuple[np.ndarray, np.ndarray]:
    batches = [(x.numpy(), y.numpy()) for x, y in bundle.make_train_epochs(8, 0, 1, augment=False)]
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


def test_streamed_pixels_equal_pillows_whichever_decoder_took_the_file(folder) -> None:
    train, plain = folder
    spec = image_spec(train, image_size=SIZE, color_mode="rgb", batch_size=8, shuffle=False)
    bundle = load_datasets(spec, seed=0)
    x, y = _one_epoch(bundle)
    oracle = {p: decode_pixels(p, SIZE, "rgb") for p in bundle.train.sources}
    good = [p for p, r in oracle.items() if not isinstance(r, SkippedFile)]
    assert len(x) == len(good) > 20
    np.testing.assert_array_equal(x, np.stack([oracle[p] for p in good]))
    classes = sorted({Path(p).parent.name for p in good})
    np.testing.assert_array_equal(y, [classes.index(Path(p).parent.name) for p in good])
    # The plain files went through TensorFlow in the graph; nothing else did.
    assert bundle.train.bank.decoded_by["graph"] == len(plain) + len(NASTY_PLAIN)
    # Epoch 2 reads the uint8 cache: the same pixels, nothing decoded again.
    before = dict(bundle.train.bank.decoded_by)
    again = [x.numpy() for x, _ in bundle.make_train_epochs(8, 1, 2, augment=False)]
    np.testing.assert_array_equal(np.concatenate(again), x)
    assert bundle.train.bank.decoded_by == before


def test_a_plain_looking_file_the_graph_fails_on_is_skipped_with_pillows_reason(folder) -> None:
    train, _ = folder
    spec = image_spec(train, image_size=SIZE, color_mode="rgb", batch_size=8, shuffle=False)
    bundle = load_datasets(spec, seed=0)
    _one_epoch(bundle)
    reasons = {s.path: s.reason for s in bundle.skipped}
    broken = str(train / "plain" / "no_tables.jpg")
    expected = decode_pixels(broken, SIZE, "rgb")
    assert isinstance(expected, SkippedFile)  # Pillow cannot read it either
    assert reasons[broken] == expected.reason
    # Every file Pillow refuses is listed once, with its path and Pillow's reason.
    oracle = {p: decode_pixels(p, SIZE, "rgb") for p in bundle.train.sources}
    refused = {p: r.reason for p, r in oracle.items() if isinstance(r, SkippedFile)}
    assert reasons == refused
    assert len(bundle.skipped) == len(refused)


def test_turned_off_every_file_goes_through_pillow(folder, monkeypatch) -> None:
    train, _ = folder
    monkeypatch.setenv("DLCLI_TF_JPEG", "0")
    spec = image_spec(train, image_size=SIZE, color_mode="rgb", batch_size=8, shuffle=False)
    bundle = load_datasets(spec, seed=0)
    x, _ = _one_epoch(bundle)
    assert bundle.train.bank.decoded_by["graph"] == 0
    oracle = [decode_pixels(p, SIZE, "rgb") for p in bundle.train.sources]
    np.testing.assert_array_equal(
        x, np.stack([r for r in oracle if not isinstance(r, SkippedFile)])
    )


def test_training_pipelines_run_without_tf_data_autotuning(folder) -> None:
    """Autotuning's model thread held finished runs for seconds at exit (issue 12)."""
    train, _ = folder
    spec = image_spec(train, image_size=SIZE, color_mode="rgb", batch_size=8, validation_split=0.3)
    bundle = load_datasets(spec, seed=0)
    for ds in (bundle.make_train_epochs(8, 0, 2), bundle.make_validation(8)):
        assert ds.options().autotune.enabled is False
