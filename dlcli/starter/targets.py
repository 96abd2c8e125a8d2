"""The parts of a starter recipe that depend on what the labels are: the ``target`` entry
of the data section, the output layer, and the train section (``class``, ``multi_label``,
``regression``, as ``dlcli.targets`` names them)."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from dlcli.errors import DataError
from dlcli.starter.base import Entry
from dlcli.starter.labels import TargetGuess
from dlcli.starter.training import EPOCHS, PATIENCE, classification_train
from dlcli.targets.multi_label import NAME as MULTI_LABEL
from dlcli.targets.regression import NAME as REGRESSION


def targets_supported(section: type[BaseModel]) -> bool:
    """Whether the data section takes ``target`` (multi-label and regression labels)."""
    return "target" in section.model_fields


def check_supported(guess: TargetGuess, section: type[BaseModel], table: str) -> None:
    if not guess.classes and not targets_supported(section):
        raise DataError(
            f"the label column looks like a {guess.type} target ({guess.why}), which this "
            "dlcli's table recipes cannot train",
            file=table,
            expected="a label column of class names",
            hint="pass --label naming a class column",
        )


def target_entry(guess: TargetGuess) -> list[Entry]:
    if guess.tags:
        spec = {"type": MULTI_LABEL, "sep": guess.separator or "|"}
        return [Entry("target", spec, "sigmoid outputs, one per tag")]
    if guess.numbers:
        spec = {"type": REGRESSION, "standardize": True}
        return [Entry("target", spec, "learn the standardised value; predict undoes it")]
    return []


def output_layer(guess: TargetGuess, counts: Mapping[str, int]) -> Entry:
    if guess.tags:
        units = {"units": len(counts), "activation": "sigmoid", "name": "probs"}
        return Entry("Dense", units, "one probability per tag")
    if guess.numbers:
        return Entry("Dense", {"units": 1, "name": "value"}, "the predicted number")
    units = {"units": len(counts), "activation": "softmax", "name": "probs"}
    return Entry("Dense", units, "classes")


def train_entries(
    guess: TargetGuess, learning_rate: float, counts: Mapping[str, int]
) -> list[Entry]:
    if guess.classes:
        return classification_train(learning_rate, counts)
    common = [
        Entry("epochs", EPOCHS, "early stopping usually ends the run sooner"),
        Entry("optimizer", {"name": "adam", "learning_rate": learning_rate}),
    ]
    stop = Entry(
        "early_stopping",
        {"monitor": "val_loss", "patience": PATIENCE, "restore_best": True},
        f"stop after {PATIENCE} epochs without improvement",
    )
    if guess.tags:
        return [
            *common,
            Entry("loss", "binary_crossentropy", "each tag present or not"),
            Entry("metrics", ["binary_accuracy", "micro_f1"]),
            stop,
        ]
    return [*common, Entry("loss", "mse"), Entry("metrics", ["mae"]), stop]
