"""Compare any number of runs: what differs in their recipes, and what they measured.

``compare_runs(paths)`` reads each run directory (or every run under a folder of runs),
diffs the resolved ``recipe.yaml`` of all of them at once, and returns a ``Comparison``
that the renderer turns into one row per run. No TensorFlow and no printing here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlcli.errors import UsageError
from dlcli.viz.runs import (
    KeyDifference,
    RunInfo,
    diff_many,
    find_run_dirs,
    is_run_dir,
    load_run_recipe,
    read_history,
    resolve_run_dir,
    summarize_run,
)

# Columns of history.csv that are bookkeeping, not metrics.
_NOT_METRICS = frozenset({"epoch", "stage", "epoch_time_s", "lr", "learning_rate"})


@dataclass
class ComparedRun:
    label: str  # the shortest trailing part of the path that tells this run from the others
    path: Path
    info: RunInfo
    final: dict[str, float]  # metrics.json "final", else the last history.csv row
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class Comparison:
    runs: list[ComparedRun]
    differences: list[KeyDifference]  # recipe keys not the same in every run

    @property
    def metric_keys(self) -> list[str]:
        """Final-metric names over all runs, first-seen order."""
        keys: dict[str, None] = {}
        for run in self.runs:
            keys.update(dict.fromkeys(run.final))
        return list(keys)

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": [
                {
                    "label": run.label,
                    "path": str(run.path),
                    "name": run.info.name,
                    "status": run.info.status,
                    "epochs_run": run.info.epochs_run,
                    "epochs_planned": run.info.epochs_planned,
                    "best": {
                        "monitor": run.info.best_monitor,
                        "value": run.info.best_value,
                        "epoch": run.info.best_epoch,
                    },
                    "final": run.final,
                    "recipe": {d.key: d.values[i] for d in self.differences if d.present[i]},
                }
                for i, run in enumerate(self.runs)
            ],
            "differences": [
                {"key": d.key, "values": list(d.values), "present": list(d.present)}
                for d in self.differences
            ],
        }


def expand_run_paths(paths: Sequence[Path]) -> list[Path]:
    """Each path as given if it is a run directory; a folder of runs stands for its runs."""
    runs: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir() and not is_run_dir(path):
            inside = find_run_dirs(path)
            if inside:
                runs.extend(inside)
                continue
        runs.append(resolve_run_dir(path))
    return runs


def run_labels(paths: Sequence[Path]) -> list[str]:
    """Folder names, lengthened with parent folders only where two runs share a name."""
    parts = [Path(p).resolve().parts for p in paths]
    depth = [1] * len(parts)
    while True:
        labels = ["/".join(p[-d:]) for p, d in zip(parts, depth, strict=True)]
        clashes = {x for x in labels if labels.count(x) > 1}
        grow = [i for i, x in enumerate(labels) if x in clashes and depth[i] < len(parts[i])]
        if not grow:
            return labels
        for i in grow:
            depth[i] += 1


def _final_metrics(run_dir: Path, history: list[dict[str, float]]) -> dict[str, float]:
    final: Any = None
    try:
        final = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8")).get("final")
    except (OSError, ValueError, AttributeError):
        final = None
    if not isinstance(final, dict) and history:
        final = {k: v for k, v in history[-1].items() if k not in _NOT_METRICS}
    out: dict[str, float] = {}
    for key, value in (final or {}).items():
        if isinstance(value, int | float) and math.isfinite(value):
            out[str(key)] = float(value)
    return out


def compare_runs(paths: Sequence[Path]) -> Comparison:
    """Diff the resolved recipes of two or more runs and collect what each measured."""
    run_dirs = expand_run_paths(paths)
    seen: dict[Path, Path] = {}
    for run_dir in run_dirs:
        key = run_dir.resolve()
        if key in seen:
            raise UsageError(
                "the same run is named twice",
                file=run_dir,
                field="--compare",
                expected="different run directories",
                received=f"{seen[key]} and {run_dir}",
            )
        seen[key] = run_dir
    if len(run_dirs) < 2:
        raise UsageError(
            "--compare needs at least two runs",
            field="--compare",
            expected="two or more run directories, or a folder holding several runs",
            received=", ".join(str(p) for p in run_dirs) or "nothing",
        )
    recipes = [load_run_recipe(d) for d in run_dirs]
    runs = []
    for label, run_dir in zip(run_labels(run_dirs), run_dirs, strict=True):
        history = read_history(run_dir)
        info = summarize_run(run_dir)
        runs.append(ComparedRun(label, run_dir, info, _final_metrics(run_dir, history), history))
    return Comparison(runs, diff_many(recipes))
