"""Shared by the target and class-weight tests: tables written with the csv module, their
feature columns read back with it, and the trained model run by plain Keras (the oracles)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def keras_predict(run: Path, x: np.ndarray) -> np.ndarray:
    from dlcli.backend import keras

    model = keras.models.load_model(run / "best.keras", compile=False)
    return np.asarray(model(x.astype(np.float32), training=False))


def write_table(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def feature_rows(path: Path, names: list[str]) -> np.ndarray:
    with open(path, newline="", encoding="utf-8") as fh:
        return np.asarray([[float(r[n]) for n in names] for r in csv.DictReader(fh)])


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)
