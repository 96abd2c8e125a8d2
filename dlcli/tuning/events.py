"""What ``tune`` reports while it runs, and what it returns (plain values, no Optuna)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TrialRow:
    """One trial as the table shows it."""

    number: int
    state: str  # running, complete, pruned, failed, waiting
    params: dict[str, Any]
    value: float | None
    epochs: int | None = None  # epochs reported (a pruned trial stopped after these)
    note: str = ""  # why it failed or was pruned, or what it retries
    run_dir: str | None = None


@dataclass(frozen=True)
class StudyOpened:
    study: str
    storage: str  # password hidden
    out: Path
    monitor: str
    direction: str  # maximize or minimize
    requested: int
    done: int  # complete or pruned trials already in the study
    keys: tuple[str, ...]
    rows: tuple[TrialRow, ...] = ()
    notes: tuple[str, ...] = ()  # e.g. trials of dead workers failed and queued again


@dataclass(frozen=True)
class TrialStarted:
    row: TrialRow


@dataclass(frozen=True)
class TrialEpoch:
    number: int
    epoch: int
    epochs: int
    value: float | None


@dataclass(frozen=True)
class TrialEnded:
    row: TrialRow
    best: TrialRow | None


@dataclass(frozen=True)
class Waiting:
    """Nothing left to start: waiting for the trials other workers are running."""

    running: int


TuneEvent = StudyOpened | TrialStarted | TrialEpoch | TrialEnded | Waiting
TuneCallback = Callable[[TuneEvent], None]


def ignore(event: TuneEvent) -> None:
    """The default callback: no progress."""


@dataclass
class StudySummary:
    """A study read back from storage: its trials, the best one and the files written."""

    study: str
    storage: str
    monitor: str
    direction: str
    keys: tuple[str, ...]
    rows: list[TrialRow]
    best: TrialRow | None
    files: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # pictures that could not be drawn, why
    counts: dict[str, int] = field(default_factory=dict)
