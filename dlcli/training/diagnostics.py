"""What a run tells the user about itself before and early in training (as ``Notice``s).

- per-class training counts, with a warning when the largest class has more than
  ``IMBALANCE_RATIO`` times the examples of the smallest;
- the data loader's notes (e.g. an inferred ``image_size`` and where it came from);
- which preprocessing layers were adapted, on how many examples;
- on resume: how many epochs remain and where the planned count came from, and where the
  learning-rate schedule continues;
- after ``CHANCE_EPOCH`` epochs, a warning when the model is still at chance level.

Plain Python on numbers and strings: no TensorFlow here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcli.training.events import Notice
from dlcli.training.schedules import Schedule

CHANCE_EPOCH = 3


def class_count_notices(class_names: Sequence[str], labels: np.ndarray) -> list[Notice]:
    """One line with the training examples per class; a warning for a >5x imbalance."""
    from dlcli.targets.class_target import class_counts

    return [Notice(text, warning=warn) for text, warn in class_counts(list(class_names), labels)]


def data_notices(bundle: Any) -> list[Notice]:
    """The data loader's notes, then what the target says about the training examples
    (per-class counts, tags, value ranges) and the class weights in use."""
    from dlcli.targets import ClassRecord, target_of

    found = [Notice(note.text, warning=note.warning) for note in bundle.notes]
    record = bundle.target or ClassRecord(class_names=list(bundle.class_names))
    lines = target_of(record).summary(record, bundle.train.y)
    weights = getattr(bundle, "class_weight", None)
    if weights is not None:
        from dlcli.training.weights import describe

        # The imbalance warning suggests class weights: they are set, so say which.
        lines = [(text, warn) for text, warn in lines if not warn]
        lines.append((describe(list(bundle.class_names), weights), False))
    return found + [Notice(text, warning=warn) for text, warn in lines]


def resume_notices(
    *,
    completed: int,
    epochs: int,
    epochs_option: int | None,
    previous_epochs: int | None,
    schedule: Schedule | None,
    steps_per_epoch: int,
    previous_steps_per_epoch: int | None,
) -> list[Notice]:
    """On resume: the epochs that remain, and where the lr schedule continues."""
    found = [
        resume_notice(
            completed=completed,
            epochs=epochs,
            epochs_option=epochs_option,
            previous_epochs=previous_epochs,
        )
    ]
    if schedule is not None and completed > 0:
        moved = schedule_notice(
            kind=schedule.kind if schedule.spans_run else None,
            completed=completed,
            lr=float(schedule.at_epoch(float(completed))),
            epochs=epochs,
            previous_epochs=previous_epochs,
            steps_per_epoch=steps_per_epoch,
            previous_steps_per_epoch=previous_steps_per_epoch,
        )
        found += [moved] if moved is not None else []
    return found


def resume_notice(
    *,
    completed: int,
    epochs: int,
    epochs_option: int | None,
    previous_epochs: int | None,
) -> Notice:
    """How many epochs remain after ``completed``, and where ``epochs`` came from."""
    remaining = max(epochs - completed, 0)
    if epochs_option is not None:
        source = f"--epochs {epochs_option}"
    else:
        source = f"train.epochs {epochs} in the recipe"
    if previous_epochs is not None and previous_epochs != epochs:
        source += f"; the run was planned for {_epochs(previous_epochs)}"
    return Notice(f"{remaining} of {_epochs(epochs)} remain ({source})")


def _epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def schedule_notice(
    *,
    kind: str | None,
    completed: int,
    lr: float,
    epochs: int,
    previous_epochs: int | None,
    steps_per_epoch: int,
    previous_steps_per_epoch: int | None,
) -> Notice | None:
    """Where a resumed learning-rate schedule continues, when anything about it changed
    (``kind``: the schedule's name when its curve spans the planned epochs, else None)."""
    changes = []
    if previous_steps_per_epoch is not None and previous_steps_per_epoch != steps_per_epoch:
        changes.append(
            f"{steps_per_epoch} steps per epoch instead of {previous_steps_per_epoch} "
            "(batch size or data changed)"
        )
    if previous_epochs is not None and previous_epochs != epochs and kind is not None:
        changes.append(f"the {kind} curve now spans {epochs} epochs instead of {previous_epochs}")
    if not changes:
        return None
    return Notice(
        f"learning-rate schedule continues at epoch {completed} of {epochs} with lr {lr:.4g}: "
        + "; ".join(changes)
    )


@dataclass
class ChanceWatch:
    """Warns once, after epoch ``CHANCE_EPOCH``, if the model still predicts at chance.

    Chance is the loss of always answering with the training class frequencies
    (``prior_loss``: ``ln(classes)`` for cross-entropy on balanced classes) and the accuracy
    of always answering with the largest class. Without a prior loss (a loss that does not
    take class indices) there is nothing to compare and no warning.
    """

    prior_loss: float | None
    majority: float
    classes: int

    @classmethod
    def for_data(
        cls, labels: np.ndarray, num_classes: int, prior_loss: float | None
    ) -> ChanceWatch:
        counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)
        majority = float(counts.max() / max(int(counts.sum()), 1))
        return cls(prior_loss=prior_loss, majority=majority, classes=num_classes)

    def check(self, epoch: int, logs: dict[str, float], lr: float) -> Notice | None:
        chance = self.prior_loss
        if chance is None or chance <= 0 or epoch != CHANCE_EPOCH:
            return None
        loss = logs.get("loss")
        accuracy = logs.get("accuracy")
        if loss is None or not math.isfinite(loss) or loss < 0.95 * chance:
            return None
        if accuracy is not None and accuracy > self.majority + 0.05:
            return None
        acc_text = f"training accuracy {accuracy:.3f}, " if accuracy is not None else ""
        balanced = math.isclose(chance, math.log(self.classes), rel_tol=1e-3)
        guess = f" = ln({self.classes})" if balanced else ""
        return Notice(
            f"after {epoch} epochs the model is at chance level ({acc_text}loss {loss:.4f}; "
            f"always answering the class frequencies gives loss {chance:.4f}{guess}). Likely "
            "causes: a learning rate too high or too low (now "
            f"{lr:.3g}); inputs not scaled (Rescaling: 1/255 for images, Normalization "
            "for CSV features); labels that do not match the inputs (class folders, the "
            "label column); a last layer without softmax for "
            "sparse_categorical_crossentropy; a model too small for the task",
            warning=True,
        )
