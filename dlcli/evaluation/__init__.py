"""Evaluation engine: accuracy, loss, per-class scores and a confusion matrix; prints nothing.

``dlcli.commands.evaluate`` renders the result; ``MODEL_FILE.confusion.png`` is drawn by
``dlcli.viz.plots.plot_confusion``.
"""

from dlcli.evaluation.engine import EvaluationResult, evaluate_model
from dlcli.evaluation.metrics import ClassScores, ConfusionAccumulator, averages, per_class_scores

__all__ = [
    "ClassScores",
    "ConfusionAccumulator",
    "EvaluationResult",
    "averages",
    "evaluate_model",
    "per_class_scores",
]
