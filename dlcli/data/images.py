"""Image folders (``<root>/<class>/*.png``) -> a streaming :class:`DataBundle`.

Listing the folders and reading a sample of headers (for ``image_size``) is all that happens
before training: the images are decoded while epoch 1 trains and cached as uint8
(:mod:`dlcli.data.streaming`, :mod:`dlcli.data.cache`) by :mod:`dlcli.data.decode` (the same
decoder ``predict`` uses). Files that fail are listed with their reason as they are found
(tf.data's ``ignore_errors()`` would lose their names); ``strict`` decodes everything first
and refuses any bad file before training.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.data.bundle import DataBundle, DataNote, stratified_split
from dlcli.data.cache import plan_cache
from dlcli.data.decode import (
    INTERPOLATION,
    SkippedFile,
    _walk,
    channels_for,
    is_hidden,
    peek_size,
)
from dlcli.data.kinds.image_kind import ImagePreprocessing
from dlcli.data.listing import find_images
from dlcli.data.streaming import ImageSplit, PixelBank, SkipLog
from dlcli.errors import DataError, Problem

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
SIZE_SAMPLE = 2000  # image headers read to choose image_size when the recipe gives none
VARIATION = 2.0  # warn when inferred-size training images differ more than this in H or W


def list_class_folder(root: Path, what: str) -> tuple[list[str], dict[str, list[str]]]:
    """Sorted class names and their image files (recursive); raises DataError when unusable."""
    if not root.exists():
        raise DataError(
            f"{what} folder not found",
            file=root,
            expected="a folder with one sub-folder of images per class",
        )
    if not root.is_dir():
        raise DataError(
            f"{what} path is a file, not a folder",
            file=root,
            expected="a folder with one sub-folder of images per class",
        )
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not is_hidden(e.name))
    if not classes:
        loose = [n for n in os.listdir(root) if n.lower().endswith(IMAGE_SUFFIXES)]
        hint = (
            f"found {len(loose)} images directly in the folder; move them into class sub-folders"
            if loose
            else None
        )
        raise DataError(
            f"{what} folder has no class sub-folders",
            file=root,
            expected="<folder>/<class name>/<image files>",
            hint=hint,
        )
    files: dict[str, list[str]] = {}
    for cls in classes:
        files[cls] = [
            p
            for p in _walk(str(root / cls), True)
            if p.lower().endswith(IMAGE_SUFFIXES) and not is_hidden(os.path.basename(p))
        ]
    if not any(files.values()):
        raise DataError(
            f"{what} folder contains no images",
            file=root,
            expected=f"image files ({', '.join(IMAGE_SUFFIXES)}) inside class sub-folders",
            received=classes,
        )
    return classes, files


def _flatten(classes: list[str], files: dict[str, list[str]]) -> tuple[list[str], np.ndarray]:
    paths: list[str] = []
    labels: list[int] = []
    for i, cls in enumerate(classes):
        paths.extend(files[cls])
        labels.extend([i] * len(files[cls]))
    return paths, np.asarray(labels, dtype=np.int64)


def _check_every_class_readable(
    split: ImageSplit, classes: list[str], root: Path, what: str
) -> None:
    """Each class needs one readable image: its files are tried in order until one decodes
    (usually the first; the pixels stay in the cache), not the whole folder."""
    problems = []
    for i, cls in enumerate(classes):
        positions = np.flatnonzero(split.y == i)
        if not split.first_readable(positions):
            found = len(positions)
            problems.append(
                Problem(
                    f"class folder has no readable images ({found} image files, all skipped)"
                    if found
                    else "class folder has no images",
                    file=root / cls,
                    expected=f"at least one readable image per {what} class",
                )
            )
    if problems:
        raise DataError(problems=problems)


def load_image_folders(spec: Any, *, seed: int, strict: bool = False) -> DataBundle:
    color_mode = getattr(spec, "color_mode", "rgb") or "rgb"
    channels = channels_for(color_mode)
    batch_size = int(getattr(spec, "batch_size", 32) or 32)
    train_root = Path(spec.train)
    classes, files = list_class_folder(train_root, "training")
    val_root = Path(spec.validation) if getattr(spec, "validation", None) else None
    val_classes: list[str] = []
    val_files: dict[str, list[str]] = {}
    if val_root is not None:
        val_classes, val_files = list_class_folder(val_root, "validation")
        if val_classes != classes:
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
            raise DataError(
                f"validation classes do not match the training classes ({detail})",
                file=val_root,
                expected=f"the class folders of {train_root}: {classes}",
                received=val_classes,
            )

    image_size = getattr(spec, "image_size", None)
    notes: list[DataNote] = []
    if image_size is None:
        image_size, notes = _infer_size(train_root, classes, files)
    image_size = (int(image_size[0]), int(image_size[1]))
    ignored = non_image_files(train_root, classes)
    if val_root is not None:
        ignored += non_image_files(val_root, val_classes)
    if ignored:
        notes.append(DataNote(_ignored_text(ignored)))

    paths, labels = _flatten(classes, files)
    vpaths, vlabels = _flatten(val_classes, val_files) if val_root else ([], labels[:0])
    shape = (*image_size, channels)
    plan = plan_cache(
        getattr(spec, "cache", "auto") or "auto",
        len(paths) + len(vpaths),
        int(np.prod(shape)),
        getattr(spec, "cache_budget", None),
    )
    notes.append(DataNote(plan.describe(), warning=plan.over_budget))
    skipped = SkipLog()
    everything = paths + vpaths
    store = plan.store(len(everything), shape)
    bank = PixelBank(everything, image_size, color_mode, store, skipped)
    train = ImageSplit(bank, np.arange(len(paths)), labels)
    validation = None
    if val_root is not None:
        validation = ImageSplit(bank, np.arange(len(paths), len(everything)), vlabels)
    if strict:
        bank.scan(np.arange(len(everything)))
        if skipped:
            raise DataError(
                problems=[
                    Problem(f"unusable image: {s.reason}", file=s.path, hint="--strict is on")
                    for s in skipped
                ]
            )
    _check_every_class_readable(train, classes, train_root, "training")
    if validation is not None and val_root is not None:
        _check_every_class_readable(validation, classes, val_root, "validation")
    train = train.without_known_bad()
    validation = validation.without_known_bad() if validation is not None else None

    split = getattr(spec, "validation_split", None)
    if split:
        train_idx, val_idx = stratified_split(train.y, float(split), seed)
        train, validation = train.subset(train_idx), train.subset(val_idx)

    return DataBundle(
        class_names=classes,
        input_shape=(*image_size, channels),
        train=train,
        validation=validation,
        preprocessing=ImagePreprocessing(
            image_size=image_size,
            color_mode=color_mode,
            channels=channels,
            interpolation=INTERPOLATION,
        ),
        skipped=skipped,
        seed=seed,
        shuffle=bool(getattr(spec, "shuffle", True)),
        augment=list(getattr(spec, "augment", None) or []),
        batch_size=batch_size,
        notes=notes,
    )


def non_image_files(root: Path, classes: list[str]) -> list[SkippedFile]:
    """Visible files in the class folders whose extension is not an image's (``README.txt``).

    They are never used, and never a failure; training names them once, as ``predict`` and
    ``evaluate`` do (:data:`dlcli.data.listing.NOT_AN_IMAGE`).
    """
    _, listed = find_images([root / cls for cls in classes], recursive=True)
    return [s for s in listed if s.ignored]


def _ignored_text(ignored: list[SkippedFile], shown: int = 5) -> str:
    names = ", ".join(s.path for s in ignored[:shown])
    more = f", and {len(ignored) - shown:,} more" if len(ignored) > shown else ""
    return f"{len(ignored):,} file(s) {ignored[0].reason}: {names}{more}"


def _infer_size(
    root: Path, classes: list[str], files: dict[str, list[str]]
) -> tuple[tuple[int, int], list[DataNote]]:
    """No ``image_size`` in the recipe: the most common size among the training images.

    Only image headers are read (Pillow opens lazily), from every image or, above
    ``SIZE_SAMPLE`` images, from that many spread evenly over the classes. Returns the size
    and notes saying where it came from, with a warning when sizes vary more than 2x.
    """
    paths = [p for cls in classes for p in files[cls]]
    sample = _spread(paths, SIZE_SAMPLE)
    sizes = [size for size in map(peek_size, sample) if size is not None]
    if not sizes:
        raise DataError(
            "no readable image to take image_size from",
            file=root,
            hint="set data.image_size: [H, W] in the recipe",
        )
    (size, count), *_ = Counter(sizes).most_common(1)
    scanned = (
        f"{len(sample):,} training images sampled evenly from {len(paths):,}"
        if len(sample) < len(paths)
        else f"{len(paths):,} training images"
    )
    if count < len(sizes):
        origin = f"the most common size ({count:,} of {len(sizes):,} readable; {scanned})"
    elif len(sizes) < len(sample):
        origin = f"the size of every readable one ({len(sizes):,}) of the {scanned}"
    else:
        origin = f"the size of all {scanned}"
    notes = [
        DataNote(
            f"image_size not set: using {size[0]}x{size[1]} (height x width), {origin}; "
            "set data.image_size: [H, W] to choose"
        )
    ]
    heights, widths = [h for h, _ in sizes], [w for _, w in sizes]
    if max(heights) > VARIATION * min(heights) or max(widths) > VARIATION * min(widths):
        notes.append(
            DataNote(
                f"training image sizes vary more than {VARIATION:g}x (heights "
                f"{min(heights)}-{max(heights)} px, widths {min(widths)}-{max(widths)} px) "
                f"and no image_size is set: every image is resized to {size[0]}x{size[1]}. "
                "Set data.image_size: [H, W] to the size the model should see (smaller "
                "trains faster)",
                warning=True,
            )
        )
    return size, notes


def _spread(items: list[str], limit: int) -> list[str]:
    """At most ``limit`` items, evenly spaced (every class is represented)."""
    if len(items) <= limit:
        return items
    step = (len(items) - 1) / (limit - 1)
    return [items[round(i * step)] for i in range(limit)]
