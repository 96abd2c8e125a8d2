"""The contract every target type fulfils: what a model learns to output, and how.

A target is one module under :mod:`dlcli.targets` with one :class:`Target` subclass: its
recipe options (``data.target``), the :class:`TargetRecord` a run keeps in ``labels.json``
(under ``"target"``), how raw label cells become the ``y`` the model trains on, which losses
and last-layer activations fit it, and how its outputs are written by ``predict`` and
scored by ``evaluate``. Data kinds hand their raw label columns to a target
(:class:`TargetColumns`) and keep nothing target-specific themselves.

No TensorFlow here and no NumPy at import (the recipe layer checks targets).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from dlcli.errors import DataError, Problem

if TYPE_CHECKING:
    import numpy as np

    from dlcli.targets.outputs import OutputPart

MAX_PROBLEMS = 20


class TargetSpec(BaseModel):
    """``data.target`` in a recipe: ``type`` and the target's own options."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    type: str


class TargetRecord(BaseModel):
    """What ``labels.json`` keeps about a run's target (``"target": {...}``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str


@dataclass
class TargetColumns:
    """Raw label cells of a table: ``cells[i][j]`` is row ``i``'s cell of ``names[j]``.

    ``rows[i]`` is ``(file, line)`` of row ``i`` and ``positions[j]`` the 1-based column of
    ``names[j]`` in its file, so every bad cell is reported as file:row:column.
    """

    names: list[str]
    cells: list[list[str]]
    rows: list[tuple[str, int]]
    positions: list[int]

    def __len__(self) -> int:
        return len(self.cells)

    @classmethod
    def from_rows(
        cls,
        path: str | Path,
        header: list[str],
        rows: list[list[str]],
        numbers: list[int],
        names: list[str],
    ) -> TargetColumns:
        """The columns ``names`` of a table read as text (``rows[i]`` numbered
        ``numbers[i]``: its line in a CSV file)."""
        idx = [header.index(n) for n in names]
        return cls(
            names=list(names),
            cells=[[row[j] for j in idx] for row in rows],
            rows=[(str(path), int(n)) for n in numbers],
            positions=[j + 1 for j in idx],
        )

    def subset(self, idx: list[int]) -> TargetColumns:
        return TargetColumns(
            self.names, [self.cells[i] for i in idx], [self.rows[i] for i in idx], self.positions
        )

    def problem(self, i: int, j: int, message: str, **kw: Any) -> Problem:
        file, line = self.rows[i]
        return Problem(message, file=file, line=line, column=self.positions[j], **kw)


def raise_problems(problems: list[Problem]) -> None:
    if problems:
        raise DataError(problems=problems[:MAX_PROBLEMS])


@dataclass(frozen=True)
class LossCheck:
    """A loss and last layer a recipe gives, for :meth:`Target.loss_problem`."""

    loss: str
    activation: str | None  # the last layer's activation (None: unknown)
    units: int | None  # the last layer's units (None: unknown)
    from_logits: bool


class Target(ABC):
    """One target type (``class``, ``multi_label``, ``regression``): register an instance."""

    name: ClassVar[str]
    spec: ClassVar[type[TargetSpec]]
    record: ClassVar[type[TargetRecord]]
    classifies: ClassVar[bool] = False  # one class per example: confusion matrix, top-k
    output_noun: ClassVar[str] = "output"  # what one output name is: class, tag
    selectable: ClassVar[bool] = True  # named in recipes (data.target, an output's target)
    default_loss: ClassVar[str]
    default_metrics: ClassVar[tuple[str, ...]]
    # Column names that hold this target's labels when a table's data.label is not set
    # (looked for after the names every target shares: label, labels, class, target, y).
    label_column_names: ClassVar[tuple[str, ...]] = ()

    # --- recipe (no data) ---------------------------------------------------------------

    def column_count(self, spec: TargetSpec, label: str | list[str]) -> int | None:
        """Output units the label columns imply before any data is read (None: unknown)."""
        return None

    def label_field(self, spec: TargetSpec | None, column: str) -> str:
        """The recipe field that names label column ``column`` (for its errors)."""
        return "data.label"

    def label_problem(self, spec: TargetSpec, label: str | list[str]) -> str | None:
        """Why ``data.label`` does not suit this target (None: it does)."""
        return None

    @abstractmethod
    def loss_problem(self, check: LossCheck) -> tuple[str, str, str] | None:
        """``(place, what is wrong, the fix)`` when the loss (place ``"loss"``) or the last
        layer's activation (``"layer"``) cannot learn this target; None when they fit."""

    def weights_class(self) -> bool:
        """Whether ``train.class_weight`` applies (one class per example)."""
        return self.classifies

    def parts(self, record: TargetRecord | None) -> list[OutputPart] | None:
        """The model's outputs when it has several (``model.outputs``), else None."""
        return None

    # --- data ---------------------------------------------------------------------------

    @abstractmethod
    def parse(self, options: TargetSpec | TargetRecord, columns: TargetColumns) -> Any:
        """The cells checked and read (every bad cell a :class:`DataError` at its place);
        ``options``: the recipe's spec in training, the run's record when evaluating."""

    @abstractmethod
    def fit(self, spec: TargetSpec, columns: TargetColumns, parsed: Any, rows: Any) -> TargetRecord:
        """The record learnt from the training file (``rows``: the examples trained on)."""

    @abstractmethod
    def encode(self, record: TargetRecord, parsed: Any, where: Path) -> np.ndarray:
        """``y`` for the model: int64 class indices or float32 rows."""

    def split(self, y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices (train, validation) of a ``validation_split``: a seeded random share."""
        import numpy as np

        rng = np.random.default_rng(seed)
        order = rng.permutation(len(y))
        k = min(max(round(len(y) * fraction), 1), len(y) - 1)
        return np.sort(order[k:]), np.sort(order[:k])

    def split_by(
        self, record: TargetRecord, y: np.ndarray, fraction: float, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`split` knowing the record fitted on every row (several outputs: which
        columns of ``y`` hold classes)."""
        return self.split(y, fraction, seed)

    def label_names(self, record: TargetRecord, label_column: str) -> list[str]:
        """The columns a labelled table holds this target in (``evaluate --data``)."""
        return [label_column]

    @abstractmethod
    def output_names(self, record: TargetRecord) -> list[str]:
        """One name per output unit (labels.json ``class_names``)."""

    @abstractmethod
    def summary(self, record: TargetRecord, y: np.ndarray) -> list[tuple[str, bool]]:
        """Lines said when training starts (counts per class or tag, value ranges);
        ``True`` marks a warning."""

    def example_counts(self, y: np.ndarray, names: int) -> np.ndarray | None:
        """Examples per output name (class or tag) in ``y`` (``names`` of them), as the
        report lists them; None where counting does not apply (numbers, several outputs)."""
        return None

    def metric(self, name: str, record: TargetRecord, prefix: str) -> Any | None:
        """A Keras metric this target names itself (``micro_f1``), else None (Keras'
        own names apply)."""
        return None

    # --- predict and evaluate -----------------------------------------------------------

    def prediction_columns(self, record: TargetRecord) -> list[str]:
        """Columns of a ``predict`` row after ``path`` (before ``model``)."""
        raise NotImplementedError

    def prediction_rows(self, record: TargetRecord, outputs: np.ndarray) -> list[dict[str, Any]]:
        """One mapping per example: CSV cell text under each column, JSON values under
        ``"json"``."""
        raise NotImplementedError

    def output_columns(self, record: TargetRecord, output: str) -> list[str]:
        """``prediction_columns`` as one of several outputs names them: the output's name,
        then ``<output>_<column>`` for the others (``species``, ``species_score``)."""
        own = self.prediction_columns(record)
        if len(own) == 1:
            return [output]
        return [output, *(f"{output}_{c}" for c in own[1:])]

    def evaluation(self, record: TargetRecord) -> Any:
        """A streaming scorer: ``update(y_true, outputs)``, ``result() -> dict``."""
        raise NotImplementedError

    def truth(self, record: TargetRecord, columns: TargetColumns, where: Path) -> np.ndarray:
        """``y`` of labelled data read for ``evaluate`` (same encoding as training)."""
        return self.encode(record, self.parse(record, columns), where)
