"""Learning-rate schedules with warm-up, as functions of the position in *epochs*.

The schedule is evaluated inside the training ``tf.function`` (the optimizer keeps a float
learning rate that the step assigns), so the saved ``.keras`` files hold no custom
schedule class and load with ``safe_mode``.

Its position is counted in (fractional) epochs, not optimizer steps: step ``s`` of a
session that started after ``origin_epoch`` completed epochs, at optimizer iteration
``origin_step``, sits at ``origin_epoch + (s - origin_step) / steps_per_epoch``. A run
resumed with another batch size (other steps per epoch) or a larger ``--epochs`` therefore
continues at the epoch it reached, never at a step count that meant something else.

Kinds (``t`` = epochs elapsed after warm-up, ``E`` = planned epochs after warm-up):

- ``constant``: the base rate.
- ``cosine``: ``min_lr + (lr - min_lr) * (1 + cos(pi * t / E)) / 2``.
- ``step``: ``lr * decay_rate ** floor(t / step_epochs)``.
- ``exponential``: ``lr * decay_rate ** (t / step_epochs)`` (smooth).

Warm-up rises linearly from ``lr / warmup_steps`` to ``lr`` over ``warmup_epochs``
(``warmup_steps`` = warm-up epochs times steps per epoch); ``min_lr`` is a floor for every
kind.
"""

from __future__ import annotations

import dataclasses
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
    origin_epoch: int = 0  # completed epochs when this session started
    origin_step: int = 0  # optimizer iterations when this session started

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

    def resumed(self, *, epoch: int, step: int) -> Schedule:
        """This schedule for a session starting after ``epoch`` epochs, at iteration ``step``."""
        return dataclasses.replace(self, origin_epoch=int(epoch), origin_step=int(step))

    @property
    def is_constant(self) -> bool:
        return self.kind == "constant" and self.warmup_epochs <= 0

    @property
    def spans_run(self) -> bool:
        """True when the curve's shape depends on the planned epochs (cosine's ``E``)."""
        return self.kind == "cosine"

    def position(self, step: Any) -> Any:
        """Epochs elapsed before 0-based optimizer ``step`` (fractional)."""
        return self.origin_epoch + (step - self.origin_step) / float(self.steps_per_epoch)

    def at(self, step: Any, ops: Any = math) -> Any:
        """The rate for 0-based optimizer ``step``; ``ops`` is ``math`` or a TF namespace."""
        return self.at_epoch(self.position(step), ops)

    def at_epoch(self, position: Any, ops: Any = math) -> Any:
        """The rate at ``position`` epochs into the run (epoch ``e`` step ``k`` of ``n``:
        ``e - 1 + k / n``)."""
        t = _maximum(ops, position - self.warmup_epochs, 0.0)
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
        if self.warmup_epochs > 0:
            # the first step already uses 1/warmup_steps of the rate, the last one all of it
            done = position + 1.0 / float(self.steps_per_epoch)
            lr = lr * _minimum(ops, done / self.warmup_epochs, 1.0)
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
