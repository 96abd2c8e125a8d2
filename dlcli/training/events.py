"""What the training engine reports while it runs, and what it returns.

Engines print nothing: ``train(..., on_event=callback)`` calls ``callback(event)`` with
the objects below, and ``dlcli.render.train_output`` turns them into progress bars or
plain lines. Every event is a small frozen dataclass of plain Python values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunStarted:
    name: str
    run_dir: Path
    device: str
    strategy: str
    replicas: int
    precision: str
    epochs: int
    start_epoch: int  # epochs already completed (resume), 0 for a new run
    steps_per_epoch: int
    num_train: int
    num_validation: int
    global_batch_size: int
    is_chief: bool = True
    warnings: tuple[str, ...] = ()
    skipped: int = 0


@dataclass(frozen=True)
class TracingStarted:
    """The training step is being traced into a graph: seconds in which no step completes."""


@dataclass(frozen=True)
class TracingFinished:
    seconds: float


@dataclass(frozen=True)
class Notice:
    """A line for the user: what was inferred or adapted, or (``warning``) a likely
    mistake, e.g. imbalanced classes or a model stuck at chance."""

    text: str
    warning: bool = False


@dataclass(frozen=True)
class EpochStarted:
    epoch: int  # 1-based
    epochs: int
    steps: int


@dataclass(frozen=True)
class StepsDone:
    """Sent every few steps (never per step: that would cost a host sync each time)."""

    epoch: int
    step: int  # steps completed in this epoch
    steps: int
    logs: dict[str, float]  # running means over the epoch so far
    samples_per_s: float


@dataclass(frozen=True)
class EpochEnded:
    epoch: int
    epochs: int
    logs: dict[str, float]  # train and val_ metrics, as in Keras logs
    lr: float
    epoch_time_s: float
    samples_per_s: float
    improved: bool  # the checkpoint monitor reached a new best
    best_value: float | None
    stop_reason: str | None = None  # "early_stopping" when this was the last epoch


@dataclass(frozen=True)
class RunFinished:
    result: TrainResult


@dataclass
class TrainResult:
    """Where a finished run put its files and what it measured."""

    run_dir: Path
    metrics: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)
    epochs_run: int = 0
    epochs_planned: int = 0
    stopped_early: bool = False
    is_chief: bool = True


Event = (
    RunStarted
    | Notice
    | EpochStarted
    | TracingStarted
    | TracingFinished
    | StepsDone
    | EpochEnded
    | RunFinished
)
EventCallback = Callable[[Event], None]


def ignore_events(event: Event) -> None:
    """The default callback: a library caller that wants no progress."""
