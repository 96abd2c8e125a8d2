"""Image-folder datasets: classes, counts, pixels, shuffling, augmentation, bad files."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from conftest import make_image_folder
from PIL import Image

from dlcli.data import load_datasets
from dlcli.errors import DataError

REPO = Path(__file__).resolve().parent.parent


def image_spec(train: Path, **kw: Any) -> Any:
    """A DataSpec (the real one when dlcli.recipe has it, else the same fields)."""
    fields = dict(
        kind="images",
        train=train,
        validation=None,
        validation_split=None,
        image_size=(16, 16),
        color_mode="grayscale",
        batch_size=4,
        shuffle=True,
        cache="memory",
        augment=[],
        label="label",
        features=None,
    )
    fields.update(kw)
    if any(not hasattr(a, "type") for a in fields["augment"]):
        return SimpleNamespace(**fields)  # ready Keras layers: DataSpec holds LayerSpecs only
    try:
        from dlcli.recipe import DataSpec  # type: ignore[attr-defined]
    except ImportError:
        return SimpleNamespace(**fields)
    return DataSpec(**fields)


def _all(ds) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def _file_pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"), np.float32)[..., None]


def test_image_folder_bundle(image_folder: Path) -> None:
    b = load_datasets(image_spec(image_folder, shuffle=False), seed=0)
    assert b.class_names == ["circle", "square"]
    assert (b.num_train, b.num_validation) == (8, 0)
    assert b.input_shape == (16, 16, 1)
    assert b.make_validation(4) is None
    assert b.preprocessing.model_dump(mode="json") == {
        "version": 1,
        "kind": "images",
        "image_size": [16, 16],
        "color_mode": "grayscale",
        "channels": 1,
        "interpolation": "bilinear",
    }
    x, y = _all(b.make_train(3))
    assert x.dtype == np.uint8 and y.dtype == np.int32 and x.shape == (8, 16, 16, 1)
    files = sorted(image_folder.glob("*/*.png"))
    np.testing.assert_array_equal(x, np.stack([_file_pixels(f) for f in files]))
    np.testing.assert_array_equal(y, [0] * 4 + [1] * 4)


def test_rgb_and_resize_match_keras_dataset(image_folder: Path) -> None:
    """The pixels of keras.utils.image_dataset_from_directory (the usual hand-written path),
    rounded to whole numbers: dlcli streams and caches 8-bit pixels."""
    from dlcli.backend import keras

    b = load_datasets(
        image_spec(image_folder, shuffle=False, color_mode="rgb", image_size=(10, 24)), seed=0
    )
    ours, ours_y = _all(b.make_train(8))
    ref = keras.utils.image_dataset_from_directory(
        image_folder, image_size=(10, 24), shuffle=False, batch_size=8, color_mode="rgb"
    )
    theirs, their_y = _all(ref)
    assert ours.dtype == np.uint8
    np.testing.assert_allclose(ours, theirs, atol=0.5 + 1e-3)
    np.testing.assert_array_equal(ours_y, their_y)


def test_shuffle_reproducible_and_changes_each_epoch(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path / "im", per_class=10, size=8)
    spec = image_spec(root, image_size=(8, 8))
    one = load_datasets(spec, seed=3).make_train(4)
    two = load_datasets(spec, seed=3).make_train(4)
    e1, e2 = _all(one)[0], _all(one)[0]
    np.testing.assert_array_equal(e1, _all(two)[0])
    assert not np.array_equal(e1, e2)  # new order next epoch
    assert not np.array_equal(e1, _all(load_datasets(spec, seed=4).make_train(4))[0])
    np.testing.assert_array_equal(np.sort(e1, axis=0), np.sort(e2, axis=0))


def test_augmentation_on_train_only(image_folder: Path) -> None:
    from dlcli.backend import keras

    flip = [
        keras.layers.RandomFlip("horizontal", seed=1),
        keras.layers.RandomTranslation(0.3, 0.3, seed=2, fill_mode="constant"),
    ]
    spec = image_spec(image_folder, shuffle=False, validation=image_folder, augment=flip)
    b = load_datasets(spec, seed=0)
    raw = np.stack([_file_pixels(f) for f in sorted(image_folder.glob("*/*.png"))])
    train_x, _ = _all(b.make_train(8))
    val_x, _ = _all(b.make_validation(8))
    np.testing.assert_array_equal(val_x, raw)
    assert train_x.shape == raw.shape
    assert not np.allclose(train_x, raw)
    assert not np.allclose(_all(b.make_train(8))[0], train_x)  # new draws each epoch


def test_augment_from_layer_specs(image_folder: Path) -> None:
    recipe = pytest.importorskip("dlcli.recipe")
    pytest.importorskip("dlcli.modeling.builder")
    spec_cls = getattr(recipe, "LayerSpec", None)
    if spec_cls is None:
        pytest.skip("dlcli.recipe.LayerSpec not available yet")
    aug = [
        spec_cls(
            type="RandomFlip", args={"mode": "horizontal", "seed": 1}, name="flip", inputs=["input"]
        )
    ]
    b = load_datasets(image_spec(image_folder, shuffle=False, augment=aug), seed=0)
    x, _ = _all(b.make_train(8))
    assert x.shape == (8, 16, 16, 1)


def test_corrupt_files_skipped_listed_and_strict(image_folder: Path) -> None:
    (image_folder / "circle" / "broken.png").write_bytes(b"")
    (image_folder / "square" / "notes.jpg").write_text("hello")
    (image_folder / "square" / ".DS_Store").write_bytes(b"\x00")
    b = load_datasets(image_spec(image_folder), seed=0)
    assert b.num_train == 8
    assert sorted((Path(s.path).name, s.reason) for s in b.skipped) == [
        ("broken.png", "empty file (0 bytes)"),
        ("notes.jpg", "not an image (looks like text)"),
    ]
    with pytest.raises(DataError) as err:
        load_datasets(image_spec(image_folder), seed=0, strict=True)
    text = str(err.value)
    assert "broken.png" in text and "notes.jpg" in text


def test_validation_split_stratified_reproducible(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path / "im", classes=("a", "b", "c"), per_class=10, size=8)
    spec = image_spec(root, image_size=(8, 8), validation_split=0.2, shuffle=False)
    b = load_datasets(spec, seed=7)
    assert (b.num_train, b.num_validation) == (24, 6)
    assert np.bincount(b.validation.y).tolist() == [2, 2, 2]
    assert not set(b.train.sources) & set(b.validation.sources)
    again = load_datasets(spec, seed=7)
    assert again.validation.sources == b.validation.sources
    assert load_datasets(spec, seed=8).validation.sources != b.validation.sources
    vx, vy = _all(b.make_validation(4))
    for img, src, lab in zip(vx, b.validation.sources, vy, strict=True):
        np.testing.assert_array_equal(img, _file_pixels(Path(src)))
        assert b.class_names[lab] == Path(src).parent.name


@pytest.mark.parametrize("cache", ["disk", "none"])
def test_cache_modes_give_same_batches(tmp_path: Path, cache: str) -> None:
    root = make_image_folder(tmp_path / "im", per_class=5, size=8)
    ref = load_datasets(image_spec(root, image_size=(8, 8), validation_split=0.4), seed=1)
    other = load_datasets(
        image_spec(root, image_size=(8, 8), validation_split=0.4, cache=cache), seed=1
    )
    for a, b in (
        (ref.make_train(3), other.make_train(3)),
        (ref.make_validation(3), other.make_validation(3)),
    ):
        xa, ya = _all(a)
        xb, yb = _all(b)
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_image_size_inferred(image_folder: Path) -> None:
    b = load_datasets(image_spec(image_folder, image_size=None, color_mode="rgb"), seed=0)
    assert b.input_shape == (16, 16, 3)


def test_folder_errors(tmp_path: Path, image_folder: Path) -> None:
    with pytest.raises(DataError, match="folder not found"):
        load_datasets(image_spec(tmp_path / "nope"), seed=0)
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(DataError, match="contains no images"):
        load_datasets(image_spec(tmp_path / "empty"), seed=0)
    (tmp_path / "flat").mkdir()
    Image.new("L", (4, 4)).save(tmp_path / "flat" / "a.png")
    with pytest.raises(DataError, match="no class sub-folders"):
        load_datasets(image_spec(tmp_path / "flat"), seed=0)
    (image_folder / "triangle").mkdir()
    (image_folder / "triangle" / "bad.png").write_bytes(b"nope")
    with pytest.raises(DataError) as err:
        load_datasets(image_spec(image_folder), seed=0)
    assert "triangle" in str(err.value) and "no readable images" in str(err.value)


def test_validation_classes_must_match(tmp_path: Path) -> None:
    train = make_image_folder(tmp_path / "train", classes=("cat", "dog"), per_class=2, size=8)
    val = make_image_folder(tmp_path / "val", classes=("cat", "fox"), per_class=2, size=8)
    with pytest.raises(DataError) as err:
        load_datasets(image_spec(train, validation=val, image_size=(8, 8)), seed=0)
    text = str(err.value)
    assert str(val) in text and "missing: dog" in text and "not in training: fox" in text


def test_shipped_digits() -> None:
    root = REPO / "data" / "digits"
    spec = image_spec(root / "train", validation=root / "test", image_size=(32, 32))
    b = load_datasets(spec, seed=0)
    assert b.class_names == [str(d) for d in range(10)]
    assert (b.num_train, b.num_validation) == (1437, 360)
    assert b.skipped == []
    counts = np.bincount(b.validation.y)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified 20%
    x, _ = next(iter(b.make_validation(8)))
    assert x.shape == (8, 32, 32, 1) and float(x.numpy().max()) <= 255.0
