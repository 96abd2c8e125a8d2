"""Past runs: find run directories, summarise them, and diff their recipes.

A run directory (docs/architecture.md) holds ``recipe.yaml``, ``metrics.json``,
``history.csv``, ``model.keras``... Runs that crashed or are still going lack some of
these files; they are listed with a status instead of failing the whole listing.
No TensorFlow here: ``dlcli runs`` should answer in well under a second.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from dlcli.errors import DataError

RUN_MARKERS = ("metrics.json", "recipe.yaml", "history.csv")
_SKIP_DIRS = {"checkpoints", "logs", "__pycache__", ".git", "node_modules"}


@dataclass
class RunInfo:
    """One row of ``dlcli runs``. ``status``: complete, incomplete or broken."""

    name: str
    path: str
    status: str
    date: str | None = None
    epochs_run: int | None = None
    epochs_planned: int | None = None
    best_monitor: str | None = None
    best_value: float | None = None
    best_epoch: int | None = None
    final_val_accuracy: float | None = None
    samples_per_s: float | None = None
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and any((path / m).is_file() for m in RUN_MARKERS)


def find_run_dirs(root: Path) -> list[Path]:
    """Every run directory under ``root`` (or ``root`` itself), without descending into runs."""
    if is_run_dir(root):
        return [root]
    found: list[Path] = []
    for dirpath, dirnames, _ in os.walk(root):
        here = Path(dirpath)
        if here != root and is_run_dir(here):
            found.append(here)
            dirnames[:] = []  # a run's checkpoints/ and logs/ are not runs
            continue
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
    return found


def read_history(run_dir: Path) -> list[dict[str, float]]:
    """``history.csv`` as one dict per epoch (numbers as floats; unparsable cells NaN)."""
    path = run_dir / "history.csv"
    if not path.is_file():
        return []
    rows: list[dict[str, float]] = []
    with open(path, newline="", encoding="utf-8") as fh:
        for raw in csv.DictReader(fh):
            row: dict[str, float] = {}
            for key, value in raw.items():
                if key is None:
                    continue
                try:
                    row[key] = float(value) if value not in (None, "") else math.nan
                except ValueError:
                    row[key] = math.nan
            rows.append(row)
    return rows


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    number = _finite(value)
    return int(number) if number is not None else None


def summarize_run(run_dir: Path, *, root: Path | None = None) -> RunInfo:
    """Read what a run directory has; note what is missing or unreadable."""
    name = str(run_dir.relative_to(root)) if root and run_dir != root else run_dir.name
    info = RunInfo(name=name, path=str(run_dir), status="complete")
    metrics: dict[str, Any] = {}
    metrics_path = run_dir / "metrics.json"
    if metrics_path.is_file():
        try:
            loaded = json.loads(metrics_path.read_text(encoding="utf-8"))
            if not isinstance(loaded, dict):
                raise ValueError("not a JSON object")
            metrics = loaded
        except (OSError, ValueError) as exc:
            info.status = "broken"
            info.problems.append(f"metrics.json unreadable: {exc}")
    else:
        info.status = "incomplete"
        info.problems.append("no metrics.json (still running, interrupted or crashed)")

    try:
        history = read_history(run_dir)
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        history = []
        info.status = "broken"
        info.problems.append(f"history.csv unreadable: {exc}")

    recipe: dict[str, Any] = {}
    if (run_dir / "recipe.yaml").is_file():
        try:
            loaded = yaml.safe_load((run_dir / "recipe.yaml").read_text(encoding="utf-8"))
            recipe = loaded if isinstance(loaded, dict) else {}
        except (OSError, yaml.YAMLError) as exc:
            info.problems.append(f"recipe.yaml unreadable: {type(exc).__name__}")

    if root is None and isinstance(metrics.get("name"), str) and metrics["name"]:
        info.name = metrics["name"]  # a lone run: its own name; in a listing: its path
    info.date = metrics.get("started") or metrics.get("finished")
    if not isinstance(info.date, str):
        stamp = run_dir.stat().st_mtime
        info.date = datetime.fromtimestamp(stamp, tz=timezone.utc).isoformat(timespec="seconds")
    info.epochs_run = _int(metrics.get("epochs_run"))
    if info.epochs_run is None and history:
        info.epochs_run = len(history)
    info.epochs_planned = _int(metrics.get("epochs_planned"))
    if info.epochs_planned is None:
        info.epochs_planned = _int((recipe.get("train") or {}).get("epochs"))
    best = metrics.get("best")
    if isinstance(best, dict):
        info.best_monitor = best.get("monitor") if isinstance(best.get("monitor"), str) else None
        info.best_value = _finite(best.get("value"))
        info.best_epoch = _int(best.get("epoch"))
    final = metrics.get("final")
    if isinstance(final, dict):
        info.final_val_accuracy = _finite(final.get("val_accuracy"))
    elif history:
        info.final_val_accuracy = _finite(history[-1].get("val_accuracy"))
    info.samples_per_s = _finite(metrics.get("samples_per_s"))
    return info


def _sort_key(info: RunInfo) -> float:
    try:
        stamp = datetime.fromisoformat(str(info.date).replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


def list_runs(root: Path) -> list[RunInfo]:
    """All runs under ``root``, newest first. ``DataError`` if ``root`` is missing."""
    root = Path(root)
    if not root.exists():
        raise DataError(
            "runs directory not found",
            file=root,
            hint="train something first (dlcli train RECIPE --out runs/NAME) or pass a folder",
        )
    if not root.is_dir():
        raise DataError("not a directory", file=root, expected="a folder of run directories")
    runs = [summarize_run(d, root=root) for d in find_run_dirs(root)]
    runs.sort(key=_sort_key, reverse=True)
    return runs


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts/lists as ``{"train.optimizer.args.learning_rate": 0.001, ...}``."""
    flat: dict[str, Any] = {}
    if isinstance(value, dict):
        if not value and prefix:
            flat[prefix] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list):
        if not value and prefix:
            flat[prefix] = []
        for i, item in enumerate(value):
            flat.update(flatten(item, f"{prefix}[{i}]"))
    else:
        flat[prefix] = value
    return flat


