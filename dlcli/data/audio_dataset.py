"""Sound files as training splits (streamed), predict batches and labelled evaluation data.

Training streams like images: a split holds paths and labels only, and each ``tf.data``
batch decodes its files (:func:`dlcli.data.audio_read.decode_audio`) in a parallel map,
so memory stays flat however large the folder. Every file is checked once before
training (its header, cheaply), so unusable files are skipped with their reason up front
and a run never dies mid-epoch on one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.data.audio_read import AudioFormat, Crop, class_folders, decode_audio, read_header
from dlcli.data.bundle import DataBundle, DataNote, stratified_split
from dlcli.data.cache import CachePlan, human_bytes, plan_cache
from dlcli.data.decode import DecodedBatch
from dlcli.data.listing import SkippedFile
from dlcli.errors import DataError


@dataclass
class AudioSplit:
    """Sound files and their class indices, decoded batch by batch."""

    y: np.ndarray
    paths: list[str]
    fmt: AudioFormat
    crop: Crop = "center"
    seed: int = 0
    cache: dict[tuple[str, str], np.ndarray] | None = None  # (crop, path) -> clip
    _visits: dict[int, int] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __len__(self) -> int:
        return len(self.y)

    @property
    def sources(self) -> list[str]:
        return self.paths

    @property
    def listed(self) -> int:
        return len(self.y)

    def subset(self, idx: np.ndarray) -> AudioSplit:
        idx = np.asarray(idx, dtype=np.int64)
        paths = [self.paths[i] for i in idx]
        return AudioSplit(self.y[idx], paths, self.fmt, self.crop, self.seed, self.cache)

    def with_crop(self, crop: Crop) -> AudioSplit:
        return AudioSplit(self.y, self.paths, self.fmt, crop, self.seed, self.cache)

    def _rng(self, row: int) -> np.random.Generator | None:
        """Random crops: a generator per (seed, file, how often it was read), so each epoch
        crops a file differently and a run with the same seed crops it the same way."""
        if self.crop != "random":
            return None
        with self._lock:
            visit = self._visits.get(row, 0)
            self._visits[row] = visit + 1
        return np.random.default_rng((self.seed, row, visit))

    def load(self, positions: np.ndarray) -> np.ndarray:
        out = np.zeros((len(positions), *self.fmt.shape), dtype=np.float32)
        for i, row in enumerate(positions):
            out[i] = self._clip(int(row))
        return out

    def _clip(self, row: int) -> np.ndarray | float:
        path, key = self.paths[row], (self.crop, self.paths[row])
        cache = self.cache if self.crop != "random" else None  # random crops: a new one each time
        if cache is not None and key in cache:
            return cache[key]
        clip = decode_audio(path, self.fmt, self.crop, self._rng(row))
        if isinstance(clip, SkippedFile):  # checked before training: changed on disk since
            return 0.0  # silence
        if cache is not None:
            cache[key] = clip.audio
        return clip.audio

    def batch_fn(self, input_shape: tuple[int, ...]) -> Callable[[Any], tuple[Any, Any]]:
        from dlcli.backend import tf

        y_all = tf.constant(self.y, dtype=tf.int32)
        shape = self.fmt.shape

        def gather(positions: Any) -> tuple[Any, Any]:
            x = tf.numpy_function(self.load, [positions], tf.float32, name="decode_audio")
            x.set_shape((None, *shape))
            return x, tf.gather(y_all, positions)

        return gather


@dataclass
class Listing:
    paths: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    resampled: int = 0


def list_split(root: Path, fmt: AudioFormat, what: str) -> Listing:
    """Every usable sound file of a class-folder tree (headers checked), and the rest."""
    if not root.is_dir():
        raise DataError(
            f"{what} folder not found" if not root.exists() else f"{what} path is not a folder",
            file=root,
            expected="a folder with one sub-folder of sound files per class",
        )
    folders = class_folders(root)
    if not folders:
        raise DataError(
            f"{what} folder has no class sub-folders",
            file=root,
            expected="<folder>/<class name>/<sound files: .wav .flac .ogg>",
        )
    found = Listing()
    for cls, paths in folders.items():
        for path in paths:
            header = read_header(path, fmt)
            if isinstance(header, SkippedFile):
                found.skipped.append(header)
                continue
            found.paths.append(path)
            found.labels.append(cls)
            found.resampled += header != fmt.sample_rate
    if not found.paths:
        raise DataError(
            f"no usable {what} sound files",
            file=root,
            expected="class folders of .wav/.flac/.ogg files",
            received=f"{len(found.skipped)} skipped" if found.skipped else "no sound files",
        )
    return found


def load_audio_bundle(section: Any, prep: Any, fmt: AudioFormat, *, seed: int) -> DataBundle:
    train_root = Path(section.train)
    train_list = list_split(train_root, fmt, "training")
    class_names = sorted(set(train_list.labels))
    index = {c: i for i, c in enumerate(class_names)}

    n_files = len(train_list.paths)
    if section.validation is not None:
        val_list = list_split(Path(section.validation), fmt, "validation")
        n_files += len(val_list.paths)
    plan = plan_cache(section.cache, n_files, 4 * int(np.prod(fmt.shape)), section.cache_budget)
    cache: dict[tuple[str, str], np.ndarray] | None = {} if plan.mode == "memory" else None

    def split(listing: Listing, crop: Crop) -> AudioSplit:
        y = np.asarray([index[c] for c in listing.labels], dtype=np.int64)
        return AudioSplit(y, listing.paths, fmt, crop, seed, cache)

    train = split(train_list, section.crop)
    skipped = list(train_list.skipped)
    resampled = train_list.resampled
    validation = None
    if section.validation is not None:
        val_root = Path(section.validation)
        unknown = sorted(set(val_list.labels) - set(class_names))
        if unknown:
            raise DataError(
                f"validation classes not in the training data: {unknown}",
                file=val_root,
                expected=f"classes of {train_root}: {class_names}",
            )
        validation = split(val_list, "center")
        skipped += val_list.skipped
        resampled += val_list.resampled
    elif section.validation_split:
        tr, va = stratified_split(train.y, float(section.validation_split), seed)
        train, validation = train.subset(tr), train.subset(va).with_crop("center")
    notes = [DataNote(_cache_text(plan), warning=plan.over_budget)]
    if resampled:
        notes.append(
            DataNote(f"{resampled:,} file(s) resampled to {fmt.sample_rate:,} Hz (soxr, HQ)")
        )
    return DataBundle(
        class_names=class_names,
        input_shape=fmt.shape,
        train=train,
        validation=validation,
        preprocessing=prep,
        skipped=skipped,
        seed=seed,
        shuffle=bool(section.shuffle),
        augment=list(section.augment or []),
        batch_size=int(section.batch_size),
        notes=notes,
    )


def _cache_text(plan: CachePlan) -> str:
    size = human_bytes(plan.nbytes)
    if plan.mode != "memory":
        why = "cache: none" if plan.choice == "none" else f"{size} over the memory budget"
        return f"clip cache: none ({why}): every epoch decodes the sound files again"
    return (
        f"clip cache: memory, {plan.images:,} clips ({size} float32) kept as epoch 1 decodes "
        f"them (budget {human_bytes(plan.budget)}, {plan.budget_origin}); random crops are "
        "decoded every epoch"
    )


def audio_batches(
    paths: Iterable[str | os.PathLike[str]], fmt: AudioFormat, batch_size: int
) -> Iterator[DecodedBatch]:
    """Clips of ``paths`` in batches, in order (center crop); unusable files in ``errors``.
    Holds one batch at a time."""
    clips: list[np.ndarray] = []
    sources: list[str] = []
    errors: list[SkippedFile] = []
    for path in paths:
        clip = decode_audio(path, fmt, "center")
        if isinstance(clip, SkippedFile):
            errors.append(clip)
        else:
            clips.append(clip.audio)
            sources.append(os.fspath(path))
        if len(clips) == batch_size:
            yield DecodedBatch(images=np.stack(clips), paths=sources, errors=errors)
            clips, sources, errors = [], [], []
    if clips or errors:
        empty = np.zeros((0, *fmt.shape), dtype=np.float32)
        yield DecodedBatch(images=np.stack(clips) if clips else empty, paths=sources, errors=errors)
