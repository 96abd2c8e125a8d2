"""Batch prediction engine: decode ahead, score whole batches, stream rows out.

Nothing here prints; ``dlcli.commands.predict`` renders and writes.
"""

from dlcli.prediction.engine import (
    ImageSettings,
    Prediction,
    PredictionBatch,
    ScoredBatch,
    image_settings,
    iter_predictions,
    iter_scored_batches,
)
from dlcli.prediction.probabilities import OutputConverter

__all__ = [
    "ImageSettings",
    "OutputConverter",
    "Prediction",
    "PredictionBatch",
    "ScoredBatch",
    "image_settings",
    "iter_predictions",
    "iter_scored_batches",
]
