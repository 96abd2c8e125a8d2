"""The ``regression`` target: one or more numbers per example.

``data.label`` names one numeric column or a list of them; the model ends in one linear
unit per column and learns with a regression loss (``mse``, ``mae``, ``huber``, ...).
With ``standardize: true`` each column is trained as ``(value - mean) / std`` (mean and std
of the training rows, recorded in labels.json); ``predict`` and ``evaluate`` undo it, so
their numbers are in the data's own units.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Strict, field_validator

from dlcli.errors import DataError
from dlcli.targets.base import (
    LossCheck,
    Target,
    TargetColumns,
    TargetRecord,
    TargetSpec,
    raise_problems,
)
from dlcli.targets.losses import REGRESSION_LOSSES, loss_family

if TYPE_CHECKING:
    import numpy as np

    from dlcli.targets.scores import RegressionScores

# recipe.spec.Bool, not imported from there: dlcli.recipe imports the targets.
Bool = Annotated[bool, Strict()]
NAME = "regression"
# Cells read as "no value" (as the csv kind reads features): an error, never imputed.
MISSING = frozenset({"", "na", "nan", "n/a", "null", "none", "?"})


class RegressionSpec(TargetSpec):
    type: Literal["regression"] = NAME
    standardize: Bool = False


class RegressionRecord(TargetRecord):
    type: Literal["regression"] = NAME
    columns: list[str]
    mean: list[float] | None = None  # set when standardised
    std: list[float] | None = None

    @field_validator("std")
    @classmethod
    def _positive(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and not all(math.isfinite(v) and v > 0 for v in value):
            raise ValueError("every std must be a finite number > 0")
        return value


class RegressionTarget(Target):
    name = NAME
    spec = RegressionSpec
    record = RegressionRecord
    default_loss = "mean_squared_error"
    default_metrics = ("mae", "rmse")

    def column_count(self, spec: TargetSpec, label: str | list[str]) -> int | None:
        return len(label) if isinstance(label, list) else 1

    def loss_problem(self, check: LossCheck) -> tuple[str, str, str] | None:
        if loss_family(check.loss) not in REGRESSION_LOSSES:
            return (
                "loss",
                f"{check.loss} is not a regression loss (data.target is regression)",
                "use mse, mae or huber",
            )
        if check.activation == "softmax":
            return (
                "layer",
                "a softmax last layer outputs shares that sum to 1, not numbers, but "
                "data.target is regression",
                "use a linear last layer (Dense without activation)",
            )
        return None

    def parse(self, options: TargetSpec | TargetRecord, columns: TargetColumns) -> np.ndarray:
        import numpy as np

        problems = []
        values = np.zeros((len(columns), len(columns.names)), dtype=np.float64)
        for i, row in enumerate(columns.cells):
            for j, cell in enumerate(row):
                text = cell.strip()
                try:
                    value = float(text) if text.lower() not in MISSING else math.nan
                except ValueError:
                    value = None
                if value is None or not math.isfinite(value):
                    problems.append(
                        columns.problem(
                            i,
                            j,
                            f"non-numeric value in target column {columns.names[j]!r}"
                            if value is None
                            else f"missing or non-finite value in target column "
                            f"{columns.names[j]!r}",
                            expected="a finite number",
                            received=cell,
                            has_received=True,
                        )
                    )
                    continue
                values[i, j] = value
        raise_problems(problems)
        return values

    def fit(
        self, spec: TargetSpec, columns: TargetColumns, parsed: Any, rows: Any
    ) -> RegressionRecord:
        import numpy as np

        assert isinstance(spec, RegressionSpec)
        if not spec.standardize:
            return RegressionRecord(columns=list(columns.names))
        train = np.asarray(parsed)[rows]
        mean, std = train.mean(axis=0), train.std(axis=0)
        constant = [n for n, s in zip(columns.names, std.tolist(), strict=True) if s <= 0]
        if constant:
            raise DataError(
                f"target column(s) {constant} hold one value in every training row",
                file=columns.rows[0][0] if columns.rows else None,
                expected="a target that varies",
                hint="there is nothing to learn; drop standardize or check the column",
            )
        return RegressionRecord(columns=list(columns.names), mean=mean.tolist(), std=std.tolist())

    def encode(self, record: TargetRecord, parsed: Any, where: Path) -> np.ndarray:
        import numpy as np

        assert isinstance(record, RegressionRecord)
        y = np.asarray(parsed, dtype=np.float64)
        if record.mean is not None and record.std is not None:
            y = (y - np.asarray(record.mean)) / np.asarray(record.std)
        return y.astype(np.float32)

    def decode(self, record: RegressionRecord, outputs: np.ndarray) -> np.ndarray:
        """Model outputs in the data's units (standardisation undone)."""
        import numpy as np

        out = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
        if record.mean is not None and record.std is not None:
            out = out * np.asarray(record.std) + np.asarray(record.mean)
        return out

    def label_names(self, record: TargetRecord, label_column: str) -> list[str]:
        assert isinstance(record, RegressionRecord)
        return list(record.columns)

    def output_names(self, record: TargetRecord) -> list[str]:
        assert isinstance(record, RegressionRecord)
        return list(record.columns)

    def summary(self, record: TargetRecord, y: np.ndarray) -> list[tuple[str, bool]]:
        import numpy as np

        assert isinstance(record, RegressionRecord)
        raw = self.decode(record, np.asarray(y))
        parts = [
            f"{name} mean {raw[:, j].mean():.4g}, std {raw[:, j].std():.4g}, "
            f"range {raw[:, j].min():.4g}..{raw[:, j].max():.4g}"
            for j, name in enumerate(record.columns)
        ]
        how = "standardised for training" if record.mean is not None else "trained as they are"
        return [(f"regression target(s) ({how}): " + "; ".join(parts), False)]

    def metric(self, name: str, record: TargetRecord, prefix: str) -> Any | None:
        from dlcli.backend import keras

        if name == "rmse":
            return keras.metrics.RootMeanSquaredError(name=prefix + name)
        if name == "r2":
            return keras.metrics.R2Score(name=prefix + name)
        return None

    def prediction_columns(self, record: TargetRecord) -> list[str]:
        assert isinstance(record, RegressionRecord)
        return list(record.columns)

    def prediction_rows(self, record: TargetRecord, outputs: np.ndarray) -> list[dict[str, Any]]:
        assert isinstance(record, RegressionRecord)
        values = self.decode(record, outputs)
        rows = []
        for row in values:
            numbers = {name: float(v) for name, v in zip(record.columns, row, strict=True)}
            cells: dict[str, Any] = {name: f"{v:.6g}" for name, v in numbers.items()}
            cells["json"] = numbers
            rows.append(cells)
        return rows

    def evaluation(self, record: TargetRecord) -> RegressionScores:
        from dlcli.targets.scores import RegressionScores

        assert isinstance(record, RegressionRecord)
        return RegressionScores(record.columns, mean=record.mean, std=record.std)
