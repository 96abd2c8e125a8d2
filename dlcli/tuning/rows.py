"""Optuna trials as ``TrialRow`` values, and counting them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dlcli.tuning.events import TrialRow

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

SURPLUS = "dlcli_surplus"  # user attr of a trial asked for past the requested count


def state_name(trial: FrozenTrial) -> str:
    """complete, pruned, running, waiting or failed."""
    name = trial.state.name.lower()
    return "failed" if name == "fail" else name


def is_counted(trial: FrozenTrial) -> bool:
    """Complete, pruned or running: the trials that make up the requested count."""
    return state_name(trial) in ("complete", "pruned", "running") and not trial.user_attrs.get(
        SURPLUS
    )


def to_row(trial: FrozenTrial) -> TrialRow:
    attrs = trial.user_attrs
    epochs = max(trial.intermediate_values) if trial.intermediate_values else None
    value = trial.value
    if value is None and trial.intermediate_values:
        value = trial.intermediate_values[max(trial.intermediate_values)]
    note = str(attrs.get("note", ""))
    if "retry_of" in attrs and not note:
        note = f"retries trial {attrs['retry_of']}"
    return TrialRow(
        number=trial.number,
        state=state_name(trial),
        params=dict(trial.params),
        value=value,
        epochs=epochs,
        note=note,
        run_dir=attrs.get("run_dir"),
    )


def visible(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Every trial but those asked for past the count (they never trained)."""
    return [t for t in trials if not t.user_attrs.get(SURPLUS)]
