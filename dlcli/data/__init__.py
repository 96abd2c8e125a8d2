"""Data pipelines: each data kind's files -> ``tf.data`` datasets for training.

``load_datasets`` is the entry point (contract in docs/architecture.md); the kinds live in
:mod:`dlcli.data.kinds` (one module each, looked up by name); ``decode`` is the one image
decoder shared with ``predict``. Names are loaded on first use, so that importing
:mod:`dlcli.data.kinds` (which the TensorFlow-free recipe layer does) stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_LAZY = {
    "ArraySplit": "dlcli.data.bundle",
    "DataBundle": "dlcli.data.bundle",
    "stratified_split": "dlcli.data.bundle",
    "DecodedBatch": "dlcli.data.decode",
    "SkippedFile": "dlcli.data.decode",
    "find_images": "dlcli.data.decode",
    "iter_decoded_batches": "dlcli.data.decode",
    "DataError": "dlcli.errors",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dlcli.data' has no attribute {name!r}")


def load_datasets(
    spec: Any, *, seed: int, strict: bool = False, inputs: Any | None = None
) -> DataBundle:
    """Read, check and decode the data a recipe's ``data:`` section names.

    The section's kind (:func:`dlcli.data.kinds.get_kind`) reads it. Raises ``DataError``
    for unusable input (missing folder, no images, class mismatch, bad CSV cell) and, with
    ``strict=True``, for any corrupt file; otherwise corrupt files are listed in
    ``bundle.skipped`` with their reason. ``inputs`` (``model.inputs``: input name -> its
    columns) makes each batch's ``x`` a dict keyed by input name.
    """
    from dlcli.data.kinds import get_kind
    from dlcli.errors import DataError

    kind = get_kind(getattr(spec, "kind", None), error=DataError)
    if inputs:
        return kind.load_inputs(spec, inputs, seed=seed, strict=strict)
    return kind.load_datasets(spec, seed=seed, strict=strict)
