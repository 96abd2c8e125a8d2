"""Table rows as ``tf.data`` batches: in-memory columns gathered, file columns decoded.

Numbers, categories and text are held in memory and gathered by row in the graph. Image
columns stream like the images kind (:class:`~dlcli.data.streaming.PixelBank`: decoded on
``tf.data``'s threads as batches need them, cached as uint8, a bad file recorded once and
its row dropped from its batch); audio columns are read by the audio kind's reader and
kept in its waveform cache (:func:`~dlcli.data.audio_dataset.cached_waveform`, center
crop) when the files fit ``data.cache``, so later epochs read no file again.
A batch's ``x`` is the single input's tensor, or a dict keyed by model input name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dlcli.data.audio_dataset import cached_waveform, clip_cache_text
from dlcli.data.audio_read import AudioFormat, fit_length, read_header
from dlcli.data.bundle import DataNote, label_dtype
from dlcli.data.cache import plan_cache
from dlcli.data.listing import SkippedFile
from dlcli.data.streaming import BAD, PixelBank, SkipLog
from dlcli.data.table_encode import SINGLE, Group

if TYPE_CHECKING:
    from dlcli.data.kinds.base import LabelledArrays


def pack(values: dict[str, Any], groups: Sequence[Group]) -> Any:
    """The model's ``x``: the one input's value, or a dict by input name."""
    if len(groups) == 1 and groups[0].name == SINGLE:
        return values[SINGLE]
    return {g.name: values[g.name] for g in groups}


class TableRows:
    """Every row of a run's tables (training and validation), each group's values by row."""

    def __init__(
        self,
        groups: Sequence[Group],
        arrays: dict[str, np.ndarray],
        banks: dict[str, PixelBank],
        audio: dict[str, AudioFormat],
        sources: list[str],
        skipped: SkipLog,
        clip_caches: dict[str, dict[str, np.ndarray] | None] | None = None,
    ) -> None:
        self.groups = list(groups)
        self.arrays = arrays  # vector and text groups; file groups hold paths here too
        self.banks = banks
        self.audio = audio
        self.clip_caches = clip_caches or {}  # audio group -> path -> whole waveform, or None
        self.sources = sources
        self.skipped = skipped
        self._bad_audio: set[int] = set()

    @property
    def file_groups(self) -> list[Group]:
        return [g for g in self.groups if g.feed in ("image", "audio")]

    def load_files(self, rows: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Each file group's decoded values for the readable ``rows``, and which they are."""
        keep = np.ones(len(rows), dtype=bool)
        full: list[np.ndarray] = []
        for g in self.file_groups:
            if g.feed == "image":
                bank = self.banks[g.name]
                pixels, kept = bank.fetch(rows)
                if kept.all():
                    full.append(pixels)
                else:
                    whole = np.zeros((len(rows), *bank.shape), dtype=np.uint8)
                    whole[kept] = pixels
                    full.append(whole)
                keep &= kept
            else:
                clips, kept = self._clips(g.name, rows)
                full.append(clips)
                keep &= kept
        return [values[keep] for values in full], keep

    def _clips(self, name: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fmt = self.audio[name]
        paths = self.arrays[name]
        cache = self.clip_caches.get(name)
        out = np.zeros((len(rows), *fmt.shape), dtype=np.float32)
        kept = np.ones(len(rows), dtype=bool)
        for i, row in enumerate(rows):
            wave = cached_waveform(str(paths[row]), fmt, cache)
            if isinstance(wave, SkippedFile):
                kept[i] = False
                if int(row) not in self._bad_audio:
                    self._bad_audio.add(int(row))
                    self.skipped.add(wave)
                continue
            out[i] = fit_length(wave, fmt.samples, "center")
        return out, kept

    def bad_among(self, rows: np.ndarray) -> int:
        bad = np.zeros(len(rows), dtype=bool)
        for bank in self.banks.values():
            bad |= bank.status[rows] == BAD
        if self._bad_audio:
            bad |= np.isin(rows, list(self._bad_audio))
        return int(np.count_nonzero(bad))


def clip_caches(
    choice: str,
    budget: str | int | float | None,
    groups: Sequence[Group],
    audio: dict[str, AudioFormat],
    arrays: dict[str, np.ndarray],
) -> tuple[dict[str, dict[str, np.ndarray] | None], list[DataNote]]:
    """Each audio group's waveform cache, planned as the audio kind plans its own (whole
    files at the model's rate, sized from their headers, against ``data.cache`` and its
    budget): an empty dict filled as epoch 1 decodes, or None; and a note for each."""
    caches: dict[str, dict[str, np.ndarray] | None] = {}
    notes: list[DataNote] = []
    for g in groups:
        if g.name not in audio:
            continue
        fmt = audio[g.name]
        paths = sorted({str(p) for p in arrays[g.name]})
        nbytes = sum(_waveform_bytes(path, fmt) for path in paths)
        plan = plan_cache(choice, len(paths), -(-nbytes // max(1, len(paths))), budget)
        caches[g.name] = {} if plan.mode == "memory" else None
        text = f"column {g.columns[0].name!r}: {clip_cache_text(plan)}"
        notes.append(DataNote(text, plan.over_budget))
    return caches, notes


def _waveform_bytes(path: str, fmt: AudioFormat) -> int:
    """The decoded file's size as float32 at ``fmt``'s rate (0 for an unusable file)."""
    header = read_header(path, fmt)
    if isinstance(header, SkippedFile):
        return 0
    rate, frames = header
    channels = 1 if fmt.channels == "mono" else fmt.channel_count
    return 4 * channels * -(-frames * fmt.sample_rate // rate)


class TableSplit:
    """Some rows of :class:`TableRows` (a training or validation split) and their labels."""

    def __init__(
        self, data: TableRows, rows: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None
    ) -> None:
        self.data = data
        self.rows = np.asarray(rows, dtype=np.int64)
        self.y = np.asarray(y)  # class indices, or float rows (multi-label, regression)
        self.weight = weight  # per-example loss weights (data.sample_weight), or None

    @property
    def sources(self) -> list[str]:
        return [self.data.sources[r] for r in self.rows]

    @property
    def listed(self) -> int:
        return len(self.rows)

    def __len__(self) -> int:
        return self.listed - self.data.bad_among(self.rows)

    def subset(self, idx: np.ndarray) -> TableSplit:
        idx = np.asarray(idx, dtype=np.int64)
        weight = None if self.weight is None else self.weight[idx]
        return TableSplit(self.data, self.rows[idx], self.y[idx], weight)

    def without_weights(self) -> TableSplit:
        """Validation scores every row once: no loss weights."""
        return TableSplit(self.data, self.rows, self.y)

    def labelled(self, description: str) -> LabelledArrays:
        """The split's rows with their ``y`` (``evaluate`` of a run's split), files decoded
        one batch at a time; unreadable rows leave their batch and are listed as skipped."""
        from dlcli.data.kinds.base import LabelledArrays

        data = self.data
        skipped = list(data.skipped)

        def decode(positions: np.ndarray) -> tuple[Any, np.ndarray]:
            rows = self.rows[positions]
            decoded, keep = data.load_files(rows)
            values: dict[str, Any] = {
                g.name: data.arrays[g.name][rows[keep]]
                for g in data.groups
                if g.feed in ("vector", "text")
            }
            for g, array in zip(data.file_groups, decoded, strict=True):
                values[g.name] = array.astype(np.float32)
            skipped[:] = list(data.skipped)
            return pack(values, data.groups), keep

        return LabelledArrays.streamed(description, self.y, decode, skipped)

    def batch_fn(self, input_shape: Any) -> Callable[[Any], tuple[Any, Any]]:
        """``tf.data`` map from a batch of positions to ``(x, y)``."""
        from dlcli.backend import tf

        data = self.data
        in_memory = [g for g in data.groups if g.feed in ("vector", "text")]
        consts = {g.name: tf.constant(data.arrays[g.name]) for g in in_memory}
        rows_all = tf.constant(self.rows)
        rows_np = self.rows
        y_all = tf.constant(self.y, dtype=label_dtype(self.y))
        files = data.file_groups
        types = [tf.uint8 if g.feed == "image" else tf.float32 for g in files]

        def load(positions: np.ndarray) -> list[np.ndarray]:
            decoded, keep = data.load_files(rows_np[positions])
            return [*decoded, positions[keep].astype(np.int64, copy=False)]

        def gather(positions: Any) -> tuple[Any, Any]:
            values: dict[str, Any] = {}
            if files:
                *decoded, positions = tf.numpy_function(
                    load, [positions], [*types, tf.int64], stateful=False, name="decode_files"
                )
                positions.set_shape((None,))
                for g, tensor in zip(files, decoded, strict=True):
                    tensor.set_shape((None, *g.shape()))
                    values[g.name] = tensor
            rows = tf.gather(rows_all, positions)
            for name, const in consts.items():
                values[name] = tf.gather(const, rows)
            return pack(values, data.groups), tf.gather(y_all, positions)

        return gather
