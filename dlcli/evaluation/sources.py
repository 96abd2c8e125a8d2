"""Where ``dlcli evaluate`` gets labelled examples, and the checks that they fit the model.

- ``--data PATH``: read by the model's data kind
  (:meth:`dlcli.data.kinds.base.DataKind.labelled_data`): a class-folder tree
  (``DIR/<class>/<images>``) for image models, decoded in streaming batches like
  ``predict``; a CSV file of a tabular model's feature columns plus its label column. Class
  names must be among the model's (a test folder may lack some classes).
- neither: the run's own validation data, from ``recipe.yaml``: ``data.validation`` when the
  recipe names one, else the ``validation_split`` re-derived exactly as training did, by
  ``dlcli.data.load_datasets`` with the recipe's seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dlcli.data.kinds import LabelledArrays, LabelledData, LabelledFiles, Preprocessing, get_kind
from dlcli.data.kinds.base import class_index
from dlcli.errors import UsageError


def _training_seed(recipe: Any) -> int:
    """The seed training hands to ``load_datasets`` (the train seed, else the recipe's)."""
    train_seed = getattr(getattr(recipe, "train", None), "seed", None)
    return int(train_seed if train_seed is not None else recipe.seed)


def run_validation_source(
    run_dir: Path, preprocessing: Preprocessing, model_names: list[str]
) -> LabelledData:
    from dlcli.recipe import load_recipe

    recipe_path = run_dir / "recipe.yaml"
    if not recipe_path.is_file():
        raise UsageError(
            "the run directory has no recipe.yaml, so its validation data is unknown",
            file=run_dir,
            hint="pass --data PATH with labelled data the model reads",
        )
    recipe = load_recipe(recipe_path)
    spec = recipe.data
    if spec is None:
        raise UsageError(
            "the run's recipe has no data section", file=recipe_path, hint="pass --data"
        )
    if spec.validation is not None:
        kind = get_kind(spec.kind, file=recipe_path)
        return kind.labelled_data(Path(spec.validation), preprocessing, model_names)
    if not spec.validation_split:
        raise UsageError(
            "the run was trained without validation data",
            file=recipe_path,
            field="data",
            hint="pass --data PATH to evaluate on other labelled data",
        )
    from dlcli.data import load_datasets
    from dlcli.recipe.model_inputs import model_columns

    bundle = load_datasets(spec, seed=_training_seed(recipe), inputs=model_columns(recipe.model))
    split = bundle.validation
    names = [str(c) for c in bundle.class_names]
    index = class_index(model_names, names, recipe_path)
    y = np.asarray([index[n] for n in names], dtype=np.int64)[split.y]
    desc = f"validation split ({spec.validation_split:g} of {spec.train}, seed {bundle.seed})"
    x = getattr(split, "x", None)
    if x is None:  # files streamed in training: decoded in batches like --data, bad ones listed
        label_of = dict(zip(split.sources, y.tolist(), strict=True))
        return LabelledFiles(desc, list(split.sources), label_of)

    def fetch(rows: np.ndarray) -> np.ndarray:
        if x.dtype == object:  # raw text documents
            return x[rows]
        return np.asarray(x[rows], dtype=np.float32)

    return LabelledArrays(desc, y, fetch, list(bundle.skipped))
