"""Image files streamed into training: decoded in parallel inside ``tf.data``, kept as uint8.

Nothing is decoded before training starts (beyond one readable image per class). Each
batch of file indices goes through :meth:`PixelBank.fetch` in a parallel ``tf.data`` map:
images already in the cache are copied out of it, the others are decoded by
:func:`dlcli.data.decode.decode_pixels` (the one decoder, shared with ``predict``) on
``tf.data``'s threads, since Pillow and NumPy release the GIL for the heavy work, and
written to the cache (:mod:`dlcli.data.cache`). So epoch 1 trains while decoding, and later
epochs read uint8 pixels; the model's compiled step converts them to float32.

A file that cannot be decoded is dropped from its batch, recorded with its path and reason
(once, in the run's skipped list) and never tried again. Batches are made of indices
before anything is decoded, so a bad file never moves another file to a different batch:
each epoch's batches depend only on the seed and the epoch number, whenever the bad file
is found. (A batch made only of unreadable files arrives empty.)
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from dlcli.data.cache import PixelStore
from dlcli.data.decode import SkippedFile, channels_for, decode_pixels, default_workers

UNKNOWN, CACHED, BAD, DECODED = 0, 1, 2, 3  # a row's status; DECODED: good, not kept


class SkipLog(list):
    """The run's skipped files, kept sorted by path; appended to from decoding threads."""

    def __init__(self, items: Iterable[SkippedFile] = ()) -> None:
        super().__init__(sorted(items, key=lambda s: s.path))
        self._lock = threading.Lock()

    def add(self, item: SkippedFile) -> None:
        with self._lock:
            bisect.insort(self, item, key=lambda s: s.path)


class PixelBank:
    """Every listed image of a run (training and validation), each decoded at most once
    while the store keeps it; ``status[row]`` says what is known about ``paths[row]``."""

    def __init__(
        self,
        paths: Sequence[str],
        image_size: tuple[int, int],
        color_mode: str,
        store: PixelStore,
        skipped: SkipLog,
    ) -> None:
        self.paths = list(paths)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.color_mode = color_mode
        self.shape = (*self.image_size, channels_for(color_mode))
        self.status = np.zeros(len(self.paths), dtype=np.uint8)
        self.store = store
        self.skipped = skipped
        self._lock = threading.Lock()

    def fetch(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixels of the readable ``rows`` (uint8, in order) and which of ``rows`` they are
        (a boolean mask)."""
        rows = np.asarray(rows, dtype=np.int64)
        status = self.status[rows]
        out = np.empty((len(rows), *self.shape), dtype=np.uint8)
        cached = status == CACHED
        if cached.all():
            self.store.read(rows, out)
            return out, cached
        if cached.any():
            part = np.empty((int(cached.sum()), *self.shape), dtype=np.uint8)
            self.store.read(rows[cached], part)
            out[cached] = part
        for j in np.flatnonzero(~cached & (status != BAD)):
            self._decode_into(int(rows[j]), out, j)
        keep = self.status[rows] != BAD
        return (out, keep) if keep.all() else (out[keep], keep)

    def _decode_into(self, row: int, out: np.ndarray, j: int) -> None:
        result = decode_pixels(self.paths[row], self.image_size, self.color_mode)
        if isinstance(result, SkippedFile):
            with self._lock:  # another thread may have found it too (epochs overlap)
                if self.status[row] == BAD:
                    return
                self.status[row] = BAD
            self.skipped.add(result)
            return
        out[j] = result
        if self.status[row] != CACHED:  # status last: a reader never sees a half-written row
            self.status[row] = CACHED if self.store.write(row, result) else DECODED

    def bad_among(self, rows: np.ndarray) -> int:
        return int(np.count_nonzero(self.status[rows] == BAD))

    def scan(self, rows: np.ndarray, workers: int | None = None, chunk: int = 64) -> None:
        """Decode every row not yet seen, on a thread pool (fills the cache on the way)."""
        todo = rows[self.status[rows] == UNKNOWN]
        if not len(todo):
            return
        parts = [todo[i : i + chunk] for i in range(0, len(todo), chunk)]
        with ThreadPoolExecutor(workers or default_workers(), "dlcli-scan") as pool:
            for _ in pool.map(self.fetch, parts):
                pass


class ImageSplit:
    """Some rows of a :class:`PixelBank` (a training or validation split) and their labels.

    ``len()`` counts the examples not known to be unreadable; :attr:`listed` the files, the
    rows each epoch's index batches range over.
    """

    def __init__(self, bank: PixelBank, rows: np.ndarray, y: np.ndarray) -> None:
        self.bank = bank
        self.rows = np.asarray(rows, dtype=np.int64)
        self.y = np.asarray(y, dtype=np.int64)

    @property
    def sources(self) -> list[str]:
        return [self.bank.paths[r] for r in self.rows]

    @property
    def listed(self) -> int:
        return len(self.rows)

    def __len__(self) -> int:
        return self.listed - self.bank.bad_among(self.rows)

    def subset(self, idx: np.ndarray) -> ImageSplit:
        idx = np.asarray(idx, dtype=np.int64)
        return ImageSplit(self.bank, self.rows[idx], self.y[idx])

    def without_known_bad(self) -> ImageSplit:
        """The split less the files already known to be unreadable (start-up checks), so
        that at the start ``len()`` equals :attr:`listed`: training's steps per epoch."""
        keep = np.flatnonzero(self.bank.status[self.rows] != BAD)
        return self if len(keep) == self.listed else self.subset(keep)

    def scan(self) -> None:
        """Decode (and cache) every file of the split now, e.g. to refuse bad ones first."""
        self.bank.scan(self.rows)

    def first_readable(self, positions: Sequence[int]) -> bool:
        """Whether any of these positions is readable, trying them in order (cached)."""
        for pos in positions:
            _, keep = self.bank.fetch(self.rows[pos : pos + 1])
            if keep.any():
                return True
        return False

    def batch_fn(self, input_shape: tuple[int, ...]) -> Callable[[Any], tuple[Any, Any]]:
        """``tf.data`` map from a batch of positions to (uint8 pixels, int32 labels)."""
        from dlcli.backend import tf

        rows_of = self.rows
        fetch = self.bank.fetch
        y_all = tf.constant(self.y, dtype=tf.int32)

        def load(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            pixels, keep = fetch(rows_of[positions])
            return pixels, positions[keep].astype(np.int64, copy=False)

        def gather(positions: Any) -> tuple[Any, Any]:
            x, kept = tf.numpy_function(
                load, [positions], (tf.uint8, tf.int64), stateful=False, name="decode_images"
            )
            x.set_shape((None, *input_shape))
            kept.set_shape((None,))
            return x, tf.gather(y_all, kept)

        return gather
