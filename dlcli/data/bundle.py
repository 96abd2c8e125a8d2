"""``DataBundle``: decoded arrays in, ``tf.data`` pipelines out.

Both image folders and CSV files end up as a feature array plus int class indices, so one
pipeline serves both. The fast path (what beats a hand-written
``image_dataset_from_directory`` loop) is: decode once, keep the decoded tensor (in memory,
or memory-mapped on disk), shuffle *indices* with a buffer covering the whole set, gather
whole batches at once, augment batched, prefetch.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlcli.data.decode import SkippedFile
from dlcli.data.kinds.base import Preprocessing


@dataclass
class ArraySplit:
    """One split: ``x[i]`` came from ``sources[i]`` (a file path, or ``file:line`` for CSV).

    ``loader`` is set instead of a cached ``x`` when ``cache: none``: it decodes the
    given rows again each time (float32 batch).
    """

    y: np.ndarray
    sources: list[str]
    x: np.ndarray | None = None
    loader: Callable[[np.ndarray], np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, idx: np.ndarray) -> ArraySplit:
        idx = np.asarray(idx, dtype=np.int64)
        loader = None
        x = self.x
        base = self.loader
        if isinstance(x, np.memmap):  # keep it on disk: index into it lazily
            base, x = _memmap_fetch(x), None
        if base is not None:

            def loader(rows: np.ndarray, _idx: np.ndarray = idx, _base=base) -> np.ndarray:
                return _base(_idx[rows])

        return ArraySplit(
            y=self.y[idx],
            sources=[self.sources[i] for i in idx],
            x=None if x is None else x[idx],
            loader=loader,
        )


@dataclass(frozen=True)
class DataNote:
    """Something the user should read about the data before training starts (e.g. an
    inferred setting and where it came from); ``warning`` for likely mistakes."""

    text: str
    warning: bool = False


@dataclass
class DataBundle:
    """What training needs from the data, independent of where it came from."""

    class_names: list[str]
    input_shape: tuple[int, ...]
    train: ArraySplit
    validation: ArraySplit | None
    preprocessing: Preprocessing  # the kind's record, written to labels.json
    skipped: list[SkippedFile] = field(default_factory=list)
    seed: int = 0
    shuffle: bool = True
    augment: Sequence[Any] = ()
    batch_size: int = 32
    notes: list[DataNote] = field(default_factory=list)

    @property
    def num_train(self) -> int:
        return len(self.train)

    @property
    def num_validation(self) -> int:
        return 0 if self.validation is None else len(self.validation)

    def make_train(self, batch_size: int | None = None) -> Any:
        """Shuffled (reproducibly from ``seed``, new order each epoch), augmented batches."""
        return self._make(self.train, batch_size, shuffle=self.shuffle, augment=True)

    def make_train_epochs(
        self, batch_size: int, start_epoch: int, end_epoch: int, *, augment: bool = True
    ) -> Any:
        """Epochs ``start_epoch + 1 .. end_epoch`` back to back, for one iterator per run.

        Each epoch's order is a function of ``seed`` and the epoch number only (stateless),
        so a resumed run sees the same batches as an uninterrupted one without replaying
        earlier epochs. Batches never span two epochs (the last one may be partial).
        ``augment=False`` leaves augmentation to the caller (``augmentation()``), e.g. inside
        a compiled training step, where its random draws happen in a fixed order.
        """
        return self._make(
            self.train,
            batch_size,
            shuffle=self.shuffle,
            augment=augment,
            epochs=(int(start_epoch), int(end_epoch)),
        )

    def augmentation(self) -> Any | None:
        """The recipe's augmentation layers as one ``keras.Sequential`` (None without any)."""
        return _augmentation(self.augment) if self.augment else None

    def make_train_unshuffled(self, batch_size: int | None = None) -> Any:
        """Every training example once, in order, never augmented: what preprocessing
        layers adapt to (never the validation split)."""
        return self._make(self.train, batch_size, shuffle=False, augment=False)

    def make_validation(self, batch_size: int | None = None) -> Any:
        """Validation batches in a fixed order, never augmented; None if there is no split."""
        if self.validation is None:
            return None
        return self._make(self.validation, batch_size, shuffle=False, augment=False)

    def _make(
        self,
        split: ArraySplit,
        batch_size: int | None,
        *,
        shuffle: bool,
        augment: bool,
        epochs: tuple[int, int] | None = None,
    ):
        from dlcli.backend import tf

        bs = int(batch_size or self.batch_size)
        n = len(split)
        autotune = tf.data.AUTOTUNE
        if epochs is not None:
            ds = _epoch_batches(n, bs, epochs, self.seed if shuffle else None)
        else:
            ds = tf.data.Dataset.range(n)
            if shuffle:
                ds = ds.shuffle(n, seed=self.seed, reshuffle_each_iteration=True)
            ds = ds.batch(bs)
        y_all = tf.constant(split.y, dtype=tf.int32)
        shape = (None, *self.input_shape)
        if split.x is not None and not isinstance(split.x, np.memmap):
            # Decoded data in RAM: one constant, batches gathered in a single op.
            x_all = tf.constant(split.x)

            def gather(idx):
                return tf.gather(x_all, idx), tf.gather(y_all, idx)

        else:
            fetch = split.loader if split.x is None else _memmap_fetch(split.x)

            def gather(idx):
                x = tf.numpy_function(fetch, [idx], tf.float32, stateful=False)
                x.set_shape(shape)
                return x, tf.gather(y_all, idx)

        ds = ds.map(gather, num_parallel_calls=autotune, deterministic=True)
        if augment and self.augment:
            layers = _augmentation(self.augment)

            def apply(x, y):
                return layers(x, training=True), y

            ds = ds.map(apply, num_parallel_calls=autotune)
        return ds.prefetch(autotune)


