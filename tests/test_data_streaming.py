"""Streaming image folders: bad files found while epoch 1 decodes, uint8 cache, budgets.

The folder: 2,000 tiny JPEGs in two classes plus four bad files (a corrupt JPEG, a truncated
one, a text file named .jpg, an empty file). Oracles: Pillow (which files it cannot load,
and the pixels of the good ones) and TensorFlow's bilinear resize.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from test_data_images import image_spec
from train_helpers import image_data, write_recipe

from dlcli.data import load_datasets
from dlcli.data.cache import plan_cache, resolve_budget

PER_CLASS = 1000
BAD = ("corrupt.jpg", "truncated.jpg", "notes.jpg", "empty.jpg")


def _jpeg(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stream") / "train"
    rng = np.random.default_rng(0)
    for c, cls in enumerate(("dark", "light")):
        (root / cls).mkdir(parents=True)
        base = rng.integers(0, 100, (PER_CLASS, 8, 8, 3), dtype=np.uint8) + 120 * c
        for i in range(PER_CLASS):
            (root / cls / f"{i:04d}.jpg").write_bytes(_jpeg(base[i]))
    photo = _jpeg(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    bad = root / "dark"
    (bad / BAD[0]).write_bytes(b"\xff\xd8\xff\xe0" + rng.bytes(600))  # JPEG marker, then noise
    (bad / BAD[1]).write_bytes(photo[: len(photo) * 2 // 3])
    (bad / BAD[2]).write_text("shopping list: eggs, milk\n")
    (bad / BAD[3]).write_bytes(b"")
    for name in BAD:  # the oracle: Pillow cannot load any of them
        with pytest.raises(Exception), Image.open(bad / name) as img:  # noqa: B017 - any failure
            img.load()
    return root


def _epoch(bundle: Any, epoch: int, batch: int = 64) -> list[tuple[np.ndarray, np.ndarray]]:
    ds = bundle.make_train_epochs(batch, epoch - 1, epoch, augment=False)
    return [(x.numpy(), y.numpy()) for x, y in ds]


def _spec(root: Path, **kw: Any) -> Any:
    fields = {"image_size": (8, 8), "color_mode": "rgb", "batch_size": 64, **kw}
    return image_spec(root, **fields)


def test_bad_files_found_while_streaming_with_reasons(big_folder: Path) -> None:
    bundle = load_datasets(_spec(big_folder), seed=3)
    assert bundle.skipped == []  # nothing decoded up front: no pass over the files
    batches = _epoch(bundle, 1)
    assert len(batches) == -(-(2 * PER_CLASS + len(BAD)) // 64)  # steps fixed by the listing
    assert sum(len(y) for _, y in batches) == 2 * PER_CLASS
    reasons = {Path(s.path).name: s.reason for s in bundle.skipped}
    assert sorted(reasons) == sorted(BAD)
    assert all(Path(s.path).parent == big_folder / "dark" for s in bundle.skipped)
    assert reasons["empty.jpg"] == "empty file (0 bytes)"
    assert reasons["notes.jpg"] == "not an image (looks like text)"
    assert "truncated" in reasons["truncated.jpg"]
    assert "corrupt" in reasons["corrupt.jpg"]
    assert bundle.num_train == 2 * PER_CLASS
    # Found once: epoch 2 reads the cache and adds nothing.
    assert sum(len(y) for _, y in _epoch(bundle, 2)) == 2 * PER_CLASS
    assert len(bundle.skipped) == len(BAD)


def test_resumed_run_sees_the_same_batches(big_folder: Path) -> None:
    """Epoch 2 of a run that found the bad files in epoch 1 (reading its cache) equals
    epoch 2 of a fresh run (a resume) that finds them there, and so does cache: none."""
    first = load_datasets(_spec(big_folder), seed=5)
    _epoch(first, 1)
    reference = _epoch(first, 2)
    for cache in ("auto", "disk", "none"):
        resumed = load_datasets(_spec(big_folder, cache=cache), seed=5)
        again = _epoch(resumed, 2)
        assert len(again) == len(reference)
        for (xa, ya), (xb, yb) in zip(reference, again, strict=True):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)
    other_epoch = _epoch(first, 3)
    assert any(
        not np.array_equal(a, b) for (_, a), (_, b) in zip(reference, other_epoch, strict=True)
    )


def test_streamed_pixels_are_pillows_and_predicts(big_folder: Path) -> None:
    """Unresized: Pillow's pixels exactly. Resized: TF's bilinear resize rounded, and what
    predict's decoder (decode_image) gives, bit for bit."""
    from dlcli.backend import tf
    from dlcli.data.decode import decode_image

    for size in ((8, 8), (5, 7)):
        bundle = load_datasets(_spec(big_folder, image_size=size, shuffle=False), seed=0)
        x, _ = _epoch(bundle, 1, batch=500)[0]
        sources = bundle.train.sources[:500]
        good = [p for p in sources if Path(p).name not in BAD]
        assert x.dtype == np.uint8 and len(x) == len(good)
        for img, path in zip(x[:40], good[:40], strict=True):
            with Image.open(path) as im:
                pil = np.asarray(im.convert("RGB"))
            if size == (8, 8):
                np.testing.assert_array_equal(img, pil)
            else:
                ref = tf.image.resize(pil.astype(np.float32), size, method="bilinear").numpy()
                np.testing.assert_allclose(img, ref, atol=0.5 + 1e-3)
            np.testing.assert_array_equal(img.astype(np.float32), decode_image(path, size))


