"""The fourth step of a training session: the run's opening files and what it says first.

``recipe.yaml``, ``labels.json`` and ``skipped.txt`` are written before the first epoch (a
stopped run already has them), the TensorBoard log is opened, then ``RunStarted`` and the
notices: data notes, adapted preprocessing layers, and on resume what continues how.
"""

from __future__ import annotations

from dlcli.data.kinds.labels import LABELS_FILE, labels_json
from dlcli.training.events import EventCallback, RunStarted
from dlcli.training.reporting import TensorBoardLog
from dlcli.training.resume import StartingPoint
from dlcli.training.session import Session


def announce(session: Session, start: StartingPoint, on_event: EventCallback) -> TensorBoardLog:
    """Write the opening files, report the start; return the open TensorBoard log."""
    run, bundle = session.run, session.bundle
    run.write_text("recipe.yaml", session.recipe_yaml)
    run.write_json(
        LABELS_FILE, labels_json(bundle.class_names, bundle.preprocessing, bundle.target)
    )
    run.write_skipped(bundle.skipped)
    board = TensorBoardLog(run.path / "logs")
    on_event(run_started(session, start))
    _notices(session, start, on_event)
    return board


def run_started(session: Session, start: StartingPoint) -> RunStarted:
    plan, bundle = session.plan, session.bundle
    return RunStarted(
        name=session.recipe.name,
        run_dir=session.run.read_path,
        device=plan.device_label,
        strategy=plan.strategy_kind,
        replicas=plan.replicas,
        precision=plan.precision_label,
        epochs=session.epochs,
        start_epoch=start.state.epoch,
        steps_per_epoch=session.steps,
        num_train=bundle.num_train,
        num_validation=bundle.num_validation,
        global_batch_size=session.global_batch_size,
        is_chief=plan.is_chief,
        warnings=tuple(session.notes),
        skipped=len(bundle.skipped),
    )


def _notices(session: Session, start: StartingPoint, on_event: EventCallback) -> None:
    from dlcli.training import diagnostics as diag
    from dlcli.training.adapt import summaries

    resumed = session.options.resume
    for notice in [*diag.data_notices(session.bundle), *summaries(start.state.adapted, resumed)]:
        on_event(notice)
    for notice in start.notices:
        on_event(notice)
