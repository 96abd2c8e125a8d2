"""Real images for the export parity check, decoded exactly as training decoded them.

From ``--sample PATH`` (a folder, file or glob) or else the run's own data as its
``recipe.yaml`` names it (the validation folder, else the training folder), decoded by
:mod:`dlcli.data.decode` with the run's image size and colour mode, so the check runs on
the pixels the model will see in service. Random noise is never used: it would miss the
ranges real data hit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlcli.data.kinds.base import SampleInputs, recorded_data
from dlcli.errors import DataError, UsageError


def spread(items: list[Any], limit: int) -> list[Any]:
    """``limit`` items evenly spread over the list (class folders are sorted, so this
    takes inputs of every class rather than ``limit`` of the first)."""
    import numpy as np

    if len(items) <= limit:
        return list(items)
    idx = np.unique(np.linspace(0, len(items) - 1, limit).round().astype(int))
    return [items[i] for i in idx]


def image_samples(
    size: tuple[int, int],
    color_mode: str,
    sample: Path | None,
    run_data: dict[str, Any] | None,
    limit: int,
    source: Path,
) -> SampleInputs:
    import numpy as np

    from dlcli.data.decode import SkippedFile, decode_image, find_images

    if sample is not None:
        if not Path(sample).exists() and not any(c in str(sample) for c in "*?["):
            raise DataError("--sample path not found", file=sample, field="--sample")
        sources, where = [sample], str(sample)
    else:
        folders = [f for f in recorded_data(run_data) if f.is_dir()]
        if not folders:
            raise UsageError(
                "no sample images for the parity check",
                file=source,
                expected="a run directory whose recipe.yaml names existing image folders",
                hint="pass --sample DIR with a few images like the ones the model classifies",
            )
        sources, where = folders[:1], f"{folders[0]} (from the run's recipe.yaml)"
    paths, _ = find_images(sources, recursive=True)
    images: list[np.ndarray] = []
    reasons: list[str] = []
    # Evenly spread picks first; the rest stand in for any that fail to decode.
    first = spread(paths, limit)
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
    return SampleInputs(np.stack(images).astype(np.float32), f"{len(images)} image(s) from {where}")