def _epoch_batches(n: int, bs: int, epochs: tuple[int, int], seed: int | None) -> Any:
    """Index batches (int64) for epochs ``epochs[0] + 1 .. epochs[1]``, each its own order."""
    from dlcli.backend import tf

    def one_epoch(epoch):
        idx = tf.range(n, dtype=tf.int64)
        if seed is not None:
            pair = tf.stack([tf.constant(seed, tf.int64), epoch])
            idx = tf.random.experimental.stateless_shuffle(idx, seed=pair)
        return tf.data.Dataset.from_tensor_slices(idx).batch(bs)

    start, end = epochs
    return tf.data.Dataset.range(start + 1, end + 1).flat_map(one_epoch)


def _memmap_fetch(arr: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    def fetch(idx: np.ndarray) -> np.ndarray:
        order = np.argsort(idx)  # sorted reads are sequential on disk
        out = np.empty((len(idx), *arr.shape[1:]), dtype=np.float32)
        out[order] = arr[idx[order]]
        return out

    return fetch


def _augmentation(specs: Sequence[Any]) -> Any:
    """A Sequential of the recipe's augmentation layers (LayerSpecs or ready layers)."""
    from dlcli.backend import keras

    layers = []
    for spec in specs:
        if isinstance(spec, keras.layers.Layer):
            layers.append(spec)
        else:
            from dlcli.modeling.builder import instantiate_layer

            layers.append(instantiate_layer(spec))
    return keras.Sequential(layers, name="augment")


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation): ``fraction`` of each class, chosen by ``seed``.

    Every class with two or more examples keeps at least one on each side, so validation
    sees every class and training loses none.
    """
    rng = np.random.default_rng(seed)
    train_idx: list[np.ndarray] = []
    val_idx: list[np.ndarray] = []
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        members = members[rng.permutation(len(members))]
        k = round(len(members) * fraction)
        k = min(max(k, 1), len(members) - 1) if len(members) >= 2 else 0
        val_idx.append(members[:k])
        train_idx.append(members[k:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))


def available_memory_bytes() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2 << 30


def disk_array(shape: tuple[int, ...]) -> np.ndarray:
    """A float32 memory-mapped array in a temporary folder removed with the array."""
    folder = tempfile.mkdtemp(prefix="dlcli-cache-")
    arr = np.lib.format.open_memmap(
        os.path.join(folder, "decoded.npy"), mode="w+", dtype=np.float32, shape=shape
    )
    weakref.finalize(arr, shutil.rmtree, folder, True)
    return arr
