"""``tune(TuneOptions, on_event) -> StudySummary``: run trials until the study has enough.

The study (in its storage) holds every trial; this process adds trials one at a time until
the study counts ``trials`` complete, pruned or running ones, so several processes with the
same storage and study share the work without running more than asked. On start, a running
trial left by a dead process of this machine (kill -9) is marked failed and queued again;
a dead worker elsewhere is found by its missing heartbeat. Ctrl-C fails the running trial,
queues it again and ends with ``Interrupted`` saying that the same command continues.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli.errors import Interrupted, RunFailure, UsageError
from dlcli.training.hooks import monitor_mode
from dlcli.tuning import storage as storages
from dlcli.tuning.events import (
    StudyOpened,
    StudySummary,
    TrialEnded,
    TuneCallback,
    Waiting,
    ignore,
)
from dlcli.tuning.rows import SURPLUS, is_counted, to_row, visible
from dlcli.tuning.space import Space
from dlcli.tuning.trial import EnoughTrials, TrialFailed, TrialPlan, run_trial

if TYPE_CHECKING:
    import optuna

PRUNERS = ("median", "hyperband", "none")
MAX_FAILURES_IN_A_ROW = 5
WAIT_POLL_S = 5.0  # how often a worker with nothing left to run looks at the others


@dataclass(frozen=True)
class TuneOptions:
    recipe: Path
    space: Space
    trials: int
    out: Path
    study: str
    storage: str | None = None  # default: SQLite in ``out``
    timeout_s: float | None = None
    pruner: str = "median"
    overrides: list[str] = field(default_factory=list)
    flags: dict[str, Any] = field(default_factory=dict)
    monitor: str = "val_loss"
    seed: int | None = None
    baseline: dict[str, Any] | None = None  # the recipe's own values: the first trial


def make_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1))
    if name == "none":
        return optuna.pruners.NopPruner()
    raise UsageError("unknown pruner", field="--pruner", expected=", ".join(PRUNERS), received=name)


def open_study(options: TuneOptions, epochs: int) -> tuple[optuna.Study, Any, str]:
    """The study (created or loaded), its storage and the URL as shown."""
    import optuna

    url = options.storage or storages.default_url(options.out)
    store = storages.open_storage(url)
    direction = "maximize" if monitor_mode(options.monitor) == "max" else "minimize"
    try:
        study = optuna.create_study(
            study_name=options.study,
            storage=store,
            direction=direction,
            load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=options.seed, n_startup_trials=4),
            pruner=make_pruner(options.pruner, epochs),
        )
    except ValueError as exc:
        raise UsageError(f"cannot use study {options.study!r}: {exc}", field="--study") from None
    if study.direction.name.lower() != direction:
        raise UsageError(
            f"study {options.study!r} {study.direction.name.lower()}s its value, but "
            f"{options.monitor} is to {direction}",
            field="--study",
            hint="use another --study name for another metric",
        )
    monitor = study.user_attrs.get("monitor")
    if monitor is None:
        study.set_user_attr("monitor", options.monitor)
        study.set_user_attr("recipe", str(options.recipe.absolute()))
        study.set_user_attr("overrides", list(options.overrides))
    elif monitor != options.monitor:
        raise UsageError(
            f"study {options.study!r} monitors {monitor}, this recipe {options.monitor}",
            field="--study",
        )
    return study, store, storages.display_url(url)


def requeue_dead_local_trials(study: optuna.Study, store: Any) -> list[str]:
    """Running trials of dead processes on this machine: failed, and queued again."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    notes = []
    host = socket.gethostname()
    study_id = store.get_study_id_from_name(study.study_name)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = trial.user_attrs
        if attrs.get("host") != host or _alive(int(attrs.get("pid", -1))):
            continue
        trial_id = store.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        try:
            store.set_trial_user_attr(trial_id, "note", "its process died")
            store.set_trial_state_values(trial_id, state=TrialState.FAIL)
        except UpdateFinishedTrialError:
            continue  # another process got there first
        requeue(study, trial)
        notes.append(
            f"trial {trial.number}: its process (PID {attrs.get('pid')}) died; queued again"
        )
    return notes


