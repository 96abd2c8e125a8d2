"""Image files streamed into training: decoded in parallel inside ``tf.data``, kept as uint8.

Nothing is decoded before training starts (beyond one readable image per class). Each
batch of file indices goes through a parallel ``tf.data`` map: images already in the
cache are copied out of it; plain JPEGs and PNGs at the model's size are read and decoded
by TensorFlow in the graph (:mod:`dlcli.data.graph_decode`: Pillow's pixels, bit for bit,
with no Python per file); the others are decoded by :func:`dlcli.data.decode.decode_pixels`
(the one decoder, shared with ``predict``) on ``tf.data``'s threads, since Pillow and NumPy
release the GIL for the heavy work. Whatever is decoded is written to the cache
(:mod:`dlcli.data.cache`). So epoch 1 trains while decoding, and later epochs read uint8
pixels; the model's compiled step converts them to float32.

A file that cannot be decoded is dropped from its batch, recorded with its path and reason
(once, in the run's skipped list) and never tried again; a file the graph's decoder fails
on is decoded by Pillow, which gives its pixels or the reason. Batches are made of indices
before anything is decoded, so a bad file never moves another file to a different batch:
each epoch's batches depend only on the seed and the epoch number, whenever the bad file
is found. (A batch made only of unreadable files arrives empty.)
"""

from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from dlcli.data.cache import PixelStore
from dlcli.data.decode import SkippedFile, channels_for, decode_pixels, default_workers
from dlcli.data.graph_decode import decode_in_graph, graph_decodable

UNKNOWN, CACHED, BAD, DECODED = 0, 1, 2, 3  # a row's status; DECODED: good, not kept
_NO_SLOTS = np.zeros(0, dtype=np.int32)
_NO_PATHS = np.zeros(0, dtype=object)


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
        self.decoded_by = {"graph": 0, "pillow": 0}  # files decoded, by which decoder
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
        self._count("pillow", 1)
        if isinstance(result, SkippedFile):
            with self._lock:  # another thread may have found it too (epochs overlap)
                if self.status[row] == BAD:
                    return
                self.status[row] = BAD
            self.skipped.add(result)
            return
        out[j] = result
        self._keep(row, result)

    def _keep(self, row: int, pixels: np.ndarray) -> None:
        if self.status[row] != CACHED:  # status last: a reader never sees a half-written row
            self.status[row] = CACHED if self.store.write(row, pixels) else DECODED

    def _count(self, decoder: str, n: int) -> None:
        with self._lock:
            self.decoded_by[decoder] += n

    def route(
        self, rows: np.ndarray, jpeg_ok: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """A batch before the graph decodes: pixels of the cached rows and of those only
        Pillow decodes (done here), the slots and paths of the rows the graph decodes
        (:func:`dlcli.data.graph_decode.graph_decodable`), and which rows are readable so
        far (a boolean mask)."""
        rows = np.asarray(rows, dtype=np.int64)
        status = self.status[rows]
        out = np.empty((len(rows), *self.shape), dtype=np.uint8)  # every kept row is set
        cached = status == CACHED
        if cached.all():
            self.store.read(rows, out)
            return out, _NO_SLOTS, _NO_PATHS, cached
        if cached.any():
            part = np.empty((int(cached.sum()), *self.shape), dtype=np.uint8)
            self.store.read(rows[cached], part)
            out[cached] = part
        slots: list[int] = []
        for j in np.flatnonzero(~cached & (status != BAD)):
            path = self.paths[int(rows[j])]
            if graph_decodable(path, self.image_size, jpeg_ok):
                slots.append(int(j))
            else:
                self._decode_into(int(rows[j]), out, int(j))
        paths = np.array([os.fsencode(self.paths[int(rows[j])]) for j in slots], dtype=object)
        return out, np.asarray(slots, dtype=np.int32), paths, self.status[rows] != BAD

    def settle(
        self, rows: np.ndarray, slots: np.ndarray, done: np.ndarray, pixels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A batch after the graph decoded ``done`` (of ``slots``): their pixels cached, the
        rest decoded by Pillow (pixels, or the reason they are skipped). Returns the slots
        Pillow decoded, their pixels, and which of ``rows`` are readable (a boolean mask)."""
        rows = np.asarray(rows, dtype=np.int64)
        for j, image in zip(done, pixels, strict=True):
            self._keep(int(rows[j]), image)
        self._count("graph", len(done))
        failed = np.setdiff1d(slots, done).astype(np.int32)
        out = np.empty((len(failed), *self.shape), dtype=np.uint8)
        for k, j in enumerate(failed):
            self._decode_into(int(rows[j]), out, k)
        good = self.status[rows[failed]] != BAD
        return failed[good], out[good], self.status[rows] != BAD

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
        from dlcli.data.graph_decode import graph_decode_enabled, jpeg_in_graph_matches_pillow

        if graph_decode_enabled(self.bank.color_mode):
            return self._graph_batch_fn(input_shape, jpeg_in_graph_matches_pillow())
        return self._host_batch_fn(input_shape)

    def _graph_batch_fn(
        self, input_shape: tuple[int, ...], jpeg_ok: bool
    ) -> Callable[[Any], tuple[Any, Any]]:
        """Cached rows from the cache, plain files decoded in the graph, the rest (and the
        graph's failures, with their reasons) by Pillow: see :meth:`PixelBank.route`."""
        from dlcli.backend import tf

        rows_of, bank = self.rows, self.bank
        y_all = tf.constant(self.y, dtype=tf.int32)

        def route(positions: np.ndarray) -> tuple[np.ndarray, ...]:
            return bank.route(rows_of[positions], jpeg_ok)

        def settle(
            positions: np.ndarray, slots: np.ndarray, done: np.ndarray, pixels: np.ndarray
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return bank.settle(rows_of[positions], slots, done, pixels)

        def decode(positions: Any, x: Any, slots: Any, paths: Any) -> tuple[Any, Any]:
            done, pixels = decode_in_graph(slots, paths, bank.shape)
            more, more_pixels, keep = tf.numpy_function(
                settle,
                [positions, slots, done, pixels],
                (tf.int32, tf.uint8, tf.bool),
                stateful=False,
            )
            more.set_shape((None,))
            more_pixels.set_shape((None, *input_shape))
            keep.set_shape((None,))
            x = tf.tensor_scatter_nd_update(x, done[:, None], pixels)
            return tf.tensor_scatter_nd_update(x, more[:, None], more_pixels), keep

        def gather(positions: Any) -> tuple[Any, Any]:
            x, slots, paths, keep = tf.numpy_function(
                route, [positions], (tf.uint8, tf.int32, tf.string, tf.bool), stateful=False
            )
            x.set_shape((None, *input_shape))
            slots.set_shape((None,))
            paths.set_shape((None,))
            keep.set_shape((None,))
            x, keep = tf.cond(  # once cached (epoch 2 on), nothing is left to decode
                tf.size(slots) > 0, lambda: decode(positions, x, slots, paths), lambda: (x, keep)
            )
            return tf.boolean_mask(x, keep), tf.gather(y_all, tf.boolean_mask(positions, keep))

        return gather

    def _host_batch_fn(self, input_shape: tuple[int, ...]) -> Callable[[Any], tuple[Any, Any]]:
        """Every file decoded by Pillow on tf.data's threads."""
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