def test_train_cli_lists_streamed_skips(big_folder: Path, tmp_path: Path) -> None:
    from dlcli.cli import main

    data = image_data(big_folder, image_size=[8, 8], color_mode="rgb", batch_size=128)
    recipe = write_recipe(tmp_path / "r.yaml", data=data, epochs=1)
    assert main(["train", str(recipe), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    lines = (tmp_path / "run" / "skipped.txt").read_text().splitlines()
    assert sorted(Path(line.split("\t")[0]).name for line in lines) == sorted(BAD)
    assert all(line.split("\t")[1] for line in lines)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["skipped"] == len(BAD)


def test_cache_choice_and_budget(tmp_path: Path) -> None:
    image = 8 * 8 * 3
    assert plan_cache("auto", 100, image, 100 * image).mode == "memory"
    assert plan_cache("auto", 100, image, 100 * image - 1).mode == "disk"
    assert plan_cache("auto", 100, image, "1%").mode == "memory"  # 19 KB of gigabytes
    assert plan_cache("memory", 100, image, 10).over_budget
    assert plan_cache("none", 100, image, None).mode == "none"
    assert resolve_budget("6GB")[0] == 6 * 10**9
    assert resolve_budget("512MiB")[0] == 512 * 2**20
    available = resolve_budget("100%")[0]
    assert abs(resolve_budget(None)[0] - available / 2) <= available * 0.05
    assert (
        "memory, 100 images, 19.2 KB as uint8" in plan_cache("auto", 100, image, "6GB").describe()
    )
    for bad in ("lots", "0%", "150%"):
        with pytest.raises(Exception, match="cache_budget"):
            resolve_budget(bad)


def test_disk_cache_leaves_no_file_and_matches_memory(big_folder: Path, tmp_path: Path) -> None:
    before = tempfile.tempdir
    tempfile.tempdir = str(tmp_path)
    try:
        disk = load_datasets(_spec(big_folder, cache="auto", cache_budget=1000), seed=1)
        assert any("pixel cache: disk" in n.text for n in disk.notes)
        assert os.listdir(tmp_path) == []  # unlinked as soon as it is open
        memory = load_datasets(_spec(big_folder, cache="memory"), seed=1)
        assert any("pixel cache: memory" in n.text for n in memory.notes)
        for epoch in (1, 2):
            for (xa, ya), (xb, yb) in zip(_epoch(disk, epoch), _epoch(memory, epoch), strict=True):
                np.testing.assert_array_equal(xa, xb)
                np.testing.assert_array_equal(ya, yb)
    finally:
        tempfile.tempdir = before


def test_files_found_bad_at_start_leave_the_epoch(tmp_path: Path) -> None:
    """A class's first file unreadable: the start-up check finds it, and it is not in the
    listing the epochs range over, so steps per epoch (from num_train) match the batches."""
    from conftest import make_image_folder

    root = make_image_folder(tmp_path / "im", per_class=4, size=8)
    (root / "circle" / "a_first.png").write_bytes(b"")  # sorts before circle_000.png
    bundle = load_datasets(image_spec(root, image_size=(8, 8), shuffle=False), seed=0)
    assert [Path(s.path).name for s in bundle.skipped] == ["a_first.png"]
    assert bundle.num_train == 8
    assert len(_epoch(bundle, 1, batch=4)) == 2  # ceil(8 / 4): the engine's steps per epoch
