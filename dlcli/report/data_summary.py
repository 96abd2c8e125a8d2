"""The report's data section: where the data came from, examples per class, skipped files.

Counts come from listing the data again the way training did (``load_datasets`` with the
run's recipe and seed: image files are listed, not decoded), so the validation split is the
one training used. Skipped files are those training recorded (``skipped.txt``) and those
that could not be read while the validation data was scored for this report.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dlcli.errors import DlcliError
from dlcli.report.page import ClassCount, DataView, SkippedRow
from dlcli.report.run_files import RECIPE, RunFiles
from dlcli.report.scoring import Scored

MAX_SKIPPED_ROWS = 200
TRAINING = "training (skipped.txt)"
if TYPE_CHECKING:
    from dlcli.recipe import Recipe

SCORING = "scoring the validation data for this report"


def data_view(run: RunFiles, scored: Scored | None) -> DataView:
    view = DataView()
    _skipped_rows(view, run, scored)
    if run.recipe_text is None:
        view.notes.append("No recipe.yaml: where the data came from is not recorded.")
        return view
    from dlcli.recipe import load_recipe

    try:
        recipe = load_recipe(run.path / RECIPE)
    except DlcliError as exc:
        view.notes.append(f"recipe.yaml cannot be read: {exc.format()}")
        return view
    spec = recipe.data
    if spec is None:
        view.notes.append("The recipe has no data section.")
        return view
    from dlcli.data.kinds import kind_of

    view.facts = [
        ("kind", kind_of(spec).describe(spec)),
        ("training data", str(spec.train)),
        ("validation data", _validation_text(spec.validation, spec.validation_split)),
        ("batch size", str(spec.batch_size)),
    ]
    _class_counts(view, recipe, run)
    return view


def _validation_text(validation: Path | None, split: float | None) -> str:
    if validation is not None:
        return str(validation)
    if split:
        return f"{split:g} of the training data (re-derived with the run's seed)"
    return "none"


def _class_counts(view: DataView, recipe: Recipe, run: RunFiles) -> None:
    from dlcli.data import load_datasets

    spec = recipe.data
    assert spec is not None
    # The seed training gave load_datasets: the same split, the same counts.
    seed = int(recipe.train.seed if recipe.train.seed is not None else recipe.seed)
    try:
        bundle = load_datasets(spec, seed=seed)
    except DlcliError as exc:
        view.notes.append(f"the data cannot be listed now: {exc.format()}")
        return
    from dlcli.targets import target_of

    names = [str(n) for n in bundle.class_names]
    target = target_of(bundle.target)
    train = target.example_counts(np.asarray(bundle.train.y), len(names))
    if train is None:
        view.notes.append(
            f"No examples per class: this run's target is {target.name} "
            "(its training output summarises the values)."
        )
        return
    val = None
    if bundle.validation is not None:
        val = target.example_counts(np.asarray(bundle.validation.y), len(names))
    view.counted = target.output_noun
    view.classes = [
        ClassCount(name, int(train[i]), None if val is None else int(val[i]))
        for i, name in enumerate(names)
    ]
    # examples, not the sum of the counts: an example may hold several tags
    view.train_total = len(bundle.train.y)
    view.validation_total = None if bundle.validation is None else len(bundle.validation.y)
    if run.class_names and run.class_names != names:
        view.notes.append(
            "The data's classes differ from the model's (labels.json): "
            f"{len(names)} in the data, {len(run.class_names)} in the model."
        )


def _skipped_rows(view: DataView, run: RunFiles, scored: Scored | None) -> None:
    rows = [SkippedRow(s.path, s.reason, TRAINING) for s in run.skipped]
    seen = {s.path for s in run.skipped}
    if scored is not None:
        rows += [
            SkippedRow(s.path, s.reason, SCORING) for s in scored.skipped if s.path not in seen
        ]
    view.skipped_total = len(rows)
    view.skipped = rows[:MAX_SKIPPED_ROWS]
