"""Layers of dlcli's own for sound: feature scaling inside the model, and augmentation.

Features live in the model (``MelSpectrogram`` from Keras, then these), so predict and
every export read raw waveforms. Waveform augmentations (:class:`RandomTimeShift`,
:class:`RandomGain`, :class:`RandomNoise`) go in ``data.augment``, which runs inside the
compiled training step; :class:`SpecAugment` masks a spectrogram, so it sits in
``model.layers`` after the spectrogram and, like ``Dropout``, acts only when training.
Random draws come from a Keras ``SeedGenerator`` (``seed``, else the run's seed), whose
state is part of the checkpoint: a seeded run is reproducible, also when resumed.
Each is a registered, serialisable layer listed in
:data:`dlcli.modeling.custom_layers.LAYERS`, so saved models load with ``safe_mode=True``.
"""

from __future__ import annotations

from typing import Any

from dlcli.backend import keras

PACKAGE = "dlcli"
ops = keras.ops


def _check_range(name: str, low: float, high: float, floor: float | None = None) -> None:
    if low > high or (floor is not None and low < floor):
        bound = f" and >= {floor}" if floor is not None else ""
        raise ValueError(f"{name} must be [low, high] with low <= high{bound}. Received: {name}")


@keras.saving.register_keras_serializable(package=PACKAGE)
class LogScaling(keras.layers.Layer):
    """``log(x + offset)`` of a magnitude or power spectrogram (natural log), computed in
    float32: the dynamic range of sound spans orders of magnitude."""

    def __init__(self, offset: float = 1e-6, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not offset > 0:
            raise ValueError(f"offset must be > 0. Received: offset={offset!r}")
        self.offset = float(offset)

    def call(self, inputs: Any) -> Any:
        x = ops.cast(inputs, "float32")
        return ops.log(ops.maximum(x, 0.0) + self.offset)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "offset": self.offset}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PerExampleNormalization(keras.layers.Layer):
    """Each example shifted to mean 0 and scaled to standard deviation 1 over all its values
    (a recording's loudness and the microphone's level then do not matter)."""

    def __init__(self, epsilon: float = 1e-5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not epsilon > 0:
            raise ValueError(f"epsilon must be > 0. Received: epsilon={epsilon!r}")
        self.epsilon = float(epsilon)

    def call(self, inputs: Any) -> Any:
        x = ops.cast(inputs, "float32")
        axes = tuple(range(1, len(x.shape)))
        mean = ops.mean(x, axis=axes, keepdims=True)
        var = ops.mean(ops.square(x - mean), axis=axes, keepdims=True)
        return (x - mean) / ops.sqrt(var + self.epsilon)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "epsilon": self.epsilon}


class _RandomAudio(keras.layers.Layer):
    """Base of the random layers: a seed generator, identity unless ``training``."""

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs: Any, training: bool = False) -> Any:
        if not training:
            return inputs
        return self.augment(ops.cast(inputs, "float32"))

    def augment(self, x: Any) -> Any:
        raise NotImplementedError

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}

    def _uniform(self, batch: Any, low: float, high: float) -> Any:
        return keras.random.uniform(
            (batch,), minval=low, maxval=high, seed=self.seed_generator, dtype="float32"
        )


def _per_example(values: Any, x: Any) -> Any:
    """(batch,) values shaped to broadcast over ``x``'s other axes."""
    return ops.reshape(values, (-1,) + (1,) * (len(x.shape) - 1))


