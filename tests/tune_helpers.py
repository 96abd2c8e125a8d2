"""Tiny recipes and spaces for the ``dlcli tune`` tests (the shipped wine CSV, 2 epochs)."""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import REPO_ROOT

WINE = REPO_ROOT / "data" / "wine" / "wine.csv"


def wine_recipe(path: Path, *, epochs: int = 2, monitor: str = "val_loss") -> Path:
    doc = {
        "name": "wine_tune",
        "seed": 3,
        "data": {"kind": "csv", "train": str(WINE), "validation_split": 0.25, "batch_size": 32},
        "model": {
            "layers": [
                {"BatchNormalization": {"momentum": 0.9}},
                {"Dense": {"units": 8, "activation": "relu"}},
                {"Dense": {"units": 3, "activation": "softmax", "name": "probs"}},
            ]
        },
        "train": {
            "epochs": epochs,
            "optimizer": {"name": "adam", "learning_rate": 0.01},
            "checkpoint": {"monitor": monitor},
        },
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


SPACE = """\
train.optimizer.learning_rate: {log_uniform: [1.0e-3, 1.0e-1]}
model.layers[1].Dense.units: {choice: [4, 8, 16]}
"""


def wine_space(path: Path, text: str = SPACE) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
