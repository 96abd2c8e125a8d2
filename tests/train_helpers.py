"""Tiny recipes for the training tests (written as YAML, loaded through load_recipe)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

TINY_IMAGE_MODEL = [
    {"Rescaling": {"scale": 1 / 255}},
    {"Flatten": None},
    {"Dense": {"units": 2, "activation": "softmax", "name": "probs"}},
]


def write_recipe(path: Path, *, data: dict, layers: list | None = None, **train) -> Path:
    doc = {
        "name": "tiny",
        "seed": 7,
        "data": data,
        "model": {"layers": layers or TINY_IMAGE_MODEL},
        "train": {"epochs": 2, "optimizer": {"name": "adam", "learning_rate": 0.01}, **train},
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def image_data(train: Path, validation: Path | None = None, **kw) -> dict:
    data = {
        "kind": "images",
        "train": str(train),
        "image_size": [16, 16],
        "color_mode": "grayscale",
        "batch_size": 4,
        **kw,
    }
    if validation is not None:
        data["validation"] = str(validation)
    return data


def write_csv(path: Path, n: int = 48, seed: int = 0) -> Path:
    """Two separable classes in 3 features, with a label column."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, 3)) + y[:, None] * 2.0
    lines = ["f1,f2,f3,label"]
    lines += [
        f"{a:.5f},{b:.5f},{c:.5f},{'yes' if t else 'no'}" for (a, b, c), t in zip(x, y, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
