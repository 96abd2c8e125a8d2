"""Where ``dlcli evaluate`` gets labelled examples, and the checks that they fit the model.

- ``--data DIR``: a class-folder tree (``DIR/<class>/<images>``), decoded by
  :mod:`dlcli.data.decode` in streaming batches like ``predict``; folder names must be among
  the model's class names (a test folder may lack some classes).
- ``--data FILE.csv``: rows of a tabular model's feature columns plus its label column.
- neither: the run's own validation data, from ``recipe.yaml``: ``data.validation`` when the
  recipe names one, else the ``validation_split`` re-derived exactly as training did, by
  ``dlcli.data.load_datasets`` with the recipe's seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.data.listing import SkippedFile, find_images
from dlcli.errors import DataError, UsageError


@dataclass
class ImageFolderSource:
    """Image files with their true class index (into the model's class names)."""

    description: str
    paths: list[str]
    label_of: dict[str, int]
    skipped: list[SkippedFile] = field(default_factory=list)


@dataclass
class ArraySource:
    """Already-decoded rows (CSV features, or a re-derived validation split)."""

    description: str
    y: np.ndarray
    fetch: Any  # callable(rows: np.ndarray) -> np.ndarray of inputs
    skipped: list[SkippedFile] = field(default_factory=list)

    def batches(self, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = len(self.y)
        for start in range(0, n, batch_size):
            rows = np.arange(start, min(start + batch_size, n))
            yield self.fetch(rows), self.y[rows]


def _class_index(model_names: list[str], data_names: list[str], where: Path) -> dict[str, int]:
    unknown = [c for c in data_names if c not in model_names]
    if unknown:
        raise DataError(
            f"class(es) in the data that the model does not know: {', '.join(unknown)}",
            file=where,
            expected=f"class names of the model: {model_names}",
            received=data_names,
            hint="class folders/labels must match the model's class names; for a bare .keras "
            "file pass --labels FILE with its class names in output order",
        )
    return {name: i for i, name in enumerate(model_names)}


def image_folder_source(root: Path, model_names: list[str]) -> ImageFolderSource:
    from dlcli.data.images import list_class_folder

    classes, _ = list_class_folder(root, "evaluation")
    index = _class_index(model_names, classes, root)
    paths: list[str] = []
    label_of: dict[str, int] = {}
    skipped: list[SkippedFile] = []
    for cls in classes:
        found, bad = find_images([root / cls], recursive=True)
        skipped.extend(bad)
        for p in found:
            paths.append(p)
            label_of[p] = index[cls]
    return ImageFolderSource(str(root), paths, label_of, skipped)


def csv_source(path: Path, preprocessing: dict[str, Any], model_names: list[str]) -> ArraySource:
    from dlcli.data.tabular import read_csv

    if preprocessing.get("kind") != "csv":
        raise UsageError(
            "--data is a CSV file but this model takes images",
            file=path,
            expected="a folder of class sub-folders for an image model",
        )
    label = preprocessing.get("label_column") or "label"
    features = preprocessing.get("feature_columns")
    _, x, raw, _ = read_csv(path, label, list(features) if features else None)
    index = _class_index(model_names, sorted(set(raw)), path)
    y = np.asarray([index[v] for v in raw], dtype=np.int64)
    return ArraySource(str(path), y, lambda rows: x[rows])


def _training_seed(recipe: Any) -> int:
    """The seed training hands to ``load_datasets`` (the train seed, else the recipe's)."""
    train_seed = getattr(getattr(recipe, "train", None), "seed", None)
    return int(train_seed if train_seed is not None else recipe.seed)


def run_validation_source(
    run_dir: Path, preprocessing: dict[str, Any], model_names: list[str]
) -> ImageFolderSource | ArraySource:
    from dlcli.recipe import load_recipe

    recipe_path = run_dir / "recipe.yaml"
    if not recipe_path.is_file():
        raise UsageError(
            "the run directory has no recipe.yaml, so its validation data is unknown",
            file=run_dir,
            hint="pass --data DIR (class folders) or --data FILE.csv",
        )
    recipe = load_recipe(recipe_path)
    spec = recipe.data
    if spec is None:
        raise UsageError(
            "the run's recipe has no data section", file=recipe_path, hint="pass --data"
        )
    if spec.validation is not None:
        where = Path(spec.validation)
        if spec.kind == "csv":
            return csv_source(where, preprocessing, model_names)
        return image_folder_source(where, model_names)
    if not spec.validation_split:
        raise UsageError(
            "the run was trained without validation data",
            file=recipe_path,
            field="data",
            hint="pass --data DIR (class folders) or --data FILE.csv to evaluate on other data",
        )
    from dlcli.data import load_datasets

    bundle = load_datasets(spec, seed=_training_seed(recipe))
    split = bundle.validation
    names = [str(c) for c in bundle.class_names]
    index = _class_index(model_names, names, recipe_path)
    y = np.asarray([index[n] for n in names], dtype=np.int64)[split.y]
    if split.x is not None:
        x = split.x

        def fetch(rows: np.ndarray) -> np.ndarray:
            return np.asarray(x[rows], dtype=np.float32)
    else:
        fetch = split.loader
    desc = f"validation split ({spec.validation_split:g} of {spec.train}, seed {bundle.seed})"
    return ArraySource(desc, y, fetch, list(bundle.skipped))