_ABSENT = object()


@dataclass(frozen=True)
class Difference:
    key: str
    left: Any
    right: Any
    left_present: bool = True
    right_present: bool = True

    def format(self) -> str:
        def show(value: Any, present: bool) -> str:
            return json.dumps(value, default=str) if present else "(absent)"

        return (
            f"{self.key}: {show(self.left, self.left_present)}"
            f" -> {show(self.right, self.right_present)}"
        )


def load_run_recipe(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "recipe.yaml"
    if not path.is_file():
        raise DataError("run directory has no recipe.yaml", file=run_dir, hint="is it a run?")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DataError(f"recipe.yaml cannot be parsed: {exc}", file=path) from None
    return loaded if isinstance(loaded, dict) else {}


@dataclass(frozen=True)
class KeyDifference:
    """One recipe key that is not the same in every run: its value per run, in run order."""

    key: str
    values: tuple[Any, ...]  # None where the key is absent
    present: tuple[bool, ...]


def diff_many(recipes: Sequence[dict[str, Any]]) -> list[KeyDifference]:
    """Keys (dotted paths) whose value is not the same in every recipe, in recipe order.

    A key missing from some recipes counts as differing (``present`` says where).
    """
    flats = [flatten(r) for r in recipes]
    keys: dict[str, None] = {}
    for flat in flats:
        keys.update(dict.fromkeys(flat))
    diffs: list[KeyDifference] = []
    for key in keys:
        values = [flat.get(key, _ABSENT) for flat in flats]
        if any(v is _ABSENT for v in values) or any(v != values[0] for v in values[1:]):
            diffs.append(
                KeyDifference(
                    key,
                    tuple(None if v is _ABSENT else v for v in values),
                    tuple(v is not _ABSENT for v in values),
                )
            )
    return diffs


def diff_recipes(left: dict[str, Any], right: dict[str, Any]) -> list[Difference]:
    """Keys whose values differ between two resolved recipes, in recipe order."""
    return [
        Difference(d.key, d.values[0], d.values[1], d.present[0], d.present[1])
        for d in diff_many([left, right])
    ]


def resolve_run_dir(path: Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataError("run directory not found", file=path)
    if not is_run_dir(path):
        raise DataError(
            "not a run directory",
            file=path,
            expected="a folder with recipe.yaml, metrics.json or history.csv",
        )
    return path
