"""``DataBundle``: training and validation splits in, ``tf.data`` pipelines out.

A split is either decoded arrays (:class:`ArraySplit`: CSV features, held in memory) or
image files streamed and cached as uint8 (:class:`dlcli.data.streaming.ImageSplit`). Both
give int class indices ``y``, the ``sources`` of each row, and a ``tf.data`` map from a
batch of row positions to ``(x, y)``, so one pipeline serves both: index batches (each
epoch's order a function of seed and epoch only), gathered or decoded in a parallel map,
prefetched. Pixels stay uint8 to the model's compiled step, which converts them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from dlcli.data.decode import SkippedFile
from dlcli.data.kinds.base import Preprocessing
from dlcli.targets import TargetRecord


class Split(Protocol):
    """What the pipelines need from a split (see the module docstring)."""

    y: np.ndarray

    @property
    def sources(self) -> list[str]: ...

    @property
    def listed(self) -> int: ...

    def __len__(self) -> int: ...

    def batch_fn(self, input_shape: tuple[int, ...]) -> Callable[[Any], tuple[Any, Any]]: ...


@dataclass
class ArraySplit:
    """One split of decoded rows: ``x[i]`` came from ``sources[i]`` (``file:line`` for CSV)."""

    y: np.ndarray
    sources: list[str]
    x: np.ndarray
    weight: np.ndarray | None = None  # per-example loss weights (a sample_weight column)

    def __len__(self) -> int:
        return len(self.y)

    @property
    def listed(self) -> int:
        return len(self.y)

    def subset(self, idx: np.ndarray) -> ArraySplit:
        idx = np.asarray(idx, dtype=np.int64)
        return ArraySplit(
            y=self.y[idx],
            sources=[self.sources[i] for i in idx],
            x=self.x[idx],
            weight=None if self.weight is None else self.weight[idx],
        )

    def batch_fn(self, input_shape: tuple[int, ...]) -> Callable[[Any], tuple[Any, Any]]:
        from dlcli.backend import tf

        x_all = tf.constant(self.x)  # in RAM: batches gathered in a single op
        y_all = tf.constant(self.y, dtype=label_dtype(self.y))

        def gather(idx: Any) -> tuple[Any, Any]:
            return tf.gather(x_all, idx), tf.gather(y_all, idx)

        return gather


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
    train: Split
    validation: Split | None
    preprocessing: Preprocessing  # the kind's record, written to labels.json
    skipped: list[SkippedFile] = field(default_factory=list)
    seed: int = 0
    shuffle: bool = True
    augment: Sequence[Any] = ()
    batch_size: int = 32
    notes: list[DataNote] = field(default_factory=list)
    target: TargetRecord | None = None  # what y holds (None: class indices)
    class_weight: np.ndarray | None = None  # loss weight per class (train.class_weight)

    def training_weights(self) -> np.ndarray | None:
        """Each training example's loss weight: its ``sample_weight`` times its class's
        weight; None when neither is set (every example counts once)."""
        weight = getattr(self.train, "weight", None)
        if self.class_weight is None:
            return weight
        per_class = self.class_weight[np.asarray(self.train.y, dtype=np.int64)]
        return per_class if weight is None else weight * per_class

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
            weights=self.training_weights(),
        )

    def augmentation(self) -> Any | None:
        """The recipe's augmentation layers as one ``keras.Sequential`` (None without any)."""
        return _augmentation(self.augment) if self.augment else None

    def make_train_unshuffled(self, batch_size: int | None = None) -> Any:
        """Every training example once, in order, never augmented, as float32: what
        preprocessing layers adapt to (never the validation split)."""
        from dlcli.backend import tf

        ds = self._make(self.train, batch_size, shuffle=False, augment=False)
        if split_dtype(self.train) == "string":  # raw text: what a vocabulary adapts to
            return ds

        def floats(x: Any) -> Any:  # raw text stays text (several inputs: a dict)
            return x if x.dtype == tf.string else tf.cast(x, tf.float32)

        return ds.map(lambda x, y: (tf.nest.map_structure(floats, x), y))

    def make_validation(self, batch_size: int | None = None) -> Any:
        """Validation batches in a fixed order, never augmented; None if there is no split."""
        if self.validation is None:
            return None
        return self._make(self.validation, batch_size, shuffle=False, augment=False)

    def _make(
        self,
        split: Split,
        batch_size: int | None,
        *,
        shuffle: bool,
        augment: bool,
        epochs: tuple[int, int] | None = None,
        weights: np.ndarray | None = None,
    ) -> Any:
        """Batches of ``(x, y)``, or ``(x, y, weight)`` with per-example ``weights``."""
        from dlcli.backend import tf

        bs = int(batch_size or self.batch_size)
        n = split.listed
        autotune = parallel_calls()  # fixed: see untuned()
        if epochs is not None:
            ds = _epoch_batches(n, bs, epochs, self.seed if shuffle else None)
        else:
            ds = tf.data.Dataset.range(n)
            if shuffle:
                ds = ds.shuffle(n, seed=self.seed, reshuffle_each_iteration=True)
            ds = ds.batch(bs)
        gather = _batch_fn(split, self.input_shape, with_epoch=epochs is not None)
        if weights is not None:
            gather = _weighted(gather, weights)
        ds = ds.map(gather, num_parallel_calls=autotune, deterministic=True)
        if augment and self.augment:
            layers = _augmentation(self.augment)

            def apply(x: Any, *rest: Any) -> tuple[Any, ...]:
                return (layers(tf.cast(x, tf.float32), training=True), *rest)

            ds = ds.map(apply, num_parallel_calls=autotune)
        return untuned(ds.prefetch(PREFETCH_BATCHES))


