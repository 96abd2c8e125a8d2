"""Random audio crops are a function of (seed, epoch, example): a resumed run sees the crops
of the uninterrupted run, with or without the clip cache.

Oracle: each file read with soundfile; every training example must be a window of it, at
the start the crop says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import yaml

from dlcli.data import load_datasets
from dlcli.recipe import load_recipe

RATE = 8000
SAMPLES = 1000  # clips of 0.125 s cut from files of 0.3-0.5 s


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crops") / "train"
    rng = np.random.default_rng(4)
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(5):
            wave = rng.uniform(-0.5, 0.5, int(RATE * rng.uniform(0.3, 0.5))).astype(np.float32)
            sf.write(root / cls / f"{cls}{i}.wav", wave, RATE, subtype="FLOAT")
    return root


def _bundle(root: Path, tmp: Path, **data: Any) -> Any:
    doc = {
        "name": "crops",
        "seed": 11,
        "data": {
            "kind": "audio",
            "train": str(root),
            "sample_rate": RATE,
            "duration": SAMPLES / RATE,
            "batch_size": 3,
            "crop": "random",
            **data,
        },
        "model": {"layers": [{"Dense": {"units": 2, "activation": "softmax"}}]},
        "train": {"epochs": 3},
    }
    path = tmp / f"r{len(list(tmp.glob('r*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_datasets(load_recipe(path).data, seed=11)


def _epochs(bundle: Any, start: int, end: int) -> list[np.ndarray]:
    ds = bundle.make_train_epochs(3, start, end, augment=False)
    return [x.numpy() for x, _ in ds]


def _windows(bundle: Any, batches: list[np.ndarray]) -> set[int]:
    """Start of each example's window in its own file (the crop), checked to be one."""
    waves = [sf.read(p, dtype="float32")[0] for p in bundle.train.sources]
    starts = set()
    for clip in np.concatenate(batches):
        found = [
            (k, s)
            for k, w in enumerate(waves)
            for s in np.flatnonzero(w[: len(w) - SAMPLES + 1] == clip[0])
            if np.array_equal(w[s : s + SAMPLES], clip)
        ]
        assert len(found) == 1, "each clip is one window of one file"
        starts.add(found[0][1])
    return starts


@pytest.mark.parametrize("cache", ["memory", "none"])
def test_a_resumed_run_crops_every_example_as_the_uninterrupted_run(
    folder: Path, tmp_path: Path, cache: str
) -> None:
    whole = _epochs(_bundle(folder, tmp_path, cache=cache), 0, 3)
    per_epoch = len(whole) // 3
    resumed = _epochs(_bundle(folder, tmp_path, cache=cache), 1, 3)  # after epoch 1
    assert len(resumed) == 2 * per_epoch
    for a, b in zip(whole[per_epoch:], resumed, strict=True):
        np.testing.assert_array_equal(a, b)
    again = _epochs(_bundle(folder, tmp_path, cache=cache), 2, 3)  # after epoch 2
    for a, b in zip(whole[2 * per_epoch :], again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_random_crops_are_windows_that_change_each_epoch(folder: Path, tmp_path: Path) -> None:
    bundle = _bundle(folder, tmp_path, cache="memory", shuffle=False)
    first, second = _epochs(bundle, 0, 1), _epochs(bundle, 1, 2)
    assert len(_windows(bundle, first) | _windows(bundle, second)) > 10
    assert not all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    other_seed = _bundle(folder, tmp_path, cache="memory", shuffle=False)
    other_seed.train.seed = 12
    assert not all(
        np.array_equal(a, b) for a, b in zip(first, _epochs(other_seed, 0, 1), strict=True)
    )
    # The cache holds whole waveforms: epoch 2 cut new windows without decoding again.
    assert len(bundle.train.cache) == 10


def test_validation_and_predict_crops_stay_centred(folder: Path, tmp_path: Path) -> None:
    bundle = _bundle(folder, tmp_path, validation_split=0.4)
    assert bundle.validation is not None
    x = np.concatenate([b.numpy() for b, _ in bundle.make_validation(3)])
    for clip, path in zip(x, bundle.validation.sources, strict=True):
        wave = sf.read(path, dtype="float32")[0]
        start = (len(wave) - SAMPLES) // 2
        np.testing.assert_array_equal(clip, wave[start : start + SAMPLES])
