"""Per-epoch decisions: which value is "best", and when to stop early.

Both objects are plain Python and serialise to a dict for ``state.json``, so a resumed
run continues with the same best value and patience count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dlcli.errors import RecipeError

_MAX_WORDS = ("acc", "auc", "precision", "recall", "f1", "iou")


def monitor_mode(monitor: str) -> str:
    """``max`` for accuracy-like metrics, ``min`` for losses and errors (Keras' rule)."""
    base = monitor[4:] if monitor.startswith("val_") else monitor
    return "max" if any(w in base.lower() for w in _MAX_WORDS) else "min"


def check_monitor(monitor: str, logs: dict[str, float], field: str) -> None:
    if monitor not in logs:
        raise RecipeError(
            f"monitored value {monitor!r} is not among this run's metrics",
            field=field,
            expected=f"one of {sorted(logs)}",
            received=monitor,
            hint="val_* values need validation data (data.validation or data.validation_split)",
        )


@dataclass
class BestTracker:
    """The best value of ``monitor`` so far and the epoch it was reached."""

    monitor: str
    mode: str = "min"
    value: float | None = None
    epoch: int | None = None

    @classmethod
    def for_monitor(cls, monitor: str) -> BestTracker:
        return cls(monitor=monitor, mode=monitor_mode(monitor))

    def is_better(self, value: float, min_delta: float = 0.0) -> bool:
        if not math.isfinite(value):
            return False
        if self.value is None:
            return True
        if self.mode == "max":
            return value > self.value + min_delta
        return value < self.value - min_delta

    def update(self, logs: dict[str, float], epoch: int) -> bool:
        """Record this epoch's value; True when it is a new best."""
        value = float(logs[self.monitor])
        if self.is_better(value):
            self.value, self.epoch = value, epoch
            return True
        return False

    def to_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "mode": self.mode,
            "value": self.value,
            "epoch": self.epoch,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BestTracker:
        return cls(
            monitor=data["monitor"], mode=data["mode"], value=data["value"], epoch=data["epoch"]
        )


@dataclass
class EarlyStopping:
    """Stop after ``patience`` epochs without an improvement of at least ``min_delta``."""

    tracker: BestTracker
    patience: int
    min_delta: float = 0.0
    restore_best: bool = True
    wait: int = 0

    @classmethod
    def from_spec(cls, spec: Any) -> EarlyStopping:
        return cls(
            tracker=BestTracker.for_monitor(spec.monitor),
            patience=int(spec.patience),
            min_delta=float(spec.min_delta),
            restore_best=bool(spec.restore_best),
        )

    def update(self, logs: dict[str, float], epoch: int) -> bool:
        """Record this epoch; True when training should stop now."""
        value = float(logs[self.tracker.monitor])
        if self.tracker.is_better(value, self.min_delta):
            self.tracker.value, self.tracker.epoch = value, epoch
            self.wait = 0
            return False
        self.wait += 1
        return self.wait >= max(self.patience, 1)

    def to_dict(self) -> dict[str, Any]:
        return {"best": self.tracker.to_dict(), "wait": self.wait}

    def load(self, data: dict[str, Any]) -> None:
        self.tracker = BestTracker.from_dict(data["best"])
        self.wait = int(data["wait"])
