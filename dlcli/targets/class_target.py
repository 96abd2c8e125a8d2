"""The ``class`` target (the default): one class per example, named by a label column.

``y`` is the class index into the sorted class names (integers sort numerically); a
``validation_split`` keeps every class on both sides. Losses take class indices
(``sparse_categorical_crossentropy``); a categorical loss (``categorical_crossentropy``,
``categorical_focal_crossentropy``, e.g. for ``label_smoothing``) gets them one-hot in the
training step (:mod:`dlcli.training.losses`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from dlcli.errors import DataError
from dlcli.targets.base import (
    LossCheck,
    Target,
    TargetColumns,
    TargetRecord,
    TargetSpec,
    raise_problems,
)

if TYPE_CHECKING:
    import numpy as np

    from dlcli.targets.scores import ClassAccuracy

NAME = "class"
IMBALANCE_RATIO = 5.0  # a warning above this largest/smallest class ratio
MAX_CLASSES_LISTED = 12


class ClassTargetSpec(TargetSpec):
    type: Literal["class"] = NAME


class ClassRecord(TargetRecord):
    type: Literal["class"] = NAME
    class_names: list[str] = Field(default_factory=list)


def class_sort(values: set[str]) -> list[str]:
    """Integers sort numerically (2 before 10); anything else sorts as text."""
    try:
        return sorted(values, key=int)
    except ValueError:
        return sorted(values)


class ClassTarget(Target):
    name = NAME
    spec = ClassTargetSpec
    record = ClassRecord
    classifies = True
    output_noun = "class"
    default_loss = "sparse_categorical_crossentropy"
    default_metrics = ("accuracy",)

    def label_problem(self, spec: TargetSpec, label: str | list[str]) -> str | None:
        if isinstance(label, list):
            return "a class target reads one label column"
        return None

    def loss_problem(self, check: LossCheck) -> tuple[str, str, str] | None:
        # Any loss that takes class indices trains (one linear unit with mse is a binary
        # model): the loss itself is checked on class indices when training starts.
        return None

    def parse(self, options: TargetSpec | TargetRecord, columns: TargetColumns) -> list[str]:
        problems = []
        values = []
        for i, row in enumerate(columns.cells):
            value = row[0].strip()
            if not value:
                problems.append(
                    columns.problem(
                        i,
                        0,
                        f"missing label in column {columns.names[0]!r}",
                        expected="a class name or integer",
                    )
                )
            values.append(value)
        raise_problems(problems)
        return values

    def fit(self, spec: TargetSpec, columns: TargetColumns, parsed: Any, rows: Any) -> ClassRecord:
        return ClassRecord(class_names=class_sort(set(parsed)))

    def encode(self, record: TargetRecord, parsed: Any, where: Path) -> np.ndarray:
        import numpy as np

        assert isinstance(record, ClassRecord)
        index = {c: i for i, c in enumerate(record.class_names)}
        unknown = sorted(set(parsed) - set(index))
        if unknown:
            raise DataError(
                f"labels not seen in training: {unknown}",
                file=where,
                expected=f"labels from the training data: {record.class_names}",
            )
        return np.asarray([index[v] for v in parsed], dtype=np.int64)

    def split(self, y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        from dlcli.data.bundle import stratified_split

        return stratified_split(y, fraction, seed)

    def output_names(self, record: TargetRecord) -> list[str]:
        assert isinstance(record, ClassRecord)
        return list(record.class_names)

    def example_counts(self, y: np.ndarray, names: int) -> np.ndarray | None:
        import numpy as np

        return np.bincount(np.asarray(y, dtype=np.int64).ravel(), minlength=names)

    def summary(self, record: TargetRecord, y: np.ndarray) -> list[tuple[str, bool]]:
        assert isinstance(record, ClassRecord)
        return class_counts(record.class_names, y)

    # A class model alone is predicted and evaluated by the class paths (top-k, confusion
    # matrix files); these serve a class output among several (``model.outputs``).

    def prediction_columns(self, record: TargetRecord) -> list[str]:
        return ["label", "score"]

    def prediction_rows(self, record: TargetRecord, outputs: np.ndarray) -> list[dict[str, Any]]:
        from dlcli.targets.scores import as_probabilities

        assert isinstance(record, ClassRecord)
        probs = as_probabilities(outputs)
        rows = []
        for row in probs:
            best = int(row.argmax())
            label, score = record.class_names[best], float(row[best])
            rows.append(
                {"label": label, "score": f"{score:.6g}", "json": {"label": label, "score": score}}
            )
        return rows

    def evaluation(self, record: TargetRecord) -> ClassAccuracy:
        from dlcli.targets.scores import ClassAccuracy

        assert isinstance(record, ClassRecord)
        return ClassAccuracy(record.class_names)


def class_counts(class_names: list[str], labels: np.ndarray) -> list[tuple[str, bool]]:
    """Training examples per class, and a warning for a large imbalance."""
    import numpy as np

    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(class_names))
    pairs = [(str(name), int(n)) for name, n in zip(class_names, counts, strict=True)]
    if len(pairs) <= MAX_CLASSES_LISTED:
        listed = ", ".join(f"{name} {n:,}" for name, n in pairs)
    else:
        ordered = sorted(pairs, key=lambda p: p[1])
        few = ", ".join(f"{name} {n:,}" for name, n in ordered[:3])
        many = ", ".join(f"{name} {n:,}" for name, n in ordered[:-4:-1])
        listed = f"fewest: {few}; most: {many}"
    lines = [(f"training examples per class ({len(pairs)} classes): {listed}", False)]
    smallest = min(pairs, key=lambda p: p[1])
    largest = max(pairs, key=lambda p: p[1])
    if smallest[1] > 0 and largest[1] > IMBALANCE_RATIO * smallest[1]:
        ratio = largest[1] / smallest[1]
        lines.append(
            (
                f"imbalanced classes: {largest[0]!r} has {largest[1]:,} training examples, "
                f"{ratio:.1f}x the {smallest[1]:,} of {smallest[0]!r}; accuracy can look good "
                "while the small classes are ignored. Set train.class_weight: balanced (or "
                "weights per class), check per-class results with `dlcli evaluate`, and "
                "collect more examples of the small classes",
                True,
            )
        )
    return lines