def label_dtype(y: np.ndarray) -> Any:
    """int32 for class indices, float32 for multi-label rows and regression targets."""
    from dlcli.backend import tf

    return tf.int32 if np.issubdtype(np.asarray(y).dtype, np.integer) else tf.float32


def _weighted(
    gather: Callable[[Any], tuple[Any, Any]], weights: np.ndarray
) -> Callable[[Any], tuple[Any, Any, Any]]:
    """``gather`` with each example's loss weight as a third element."""
    from dlcli.backend import tf

    w_all = tf.constant(np.asarray(weights, dtype=np.float32))

    def with_weight(idx: Any, *epoch: Any) -> tuple[Any, Any, Any]:
        x, y = gather(idx, *epoch)
        return x, y, tf.gather(w_all, idx)

    return with_weight


def split_dtype(split: Split) -> str:
    """``"string"`` for a split of raw text documents, else ``"numeric"``."""
    x = getattr(split, "x", None)
    return "string" if x is not None and x.dtype == object else "numeric"


def _epoch_batches(n: int, bs: int, epochs: tuple[int, int], seed: int | None) -> Any:
    """Index batches (int64) for epochs ``epochs[0] + 1 .. epochs[1]``, each its own order,
    with their epoch number."""
    from dlcli.backend import tf

    def one_epoch(epoch):
        idx = tf.range(n, dtype=tf.int64)
        if seed is not None:
            pair = tf.stack([tf.constant(seed, tf.int64), epoch])
            idx = tf.random.experimental.stateless_shuffle(idx, seed=pair)
        batches = tf.data.Dataset.from_tensor_slices(idx).batch(bs)
        return batches.map(lambda positions: (positions, epoch))

    start, end = epochs
    return tf.data.Dataset.range(start + 1, end + 1).flat_map(one_epoch)


def _batch_fn(split: Split, input_shape: tuple[int, ...], *, with_epoch: bool) -> Any:
    """The split's map from a batch of positions; over the training epochs, from positions
    and the epoch number, which a split whose examples change each epoch (random audio
    crops) takes through its ``epoch_batch_fn``."""
    gather = getattr(split, "epoch_batch_fn", None) if with_epoch else None
    if gather is not None:
        return gather(input_shape)
    by_position = split.batch_fn(input_shape)
    return (lambda positions, epoch: by_position(positions)) if with_epoch else by_position


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


PREFETCH_BATCHES = 2  # batches made ahead of the training step


def parallel_calls() -> int:
    """Batches made at once by a pipeline's maps: one per core this process may use."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(2, cores)


def untuned(ds: Any) -> Any:
    """``ds`` without tf.data's autotuning, whose model thread made a finished run wait
    while its iterator was destroyed (7 s after 8 short epochs on 2 busy cores, up to 45 s
    after longer runs) and took CPU time from the training step. The maps' parallelism
    (:func:`parallel_calls`) and the prefetch depth are fixed instead."""
    from dlcli.backend import tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)
