"""Sound files as training splits (streamed), predict batches and labelled evaluation data.

Training streams like images: a split holds paths and labels only, and each ``tf.data``
batch decodes its files (:func:`dlcli.data.audio_read.decode_waveform`) in a parallel
map and cuts their clips. The decoded waveforms are kept in memory when they fit the
budget (``data.cache``), so later epochs only cut clips; otherwise memory stays flat
however large the folder. Every file is checked once before training (its header,
cheaply), so unusable files are skipped with their reason up front and a run never dies
mid-epoch on one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.data.audio_read import (
    AudioFormat,
    Crop,
    class_folders,
    crop_start,
    decode_audio,
    decode_waveform,
    read_header,
)
from dlcli.data.bundle import DataBundle, DataNote, stratified_split
from dlcli.data.cache import CachePlan, human_bytes, plan_cache
from dlcli.data.decode import DecodedBatch
from dlcli.data.listing import SkippedFile
from dlcli.errors import DataError


@dataclass
class AudioSplit:
    """Sound files and their class indices, decoded batch by batch.

    ``cache`` (when the run's clips fit in memory) keeps each file's whole waveform, at the
    model's rate and channels, from the first time it is decoded; clips are cut from it.
    A random crop's window is a function of the seed, the epoch and the example only, so
    a resumed run crops every example as the uninterrupted run did.
    """

    y: np.ndarray
    paths: list[str]
    fmt: AudioFormat
    crop: Crop = "center"
    seed: int = 0
    cache: dict[str, np.ndarray] | None = None  # path -> waveform

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

    def load(self, positions: np.ndarray, epoch: int = 0) -> np.ndarray:
        """The clips of ``positions`` (silence for a file unreadable since its check)."""
        samples = self.fmt.samples
        out = np.zeros((len(positions), *self.fmt.shape), dtype=np.float32)
        for i, row in enumerate(positions):
            wave = self._waveform(int(row))
            if wave is None:
                continue
            rng = None
            if self.crop == "random" and len(wave) > samples:
                rng = np.random.default_rng((self.seed, int(epoch), int(row)))
            start = crop_start(len(wave), samples, self.crop, rng)
            piece = wave[start : start + samples]
            out[i, : len(piece)] = piece
        return out

    def _waveform(self, row: int) -> np.ndarray | None:
        wave = cached_waveform(self.paths[row], self.fmt, self.cache)
        # checked before training: a file unreadable now changed on disk since
        return None if isinstance(wave, SkippedFile) else wave

    def batch_fn(self, input_shape: tuple[int, ...]) -> Callable[[Any], tuple[Any, Any]]:
        """Batches outside the training epochs (validation, adapting): crops of epoch 0."""
        gather = self.epoch_batch_fn(input_shape)
        return lambda positions: gather(positions, 0)

    def epoch_batch_fn(self, input_shape: tuple[int, ...]) -> Callable[[Any, Any], tuple[Any, Any]]:
        """``tf.data`` map from a batch of positions and its epoch to (clips, labels)."""
        from dlcli.backend import tf

        y_all = tf.constant(self.y, dtype=tf.int32)
        shape = self.fmt.shape

        def gather(positions: Any, epoch: Any) -> tuple[Any, Any]:
            x = tf.numpy_function(
                self.load, [positions, tf.cast(epoch, tf.int64)], tf.float32, name="decode_audio"
            )
            x.set_shape((None, *shape))
            return x, tf.gather(y_all, positions)

        return gather


def cached_waveform(
    path: str, fmt: AudioFormat, cache: dict[str, np.ndarray] | None
) -> np.ndarray | SkippedFile:
    """The file's whole waveform at ``fmt``'s rate and channels, from ``cache`` (path ->
    waveform; None: no cache) when it holds it, else decoded (and kept there)."""
    if cache is not None and (wave := cache.get(path)) is not None:
        return wave
    decoded = decode_waveform(path, fmt)
    if isinstance(decoded, SkippedFile):
        return decoded
    if cache is not None:
        cache[path] = decoded[0]
    return decoded[0]


@dataclass
class Listing:
    paths: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    resampled: int = 0
    decoded_bytes: int = 0  # the usable files' waveforms at the model's rate, as float32


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
            rate, frames = header
            found.resampled += rate != fmt.sample_rate
            channels = 1 if fmt.channels == "mono" else fmt.channel_count
            found.decoded_bytes += 4 * channels * -(-frames * fmt.sample_rate // rate)
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

    n_files, nbytes = len(train_list.paths), train_list.decoded_bytes
    if section.validation is not None:
        val_list = list_split(Path(section.validation), fmt, "validation")
        n_files, nbytes = n_files + len(val_list.paths), nbytes + val_list.decoded_bytes
    plan = plan_cache(section.cache, n_files, -(-nbytes // n_files), section.cache_budget)
    cache: dict[str, np.ndarray] | None = {} if plan.mode == "memory" else None

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
    notes = [DataNote(clip_cache_text(plan), warning=plan.over_budget)]
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


def clip_cache_text(plan: CachePlan) -> str:
    size = human_bytes(plan.nbytes)
    if plan.mode != "memory":
        why = "cache: none" if plan.choice == "none" else f"{size} over the memory budget"
        return f"clip cache: none ({why}): every epoch decodes the sound files again"
    return (
        f"clip cache: memory, {plan.images:,} waveforms ({size} float32) kept as epoch 1 "
        f"decodes them (budget {human_bytes(plan.budget)}, {plan.budget_origin}); later "
        "epochs cut their clips from them"
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
