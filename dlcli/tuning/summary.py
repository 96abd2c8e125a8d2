"""A study read back from its storage: rows, the best trial, ``best.yaml`` and pictures.

Used at the end of ``dlcli tune`` and by ``dlcli tune --show``. ``best.yaml`` is the best
trial's resolved recipe (its run folder's ``recipe.yaml``; when the trial ran on another
machine, the study's recipe loaded again with the trial's values), a complete standalone
recipe that ``dlcli train best.yaml`` trains. Importances use Optuna's PED-ANOVA
evaluator, which needs no scikit-learn (fANOVA, Optuna's default, does).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dlcli import atomic
from dlcli.errors import DlcliError, UsageError
from dlcli.tuning.events import StudySummary, TrialRow
from dlcli.tuning.rows import to_row, visible
from dlcli.tuning.space import override_text

if TYPE_CHECKING:
    import optuna

IMPORTANCE_METHOD = "PED-ANOVA"


def load_study(name: str, url: str) -> tuple[optuna.Study, str]:
    """An existing study; exit 2 naming the study and the storage when it is not there."""
    import optuna

    from dlcli.tuning.storage import display_url, open_storage

    store = open_storage(url)
    try:
        return optuna.load_study(study_name=name, storage=store), display_url(url)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(store)]
        raise UsageError(
            f"no study {name!r} in the storage",
            field="--show",
            received=display_url(url),
            expected="one of " + (", ".join(names) if names else "(no studies yet)"),
        ) from None


def summarize(study: optuna.Study, shown: str, out: Path, keys: tuple[str, ...]) -> StudySummary:
    """Rows and the best trial; writes ``best.yaml`` and the pictures into ``out``."""
    trials = visible(study.get_trials(deepcopy=False))
    rows = [to_row(t) for t in trials]
    keys = keys or tuple(dict.fromkeys(k for t in trials for k in t.params))
    best = _best(study)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    summary = StudySummary(
        study=study.study_name,
        storage=shown,
        monitor=str(study.user_attrs.get("monitor", "value")),
        direction=study.direction.name.lower(),
        keys=keys,
        rows=rows,
        best=best,
        counts=counts,
    )
    out.mkdir(parents=True, exist_ok=True)
    if best is not None:
        summary.files["best.yaml"] = write_best_yaml(study, best, out / "best.yaml")
    _pictures(study, summary, out)
    return summary


def _best(study: optuna.Study) -> TrialRow | None:
    try:
        return to_row(study.best_trial)
    except ValueError:
        return None


def write_best_yaml(study: optuna.Study, best: TrialRow, path: Path) -> Path:
    run_recipe = Path(best.run_dir or "") / "recipe.yaml"
    if best.run_dir and run_recipe.is_file():
        text = run_recipe.read_text(encoding="utf-8")
    else:
        from dlcli.recipe import load_recipe

        recipe = Path(str(study.user_attrs.get("recipe", "")))
        fixed = list(study.user_attrs.get("overrides", []))
        values = [override_text(k, v) for k, v in best.params.items()]
        try:
            text = load_recipe(recipe, overrides=[*fixed, *values]).to_yaml()
        except DlcliError as exc:
            raise UsageError(
                f"cannot write best.yaml: trial {best.number}'s run folder is not on this "
                f"machine and its recipe does not load here: {exc.problem.format()}",
                field="best.yaml",
            ) from None
    header = (
        f"# best trial {best.number} of study {study.study_name!r}: "
        f"{study.user_attrs.get('monitor', 'value')} = {best.value:.6g}\n"
    )
    atomic.write_text(path, header + text)
    return path


def _pictures(study: optuna.Study, summary: StudySummary, out: Path) -> None:
    from dlcli.viz.tuning_plots import plot_history, plot_importances, plot_parallel

    maximize = summary.direction == "maximize"
    complete = [r for r in summary.rows if r.state == "complete"]
    if not complete:
        summary.notes.append("no complete trial yet: no pictures")
        return
    summary.files["history.png"] = plot_history(
        summary.rows, summary.monitor, maximize, out / "history.png"
    )
    importances = _importances(study, summary)
    if importances:
        summary.files["importances.png"] = plot_importances(
            importances, out / "importances.png", IMPORTANCE_METHOD
        )
    keys = [k for k in summary.keys if any(k in r.params for r in complete)]
    if len(complete) >= 2 and keys:
        summary.files["parallel.png"] = plot_parallel(
            summary.rows, keys, _log_keys(study), summary.monitor, out / "parallel.png"
        )
    else:
        summary.notes.append("parallel coordinates need 2 complete trials")


def _importances(study: optuna.Study, summary: StudySummary) -> dict[str, float]:
    import optuna

    complete = [r for r in summary.rows if r.state == "complete"]
    if len(complete) < 3:
        summary.notes.append("parameter importances need 3 complete trials")
        return {}
    try:
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        found = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (ValueError, RuntimeError, ZeroDivisionError) as exc:
        summary.notes.append(f"parameter importances could not be computed: {exc}")
        return {}
    if not found:
        summary.notes.append("parameter importances: no parameter varied")
    return {str(k): float(v) for k, v in found.items()}


def _log_keys(study: optuna.Study) -> set[str]:
    keys: set[str] = set()
    for trial in study.get_trials(deepcopy=False):
        for key, dist in trial.distributions.items():
            if getattr(dist, "log", False):
                keys.add(key)
    return keys