@keras.saving.register_keras_serializable(package=PACKAGE)
class RandomTimeShift(_RandomAudio):
    """Shift each waveform by up to ``max_shift`` of its length (a fraction, 0..1), earlier
    or later, filling with silence: a word is recognised wherever it starts."""

    def __init__(self, max_shift: float = 0.1, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        if not 0 <= max_shift < 1:
            raise ValueError(f"max_shift must be in [0, 1). Received: max_shift={max_shift!r}")
        self.max_shift = float(max_shift)

    def augment(self, x: Any) -> Any:
        length = x.shape[1]
        limit = round(self.max_shift * length)
        if limit == 0:
            return x
        shift = keras.random.randint(
            (ops.shape(x)[0],), -limit, limit + 1, seed=self.seed_generator, dtype="int32"
        )
        # Source position of each output sample; outside the clip reads silence.
        pos = ops.arange(length, dtype="int32")[None, :] - shift[:, None]
        inside = ops.logical_and(pos >= 0, pos < length)
        taken = ops.take_along_axis(x, _per_example_index(ops.clip(pos, 0, length - 1), x), axis=1)
        return ops.where(_per_example_index(inside, x), taken, ops.zeros_like(taken))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_shift": self.max_shift}


def _per_example_index(index: Any, x: Any) -> Any:
    """A (batch, time) index or mask broadcast to ``x``'s channel axes."""
    extra = len(x.shape) - 2
    if extra <= 0:
        return index
    index = ops.reshape(index, (-1, x.shape[1], *(1,) * extra))
    return ops.broadcast_to(index, ops.shape(x))


@keras.saving.register_keras_serializable(package=PACKAGE)
class RandomGain(_RandomAudio):
    """Multiply each waveform by a gain drawn uniformly in ``gain_db`` decibels."""

    def __init__(
        self, gain_db: tuple[float, float] = (-6.0, 6.0), seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        low, high = (float(v) for v in gain_db)
        _check_range("gain_db", low, high)
        self.gain_db = (low, high)

    def augment(self, x: Any) -> Any:
        db = self._uniform(ops.shape(x)[0], *self.gain_db)
        return x * _per_example(ops.power(10.0, db / 20.0), x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "gain_db": list(self.gain_db)}


@keras.saving.register_keras_serializable(package=PACKAGE)
class RandomNoise(_RandomAudio):
    """Add white Gaussian noise at a signal-to-noise ratio drawn uniformly in ``snr_db``
    (relative to each waveform's own power), to ``rate`` of the examples (0..1)."""

    def __init__(
        self,
        snr_db: tuple[float, float] = (10.0, 30.0),
        rate: float = 1.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        low, high = (float(v) for v in snr_db)
        _check_range("snr_db", low, high)
        if not 0 <= rate <= 1:
            raise ValueError(f"rate must be in [0, 1]. Received: rate={rate!r}")
        self.snr_db = (low, high)
        self.rate = float(rate)

    def augment(self, x: Any) -> Any:
        batch = ops.shape(x)[0]
        axes = tuple(range(1, len(x.shape)))
        power = ops.mean(ops.square(x), axis=axes)
        snr = self._uniform(batch, *self.snr_db)
        applied = ops.cast(self._uniform(batch, 0.0, 1.0) < self.rate, "float32")
        scale = ops.sqrt(power / ops.power(10.0, snr / 10.0)) * applied
        noise = keras.random.normal(ops.shape(x), seed=self.seed_generator, dtype="float32")
        return x + noise * _per_example(scale, x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "snr_db": list(self.snr_db), "rate": self.rate}


@keras.saving.register_keras_serializable(package=PACKAGE)
class SpecAugment(_RandomAudio):
    """SpecAugment-style masking (Park et al., 2019) of a spectrogram ``(batch, A, B, ...)``:
    ``time_masks`` bands of up to ``time_width`` steps along ``time_axis`` and ``freq_masks``
    bands of up to ``freq_width`` bins along the other of axes 1 and 2 are set to the
    example's mean. ``time_axis`` is 2 for ``MelSpectrogram`` output (mels, frames)."""

    def __init__(
        self,
        time_masks: int = 2,
        time_width: int = 8,
        freq_masks: int = 2,
        freq_width: int = 8,
        time_axis: int = 2,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        for arg, value in (
            ("time_masks", time_masks),
            ("time_width", time_width),
            ("freq_masks", freq_masks),
            ("freq_width", freq_width),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{arg} must be an integer >= 0. Received: {arg}={value!r}")
        if time_axis not in (1, 2):
            raise ValueError(f"time_axis must be 1 or 2. Received: time_axis={time_axis!r}")
        self.time_masks, self.time_width = time_masks, time_width
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.time_axis = time_axis

    def augment(self, x: Any) -> Any:
        if len(x.shape) < 3:
            raise ValueError(f"SpecAugment needs (batch, A, B, ...) inputs. Received: {x.shape}")
        freq_axis = 3 - self.time_axis
        axes = tuple(range(1, len(x.shape)))
        fill = ops.mean(x, axis=axes, keepdims=True)
        keep = ops.ones((ops.shape(x)[0], x.shape[1], x.shape[2]), dtype="float32")
        for axis, count, width in (
            (self.time_axis, self.time_masks, self.time_width),
            (freq_axis, self.freq_masks, self.freq_width),
        ):
            for _ in range(count):
                keep = keep * self._band(x, axis, width)
        keep = ops.reshape(keep, (-1, x.shape[1], x.shape[2], *(1,) * (len(x.shape) - 3)))
        return x * keep + fill * (1.0 - keep)

    def _band(self, x: Any, axis: int, width: int) -> Any:
        """1 outside one random band of 0..width positions along ``axis``, 0 inside."""
        size = x.shape[axis]
        batch = ops.shape(x)[0]
        w = ops.floor(self._uniform(batch, 0.0, 1.0) * (min(width, size) + 1))
        start = ops.floor(self._uniform(batch, 0.0, 1.0) * (size - w + 1))
        pos = ops.cast(ops.arange(size), "float32")[None, :]
        inside = ops.logical_and(pos >= start[:, None], pos < (start + w)[:, None])
        band = 1.0 - ops.cast(inside, "float32")
        return band[:, :, None] if axis == 1 else band[:, None, :]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "time_masks": self.time_masks,
            "time_width": self.time_width,
            "freq_masks": self.freq_masks,
            "freq_width": self.freq_width,
            "time_axis": self.time_axis,
        }
