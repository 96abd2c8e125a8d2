"""The ``train:`` section of a starter recipe, by target type, and the class-count findings
shared by every class-folder starter."""

from __future__ import annotations

from collections.abc import Mapping

from dlcli.starter.base import Entry, Finding
from dlcli.starter.labels import IMBALANCE, imbalance

EPOCHS = 30
PATIENCE = 5


def class_weight_supported() -> bool:
    """Whether this dlcli's recipes take ``train.class_weight``."""
    from dlcli.recipe.spec import TrainSpec

    return "class_weight" in TrainSpec.model_fields


def classification_train(learning_rate: float, counts: Mapping[str, int]) -> list[Entry]:
    """Softmax classification: cross-entropy, accuracy, early stopping on val_loss, the
    best epoch by val_accuracy, and balanced class weights when the classes are not."""
    entries = [
        Entry("epochs", EPOCHS, "early stopping usually ends the run sooner"),
        Entry("optimizer", {"name": "adam", "learning_rate": learning_rate}),
        Entry("loss", "sparse_categorical_crossentropy", "one class per example"),
        Entry("metrics", ["accuracy"]),
        Entry("lr_schedule", {"kind": "cosine"}, "the learning rate falls along a cosine"),
        Entry(
            "early_stopping",
            {"monitor": "val_loss", "patience": PATIENCE, "restore_best": True},
            f"stop after {PATIENCE} epochs without improvement",
        ),
        Entry("checkpoint", {"monitor": "val_accuracy"}, "best.keras: the best epoch"),
    ]
    ratio = imbalance(counts)
    if ratio >= IMBALANCE and class_weight_supported():
        entries.append(Entry("class_weight", "balanced", f"classes are imbalanced ({ratio:.1f}:1)"))
    return entries


def imbalance_advice(counts: Mapping[str, int]) -> list[Finding]:
    """What the recipe does about an imbalance (class weights), when there is one."""
    ratio = imbalance(counts)
    if ratio < IMBALANCE:
        return []
    if class_weight_supported():
        why = "train.class_weight: balanced weighs each class by 1 / its share"
        return [Finding("class weights", "balanced", why)]
    why = "this dlcli has no train.class_weight: consider collecting or resampling data"
    return [Finding("class weights", "not set", why, warning=True)]
