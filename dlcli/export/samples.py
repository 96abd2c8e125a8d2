"""Real inputs for the export parity check, decoded exactly as training decoded them.

Images come from ``--sample PATH`` (a folder, file or glob) or else from the run's own data
as its ``recipe.yaml`` names it (the validation folder, else the training folder), decoded
by :mod:`dlcli.data.decode` with the run's image size and colour mode, so the check runs on
the pixels the model will see in service. Tabular models use rows of the run's CSV (or
``--sample FILE.csv``). Random noise is never used: it would miss the ranges real data hit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.errors import DataError, UsageError

MAX_SAMPLES = 32


@dataclass
class SampleBatch:
    x: np.ndarray
    description: str

    @property
    def count(self) -> int:
        return int(self.x.shape[0])


def parity_samples(loaded: Any, sample: Path | None, limit: int = MAX_SAMPLES) -> SampleBatch:
    """Up to ``limit`` real inputs for ``loaded`` (a ``LoadedModel``)."""
    prep = loaded.preprocessing or {}
    rank = len(loaded.model.inputs[0].shape) if loaded.model is not None else 4
    kind = prep.get("kind") or ("images" if rank == 4 else "csv")
    if kind == "csv":
        return _csv_samples(loaded, sample, limit)
    return _image_samples(loaded, sample, limit)


def _spread(items: list[Any], limit: int) -> list[Any]:
    """``limit`` items evenly spread over the list (class folders are sorted, so this
    takes images of every class rather than ``limit`` of the first)."""
    if len(items) <= limit:
        return list(items)
    idx = np.unique(np.linspace(0, len(items) - 1, limit).round().astype(int))
    return [items[i] for i in idx]


def _run_data(run_dir: Path | None) -> dict[str, Any] | None:
    """The ``data`` section of a run's recipe.yaml (safe YAML), paths made absolute."""
    if run_dir is None or not (run_dir / "recipe.yaml").is_file():
        return None
    import yaml

    try:
        recipe = yaml.safe_load((run_dir / "recipe.yaml").read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        return None
    data = recipe.get("data") if isinstance(recipe, dict) else None
    if not isinstance(data, dict):
        return None
    out = dict(data)
    for key in ("train", "validation"):
        if isinstance(out.get(key), str):
            p = Path(out[key])
            out[key] = p if p.is_absolute() else (run_dir / p)
    return out


def _image_samples(loaded: Any, sample: Path | None, limit: int) -> SampleBatch:
    from dlcli.data.decode import SkippedFile, decode_image, find_images

    prep = loaded.preprocessing or {}
    size = prep.get("image_size")
    if not size or any(s is None for s in size):
        raise UsageError(
            "cannot tell the image size this model expects, so no sample can be decoded",
            file=loaded.source,
            hint='pass --labels FILE with a JSON object such as {"class_names": [...], '
            '"image_size": [H, W]}',
        )
    color_mode = prep.get("color_mode") or "rgb"
    if sample is not None:
        if not Path(sample).exists() and not any(c in str(sample) for c in "*?["):
            raise DataError("--sample path not found", file=sample, field="--sample")
        sources, where = [sample], str(sample)
    else:
        data = _run_data(loaded.run_dir)
        folders = [data[k] for k in ("validation", "train") if data and data.get(k)]
        folders = [f for f in folders if Path(f).is_dir()]
        if not folders:
            raise UsageError(
                "no sample images for the parity check",
                file=loaded.source,
                expected="a run directory whose recipe.yaml names existing image folders",
                hint="pass --sample DIR with a few images like the ones the model classifies",
            )
        sources, where = folders[:1], f"{folders[0]} (from the run's recipe.yaml)"
    paths, _ = find_images(sources, recursive=True)
    images: list[np.ndarray] = []
    reasons: list[str] = []
    # Evenly spread picks first; the rest stand in for any that fail to decode.
    first = _spread(paths, limit)
    chosen = set(first)
    for path in first + [p for p in paths if p not in chosen]:
        decoded = decode_image(path, (int(size[0]), int(size[1])), color_mode)
        if isinstance(decoded, SkippedFile):
            reasons.append(f"{decoded.path}: {decoded.reason}")
            continue
        images.append(decoded)
        if len(images) == limit:
            break
    if not images:
        raise DataError(
            "no usable sample images for the parity check",
            file=where,
            expected="image files (.png .jpg .jpeg .bmp .gif .webp)",
            received=reasons[:3] if reasons else "no image files",
            hint="pass --sample DIR with images the model can read",
        )
    return SampleBatch(np.stack(images).astype(np.float32), f"{len(images)} image(s) from {where}")


def _csv_samples(loaded: Any, sample: Path | None, limit: int) -> SampleBatch:
    from dlcli.data.tabular import read_csv

    prep = loaded.preprocessing or {}
    path = sample
    if path is None:
        data = _run_data(loaded.run_dir)
        for key in ("validation", "train"):
            if data and data.get(key) and Path(data[key]).is_file():
                path = Path(data[key])
                break
    if path is None:
        raise UsageError(
            "no sample rows for the parity check",
            file=loaded.source,
            hint="pass --sample FILE.csv with the model's feature columns and label column",
        )
    label = prep.get("label_column") or "label"
    features = prep.get("feature_columns")
    _, x, _, _ = read_csv(Path(path), label, list(features) if features else None)
    if len(x) == 0:
        raise DataError("the CSV has no rows for the parity check", file=path)
    rows = _spread(list(range(len(x))), limit)
    return SampleBatch(np.asarray(x[rows], dtype=np.float32), f"{len(rows)} row(s) from {path}")
