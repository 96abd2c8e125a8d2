"""``evaluate`` for multi-label and regression models: the target's own scores.

Rows stream through ``predict_batch`` like a classifier's; the target's scorer
(:meth:`dlcli.targets.base.Target.evaluation`) keeps sums only: per-tag precision/recall/F1
with micro and macro averages at the run's threshold, or MAE, RMSE and R² in the data's
units (standardisation undone). Data: ``--data FILE`` read by the model's data kind with
the run's target, else the run's validation data, as for classifiers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.data.kinds import LabelledArrays
from dlcli.errors import DataError, UsageError
from dlcli.targets import TargetRecord, target_of


@dataclass
class TargetEvaluation:
    """Scores of one model on labelled data (``scores``: the target's numbers)."""

    target: TargetRecord
    scores: dict[str, Any]
    data: str
    model: str
    seconds: float
    true: np.ndarray | None = None  # regression: values for the scatter plot
    predicted: np.ndarray | None = None
    # several outputs: each regression output's (true, predicted) for its scatter plot
    output_pairs: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    skipped: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "data": self.data,
            "target": self.target.type,
            **self.scores,
            "seconds": round(self.seconds, 3),
        }


def _run_validation(run_dir: Path, loaded: Any) -> LabelledArrays:
    from dlcli.data import load_datasets
    from dlcli.evaluation.sources import _training_seed
    from dlcli.recipe import load_recipe

    recipe_path = run_dir / "recipe.yaml"
    if not recipe_path.is_file():
        raise UsageError(
            "the run directory has no recipe.yaml, so its validation data is unknown",
            file=run_dir,
            hint="pass --data FILE with labelled data the model reads",
        )
    recipe = load_recipe(recipe_path)
    spec = recipe.data
    if spec is None or (spec.validation is None and not spec.validation_split):
        raise UsageError(
            "the run was trained without validation data",
            file=recipe_path,
            hint="pass --data FILE to evaluate on other labelled data",
        )
    if spec.validation is not None:
        return loaded.kind.labelled_targets(
            Path(spec.validation), loaded.preprocessing, loaded.target
        )
    from dlcli.recipe.model_inputs import model_columns

    bundle = load_datasets(spec, seed=_training_seed(recipe), inputs=model_columns(recipe.model))
    split = bundle.validation
    desc = f"validation split ({spec.validation_split:g} of {spec.train}, seed {bundle.seed})"
    if not hasattr(split, "x"):  # rows with files (a table's image or audio columns)
        return split.labelled(desc)
    x = np.asarray(split.x, dtype=np.float32)
    return LabelledArrays(desc, np.asarray(split.y), lambda rows: x[rows])


def evaluate_target(
    loaded: Any, *, data: Path | None, batch_size: int, on_progress: Any = None
) -> TargetEvaluation:
    start = time.perf_counter()
    record = loaded.target
    target = target_of(record)
    if data is not None:
        source = loaded.kind.labelled_targets(data, loaded.preprocessing, record)
    elif getattr(loaded, "run_dir", None) is not None:
        source = _run_validation(Path(loaded.run_dir), loaded)
    else:
        raise UsageError(
            "a model file on its own has no validation data",
            file=getattr(loaded, "source", None),
            hint="pass --data FILE with the model's feature and target columns",
        )
    scorer = target.evaluation(record)
    total, done = len(source.y), 0
    for x, y in source.batches(batch_size):
        scorer.update(y, np.asarray(loaded.predict_batch(x)))
        done += len(y)
        if on_progress is not None:
            on_progress(done, total)
    if done == 0:
        raise DataError("no usable examples to evaluate on", file=source.description)
    pairs = scorer.pairs() if hasattr(scorer, "pairs") else (None, None)
    by_output = scorer.output_pairs() if hasattr(scorer, "output_pairs") else {}
    return TargetEvaluation(
        target=record,
        scores=scorer.result(),
        data=source.description,
        model=str(getattr(loaded, "source", "")),
        seconds=time.perf_counter() - start,
        true=pairs[0],
        predicted=pairs[1],
        output_pairs=by_output,
        skipped=list(source.skipped),
    )
