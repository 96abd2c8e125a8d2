"""Batch prediction engine: decode ahead, score whole batches, stream rows out.

Nothing here prints; ``dlcli.commands.predict`` renders and writes.
"""

from dlcli.prediction.engine import (
    Prediction,
    PredictionBatch,
    ScoredBatch,
    iter_predictions,
    iter_scored_batches,
)
from dlcli.prediction.probabilities import OutputConverter

__all__ = [
    "OutputConverter",
    "Prediction",
    "PredictionBatch",
    "ScoredBatch",
    "iter_predictions",
    "iter_scored_batches",
]
