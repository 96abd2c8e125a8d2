"""The training engine behind ``dlcli train`` (docs/training.md).

``train(recipe, TrainOptions(out=...), on_event=...) -> TrainResult``. Submodules import
TensorFlow lazily, so importing this package is cheap.
"""

from dlcli.training.engine import TrainOptions, train
from dlcli.training.events import (
    EpochEnded,
    EpochStarted,
    Event,
    EventCallback,
    Notice,
    RunFinished,
    RunStarted,
    StepsDone,
    TrainResult,
)

__all__ = [
    "EpochEnded",
    "EpochStarted",
    "Event",
    "EventCallback",
    "Notice",
    "RunFinished",
    "RunStarted",
    "StepsDone",
    "TrainOptions",
    "TrainResult",
    "train",
]
