"""Starter recipes for image class folders (``<root>/<class>/*.png``)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from dlcli.data.kinds.image_kind import NAME
from dlcli.data.listing import IMAGE_EXTENSIONS
from dlcli.errors import DataError
from dlcli.starter.base import Claim, Draft, Entry, Finding, Source, Starter, data_name
from dlcli.starter.labels import count_findings
from dlcli.starter.layout import class_dirs, extension_counts
from dlcli.starter.training import classification_train, imbalance_advice

GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})
GRAY_CHECK = 16  # RGB files decoded to see whether they are gray (R = G = B)
FILTERS = (32, 64, 64, 128)


def folder_claim(root: Path, extensions: frozenset[str], noun: str) -> Claim | None:
    """Class folders whose files are mostly ``extensions``: the share of them."""
    if not class_dirs(root):
        return None
    counts = extension_counts(root)
    total = sum(counts.values())
    mine = sum(n for ext, n in counts.items() if ext in extensions)
    if not mine:
        return None
    folders = len(class_dirs(root))
    return Claim(mine / total, f"{mine:,} {noun} files in {folders} class folders")


def folder_mismatch(classes: Sequence[str], val_classes: Sequence[str]) -> list[Finding]:
    """A warning when the validation folder's classes are not the training folder's."""
    if list(classes) == list(val_classes):
        return []
    missing = sorted(set(classes) - set(val_classes))
    extra = sorted(set(val_classes) - set(classes))
    detail = "; ".join(
        s
        for s in (
            f"missing: {', '.join(missing)}" if missing else "",
            f"not in training: {', '.join(extra)}" if extra else "",
        )
        if s
    )
    return [Finding("validation classes", "differ", detail, warning=True)]


def median_size(sizes: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """The median height and the median width (halves rounded up)."""
    import numpy as np

    h = float(np.median([s[0] for s in sizes]))
    w = float(np.median([s[1] for s in sizes]))
    return math.floor(h + 0.5), math.floor(w + 0.5)


def colour_mode(paths: Sequence[str]) -> tuple[str, str]:
    """``grayscale`` or ``rgb`` from the files' modes (RGB files that are all gray count
    as grayscale), and why."""
    from PIL import Image

    modes: Counter[str] = Counter()
    for path in paths:
        try:
            with Image.open(path) as img:
                modes[img.mode] += 1
        except Exception:  # an unreadable file: training reports it
            continue
    gray = sum(n for m, n in modes.items() if m in GRAY_MODES)
    listed = ", ".join(f"{m} {n:,}" for m, n in modes.most_common())
    if modes and gray == sum(modes.values()):
        return "grayscale", f"every sampled image is single-channel: {listed}"
    checked = [p for p in paths[:: max(1, len(paths) // GRAY_CHECK)]][:GRAY_CHECK]
    if modes and _all_gray(checked):
        return "grayscale", f"stored as {listed}, but R = G = B in {len(checked)} decoded"
    alpha = " (the alpha channel is dropped)" if any("A" in m for m in modes) else ""
    return "rgb", f"colour images: {listed}{alpha}"


def _all_gray(paths: Sequence[str]) -> bool:
    import numpy as np
    from PIL import Image

    for path in paths:
        try:
            with Image.open(path) as img:
                arr = np.asarray(img.convert("RGB"), dtype=np.int16)
        except Exception:
            continue
        if np.any(arr[..., 0] != arr[..., 1]) or np.any(arr[..., 1] != arr[..., 2]):
            return False
    return bool(paths)


def image_model(size: tuple[int, int], classes: int) -> list[Entry]:
    """A small CNN (shipped recipes/digits.yaml grown with the image): one conv + pooling
    stage per halving down to about 4 px, at most four, then a softmax head."""
    stages = max(1, min(len(FILTERS), int(math.log2(max(min(size) / 4, 1)))))
    layers = [Entry("Rescaling", {"scale": 1 / 255}, "pixels 0..255 -> 0..1")]
    for filters in FILTERS[:stages]:
        layers.append(
            Entry(
                "Conv2D",
                {"filters": filters, "kernel_size": 3, "padding": "same", "activation": "relu"},
            )
        )
        layers.append(Entry("MaxPooling2D"))
    left = min(size) // 2**stages
    if left > 4:
        layers.append(Entry("GlobalAveragePooling2D", None, f"{left} px maps -> one vector"))
    else:
        layers.append(Entry("Flatten"))
    layers.append(Entry("Dropout", 0.3))
    layers.append(
        Entry("Dense", {"units": classes, "activation": "softmax", "name": "probs"}, "classes")
    )
    return layers


def image_settings(paths: Sequence[str]) -> tuple[tuple[int, int], str, list[Finding]]:
    """``image_size`` (median of the sampled sizes) and ``color_mode``, with findings."""
    from dlcli.data.decode import peek_size
    from dlcli.data.images import SIZE_SAMPLE, _spread

    sample = _spread(list(paths), SIZE_SAMPLE)
    sizes = [s for s in map(peek_size, sample) if s is not None]
    if not sizes:
        raise DataError("no readable image to take image_size from", file=Path(paths[0]))
    size = median_size(sizes)
    heights, widths = [s[0] for s in sizes], [s[1] for s in sizes]
    spread = (
        ", all the same"
        if len(set(sizes)) == 1
        else f": heights {min(heights)}-{max(heights)}, widths {min(widths)}-{max(widths)}"
    )
    how = f"median of {len(sizes):,} sampled image sizes{spread}"
    mode, why = colour_mode(sample)
    findings = [
        Finding("image_size", f"{size[0]}x{size[1]}", how),
        Finding("color_mode", mode, why),
    ]
    if max(size) > 256:
        findings.append(
            Finding(
                "large images",
                f"{size[0]}x{size[1]}",
                "training at a smaller image_size (e.g. 128 or 224) is much faster",
                warning=True,
            )
        )
    return size, mode, findings


class ImageStarter(Starter):
    kind = NAME

    def claim(self, source: Source) -> Claim | None:
        return folder_claim(source.train, IMAGE_EXTENSIONS, "image")

    def draft(self, source: Source) -> Draft:
        from dlcli.data.images import list_class_folder

        classes, files = list_class_folder(source.train, "training")
        counts = {c: len(files[c]) for c in classes}
        paths = [p for c in classes for p in files[c]]
        size, mode, findings = image_settings(paths)
        data = [
            Entry("kind", NAME, f"{len(paths):,} images in {len(classes)} class folders"),
            Entry("train", source.recipe_path(source.train)),
        ]
        if source.validation is not None:
            val_classes, val_files = list_class_folder(source.validation, "validation")
            total = sum(len(v) for v in val_files.values())
            data.append(
                Entry("validation", source.recipe_path(source.validation), f"{total:,} images")
            )
            findings += folder_mismatch(classes, val_classes)
        else:
            data.append(Entry("validation_split", 0.2, "20% of each class held out"))
        data += [
            Entry("image_size", list(size), findings[0].why),
            Entry("color_mode", mode, findings[1].why),
            Entry("batch_size", 32),
            Entry(
                "augment",
                [{"RandomTranslation": {"height_factor": 0.08, "width_factor": 0.08}}],
                "training only; add RandomFlip if mirrored images mean the same",
            ),
        ]
        return Draft(
            kind=NAME,
            name=data_name(source.given),
            data=data,
            layers=image_model(size, len(classes)),
            train=classification_train(0.002, counts),
            findings=[*findings, *count_findings(counts), *imbalance_advice(counts)],
        )
