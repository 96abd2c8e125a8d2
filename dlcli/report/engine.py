"""``build_report``: one run folder in, one HTML page out (returned, not written).

The page is built from what the run recorded (:mod:`.run_files`) plus one scoring pass of
the model over the run's validation data (:mod:`.scoring`), which gives the per-class
scores, the confusion matrix, the gallery and the example whose feature maps are shown.
Each step that cannot run (no model file, the data moved away, a model Grad-CAM cannot
explain) leaves a note in its section and the rest of the page is still made: a report
is wanted most when something went wrong.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from dlcli import __version__
from dlcli.errors import DlcliError
from dlcli.modeling.loading import LoadedModel
from dlcli.report import figures
from dlcli.report.data_summary import data_view
from dlcli.report.gallery import Gallery, build_gallery
from dlcli.report.page import (
    GalleryGroup,
    MetricRow,
    Page,
    ScoredView,
    ScoreRow,
    confusion_view,
    render,
)
from dlcli.report.run_files import RunFiles, read_run
from dlcli.report.scoring import ProgressCallback, Scored, score_validation
from dlcli.report.selection import CELL, MISTAKE, UNSURE

DEFAULT_TOP = 12
PER_CELL = 3  # gallery examples of a diagonal cell (right answers)
PER_MISTAKE_CELL = 8  # of a mistake cell
_BOOKKEEPING = frozenset({"epoch", "stage", "lr", "learning_rate", "epoch_time_s"})


@dataclass
class ReportOptions:
    top: int = DEFAULT_TOP
    per_cell: int = PER_CELL
    per_mistake_cell: int = PER_MISTAKE_CELL
    batch_size: int = 64
    workers: int | None = None
    trust_model: bool = False
    final: bool = False


@dataclass
class Report:
    html: str
    model_file: str | None  # the model scored (best.keras, model.keras), if one loaded
    notes: list[str] = field(default_factory=list)  # what the page could not show, and why


def build_report(
    run_dir: Path, options: ReportOptions, on_progress: ProgressCallback | None = None
) -> Report:
    run = read_run(run_dir)
    page = Page(
        run_name=run.name,
        run_path=str(run.path),
        version=__version__,
        generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        recipe_text=run.recipe_text,
        notes=list(run.notes),
    )
    _training_record(page, run)
    loaded = _load(page, run, options)
    scored = _score(page, loaded, options, on_progress) if loaded is not None else None
    page.data = data_view(run, scored)
    if loaded is not None and scored is not None:
        _scored_sections(page, scored)
        page.gallery = _gallery(page, loaded, scored, options)
        _maps(page, loaded, scored)
    return Report(render(page), page.model_file, list(page.notes))


def _training_record(page: Page, run: RunFiles) -> None:
    """Curves, best epoch, early stop and the recorded metrics."""
    page.best_epoch = run.best_epoch
    monitor = run.best.get("monitor")
    page.best_monitor = str(monitor) if monitor else None
    value = run.best.get("value")
    page.best_value = float(value) if isinstance(value, (int, float)) else None
    page.early_stop = run.early_stop_epoch
    page.curves = figures.curves(
        run.history,
        best_epoch=page.best_epoch,
        best_monitor=page.best_monitor,
        early_stop=page.early_stop,
    )
    best_row = next((r for r in run.history if r.get("epoch") == page.best_epoch), {})
    final = run.final or (run.history[-1] if run.history else {})
    keys = [k for k in final if k not in _BOOKKEEPING]
    page.final = [MetricRow(k, final.get(k), best_row.get(k)) for k in keys]
    page.facts = _facts(run)


def _facts(run: RunFiles) -> list[tuple[str, str]]:
    m = run.metrics
    facts = []
    if "epochs_run" in m:
        planned = m.get("epochs_planned", "?")
        stopped = " (early stopping)" if m.get("stopped_early") is True else ""
        facts.append(("epochs", f"{m['epochs_run']} of {planned}{stopped}"))
    if run.best:
        facts.append(
            ("best", f"{run.best.get('monitor')} {run.best.get('value')} at epoch {run.best_epoch}")
        )
    for key, label in (
        ("wall_time_s", "wall time (s)"),
        ("samples_per_s", "samples/s"),
        ("device", "device"),
        ("precision", "precision"),
        ("started", "started"),
        ("finished", "finished"),
    ):
        if key in m:
            facts.append((label, str(m[key])))
    versions = m.get("versions")
    if isinstance(versions, dict):
        facts.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    return facts


def _load(page: Page, run: RunFiles, options: ReportOptions) -> LoadedModel | None:
    from dlcli.modeling.loading import resolve_model

    try:
        loaded = resolve_model(run.path, trust=options.trust_model, final=options.final)
    except DlcliError as exc:
        page.scoring_error = f"the model cannot be loaded: {exc.format()}"
        page.notes.append(page.scoring_error)
        page.maps_note = "No feature maps: " + page.scoring_error
        return None
    page.model_file = Path(loaded.source).name
    page.notes.extend(loaded.warnings)
    return loaded


def _score(
    page: Page,
    loaded: LoadedModel,
    options: ReportOptions,
    on_progress: ProgressCallback | None,
) -> Scored | None:
    from dlcli.targets import target_of

    if not target_of(loaded.target).classifies:  # tags, numbers, several outputs
        page.scoring_error = (
            f"the report scores class models; this model's target is {loaded.target.type} "
            "(`dlcli evaluate RUN` reports its scores)"
        )
        page.notes.append(page.scoring_error)
        page.maps_note = "No feature maps: " + page.scoring_error
        return None
    try:
        return score_validation(
            loaded, batch_size=options.batch_size, workers=options.workers, on_progress=on_progress
        )
    except DlcliError as exc:
        page.scoring_error = f"the validation data cannot be scored: {exc.format()}"
        page.notes.append(page.scoring_error)
        page.maps_note = "No feature maps: " + page.scoring_error
        return None


def _scored_sections(page: Page, scored: Scored) -> None:
    page.scored = ScoredView(len(scored.y), scored.description, scored.accuracy, scored.loss)
    page.class_names = list(scored.class_names)
    page.per_class = [
        ScoreRow(name, s.precision, s.recall, s.f1, s.support)
        for name, s in zip(scored.class_names, scored.per_class, strict=True)
    ]
    page.averages = [
        ScoreRow(f"{key} average", v["precision"], v["recall"], v["f1"], int(v["support"]))
        for key, v in scored.averages.items()
    ]
    page.confusion = confusion_view(scored.matrix)


def _gallery(page: Page, loaded: LoadedModel, scored: Scored, options: ReportOptions) -> Gallery:
    gallery = build_gallery(
        loaded.model,
        scored,
        top=options.top,
        per_cell=options.per_cell,
        per_mistake_cell=options.per_mistake_cell,
    )
    kind = loaded.kind
    page.input_noun = f"{kind.name} data"
    shape = tuple(loaded.model.inputs[0].shape[1:]) if loaded.model is not None else ()
    page.input_shape = str(tuple(shape))
    page.refs_are_files = scored.from_files
    by_group = {
        key: [i for i in gallery.items if i.chosen.group == key] for key in (MISTAKE, UNSURE, CELL)
    }
    page.groups = [
        GalleryGroup(
            MISTAKE,
            f"Most confident mistakes (up to {options.top})",
            "No mistakes: every validation example was predicted right.",
            by_group[MISTAKE],
        ),
        GalleryGroup(
            UNSURE,
            f"Least confident right answers (up to {options.top})",
            "No right answers.",
            by_group[UNSURE],
        ),
        GalleryGroup(CELL, "More examples of the chosen cell", "", by_group[CELL]),
    ]
    return gallery


def _maps(page: Page, loaded: LoadedModel, scored: Scored) -> None:
    """Feature maps of the gallery's first example (the most confident mistake, if any)."""
    gallery = page.gallery
    if gallery is None or not gallery.items:
        page.maps_note = "No feature maps: no example to show."
        return
    item = gallery.items[0]
    x = scored.inputs([item.chosen.index])
    if x.dtype.kind not in "fiu":
        page.maps_note = (
            "No feature maps: this model reads text; dlcli inspect RUN --activations TEXT "
            "shows what each layer does with a document."
        )
        return
    try:
        page.maps = figures.feature_maps(loaded.model, x[0], scored.class_names)
    except DlcliError as exc:
        page.maps_note = f"No feature maps: {exc.format()}"
        return
    which = (
        "the most confident mistake"
        if item.chosen.group == MISTAKE
        else "the least confident right answer"
    )
    page.maps_example = (
        f"{item.ref} ({which}: true {item.true_name}, predicted {item.predicted_name} "
        f"{item.chosen.confidence:.3f})"
    )
    if not page.maps.pictures:
        page.maps_note = (
            "No feature maps: no layer of this model outputs height x width x channels maps."
        )
