"""Data pipelines: image folders and CSV files -> ``tf.data`` datasets for training.

``load_datasets`` is the entry point (contract in docs/architecture.md); ``decode`` is the
one image decoder shared with ``predict``.
"""

from __future__ import annotations

from typing import Any

from dlcli.data.bundle import ArraySplit, DataBundle, stratified_split
from dlcli.data.decode import DecodedBatch, SkippedFile, find_images, iter_decoded_batches
from dlcli.errors import DataError

__all__ = [
    "ArraySplit",
    "DataBundle",
    "DataError",
    "DecodedBatch",
    "SkippedFile",
    "find_images",
    "iter_decoded_batches",
    "load_datasets",
    "stratified_split",
]


def load_datasets(spec: Any, *, seed: int, strict: bool = False) -> DataBundle:
    """Read, check and decode the data a recipe's ``data:`` section names.

    Raises ``DataError`` for unusable input (missing folder, no images, class mismatch, bad
    CSV cell) and, with ``strict=True``, for any corrupt file; otherwise corrupt files are
    listed in ``bundle.skipped`` with their reason.
    """
    kind = getattr(spec, "kind", "images")
    if kind == "images":
        from dlcli.data.images import load_image_folders

        return load_image_folders(spec, seed=seed, strict=strict)
    if kind == "csv":
        from dlcli.data.tabular import load_csv_bundle

        return load_csv_bundle(spec, seed=seed)
    raise DataError(
        "unknown data kind", field="data.kind", expected="'images' or 'csv'", received=kind
    )
