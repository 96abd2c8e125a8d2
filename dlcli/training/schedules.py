"""Learning-rate schedules with warm-up, computed per optimizer step.

The schedule is a plain function of the step and is evaluated inside the training
``tf.function`` (the optimizer keeps a float learning rate that the step assigns), so
the saved ``.keras`` files hold no custom schedule class and load with ``safe_mode``.
Its position is ``optimizer.iterations``, which checkpoints already restore.

Kinds (``t`` = epochs elapsed after warm-up, ``E`` = planned epochs after warm-up):

- ``constant``: the base rate.
- ``cosine``: ``min_lr + (lr - min_lr) * (1 + cos(pi * t / E)) / 2``.
- ``step``: ``lr * decay_rate ** floor(t / step_epochs)``.
- ``exponential``: ``lr * decay_rate ** (t / step_epochs)`` (smooth).

Warm-up rises linearly from ``lr / warmup_steps`` to ``lr`` over ``warmup_epochs``;
``min_lr`` is a floor for every kind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Schedule:
    base_lr: float
    kind: str = "constant"
    warmup_epochs: float = 0.0
    decay_rate: float = 0.5
    step_epochs: float = 10.0
    min_lr: float = 0.0
    epochs: int = 1
    steps_per_epoch: int = 1

    @classmethod
    def from_spec(cls, spec: Any, base_lr: float, *, epochs: int, steps_per_epoch: int) -> Schedule:
        if spec is None:
            return cls(base_lr=base_lr, epochs=epochs, steps_per_epoch=max(1, steps_per_epoch))
        return cls(
            base_lr=float(base_lr),
            kind=spec.kind,
            warmup_epochs=float(spec.warmup_epochs),
            decay_rate=float(spec.decay_rate),
            step_epochs=float(spec.step_epochs),
            min_lr=float(spec.min_lr),
            epochs=int(epochs),
            steps_per_epoch=max(1, int(steps_per_epoch)),
        )

    @property
    def is_constant(self) -> bool:
        return self.kind == "constant" and self.warmup_epochs <= 0

    def at(self, step: Any, ops: Any = math) -> Any:
        """The rate for 0-based optimizer ``step``; ``ops`` is ``math`` or a TF namespace."""
        spe = float(self.steps_per_epoch)
        warm_steps = self.warmup_epochs * spe
        t = (step - warm_steps) / spe if warm_steps else step / spe
        t = _maximum(ops, t, 0.0)
        lr = self.base_lr
        span = max(self.epochs - self.warmup_epochs, 1e-9)
        if self.kind == "cosine":
            progress = _minimum(ops, t / span, 1.0)
            lr = self.min_lr + (self.base_lr - self.min_lr) * 0.5 * (
                1.0 + ops.cos(math.pi * progress)
            )
        elif self.kind == "step":
            lr = self.base_lr * self.decay_rate ** ops.floor(t / self.step_epochs)
        elif self.kind == "exponential":
            lr = self.base_lr * self.decay_rate ** (t / self.step_epochs)
        if self.kind != "constant":
            lr = _maximum(ops, lr, self.min_lr)
        if warm_steps:
            ramp = _minimum(ops, (step + 1.0) / warm_steps, 1.0)
            lr = lr * ramp
        return lr

    def tf_at(self, step: Any) -> Any:
        """``at`` inside a TF graph: ``step`` is an integer tensor (optimizer.iterations)."""
        from dlcli.backend import tf

        ops = _TfOps(tf)
        return tf.cast(self.at(tf.cast(step, tf.float64), ops), tf.float32)


def _maximum(ops: Any, a: Any, b: float) -> Any:
    return max(a, b) if ops is math else ops.maximum(a, b)


def _minimum(ops: Any, a: Any, b: float) -> Any:
    return min(a, b) if ops is math else ops.minimum(a, b)


class _TfOps:
    def __init__(self, tf: Any) -> None:
        self.cos = tf.math.cos
        self.floor = tf.math.floor
        self.maximum = lambda a, b: tf.maximum(a, tf.cast(b, tf.float64))
        self.minimum = lambda a, b: tf.minimum(a, tf.cast(b, tf.float64))