def requeue(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def counted(study: optuna.Study) -> int:
    return sum(1 for t in study.get_trials(deepcopy=False) if is_counted(t))


def finished(study: optuna.Study) -> int:
    return sum(
        1
        for t in visible(study.get_trials(deepcopy=False))
        if to_row(t).state in ("complete", "pruned")
    )


def tune(options: TuneOptions, epochs: int, on_event: TuneCallback = ignore) -> StudySummary:
    """Run trials until the study has ``options.trials``; then summarise it."""
    from dlcli.tuning.summary import summarize

    study, store, shown = open_study(options, epochs)
    notes = requeue_dead_local_trials(study, store)
    if options.baseline is not None and not study.get_trials(deepcopy=False):
        # skip_if_exists: workers starting together enqueue it once
        attrs = {"note": "the recipe's own values"}
        study.enqueue_trial(options.baseline, user_attrs=attrs, skip_if_exists=True)
    rows = tuple(to_row(t) for t in visible(study.get_trials(deepcopy=False)))
    keys = tuple(p.key for p in options.space)
    on_event(
        StudyOpened(
            study=options.study,
            storage=shown,
            out=options.out,
            monitor=options.monitor,
            direction=study.direction.name.lower(),
            requested=options.trials,
            done=finished(study),
            keys=keys,
            rows=rows,
            notes=tuple(notes),
        )
    )
    plan = TrialPlan(
        recipe=options.recipe,
        space=options.space,
        fixed=list(options.overrides),
        flags=options.flags,
        out=options.out,
        requested=options.trials,
        monitor=options.monitor,
        on_event=on_event,
        storage=store,
    )
    _loop(study, plan, options, on_event)
    return summarize(study, shown, options.out, keys)


def _loop(
    study: optuna.Study, plan: TrialPlan, options: TuneOptions, on_event: TuneCallback
) -> None:
    """Run trials while the study needs more; then wait for other workers' running trials
    (a dead worker's trial is failed by its missing heartbeat and queued again here)."""
    deadline = time.monotonic() + options.timeout_s if options.timeout_s else None
    failures: list[str] = []
    waiting_said = False
    while finished(study) < options.trials:
        if deadline is not None and time.monotonic() >= deadline:
            break
        if counted(study) >= options.trials:
            if not waiting_said:
                on_event(Waiting(running=counted(study) - finished(study)))
                waiting_said = True
            _wait_for_others(study, plan)
            continue
        number = _one_trial(study, plan)
        if number is None:
            continue  # other workers took the last trials meanwhile
        trial = study.get_trials(deepcopy=False)[number]
        row = to_row(trial)
        on_event(TrialEnded(row, _best_row(study)))
        failures = [*failures, row.note] if row.state == "failed" else []
        if len(failures) >= MAX_FAILURES_IN_A_ROW:
            raise RunFailure(
                f"{len(failures)} trials in a row failed; the last: {failures[-1]}",
                hint="check the recipe and the search space (dlcli validate RECIPE --set ...)",
            )


def _wait_for_others(study: optuna.Study, plan: TrialPlan) -> None:
    from optuna.storages import fail_stale_trials

    try:
        time.sleep(WAIT_POLL_S)
    except KeyboardInterrupt:
        raise Interrupted(
            f"tune stopped while other workers finish their trials of {study.study_name!r}",
            hint="run the same command again to see the finished study",
        ) from None
    fail_stale_trials(study)  # heartbeats: trials of dead workers elsewhere
    if plan.storage is not None:
        requeue_dead_local_trials(study, plan.storage)


def _one_trial(study: optuna.Study, plan: TrialPlan) -> int | None:
    """Run one trial; its number, or None when the study had enough already."""
    numbers: list[int] = []

    def objective(trial: optuna.Trial) -> float:
        numbers.append(trial.number)
        return run_trial(plan, trial)

    try:
        study.optimize(objective, n_trials=1, catch=(TrialFailed, EnoughTrials))
    except (Interrupted, KeyboardInterrupt) as exc:
        _interrupted(study, numbers, exc)
    if not numbers:
        return None
    trial = study.get_trials(deepcopy=False)[numbers[0]]
    if trial.user_attrs.get(SURPLUS):
        return None
    return numbers[0]


def _interrupted(study: optuna.Study, numbers: list[int], exc: BaseException) -> None:
    done = finished(study)
    if numbers:
        trial = study.get_trials(deepcopy=False)[numbers[0]]
        if to_row(trial).state == "failed" and not trial.user_attrs.get(SURPLUS):
            requeue(study, trial)
    signal = exc.problem.message if isinstance(exc, Interrupted) else "interrupted"
    raise Interrupted(
        f"tune stopped ({signal.splitlines()[0]}); {done} finished trials are kept in the "
        f"study {study.study_name!r}",
        hint="run the same command again to continue; the interrupted trial is queued again",
    ) from None


def _best_row(study: optuna.Study) -> Any:
    try:
        return to_row(study.best_trial)
    except ValueError:
        return None
