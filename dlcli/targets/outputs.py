"""Several outputs (``model.outputs``): one target per named output of the model graph.

Each output names a layer, its label column(s) and its own target (``class``,
``multi_label``, ``regression``, with options), loss (with arguments), loss weight and
metrics. The recipe loader turns ``model.outputs`` into an :class:`OutputsSpec` (this
module's target, ``type: outputs``), so a data kind reads every output's label columns
as it reads one target's, and each output's target parses, fits and encodes its own
columns. Arrays that pass through code written for one target are *packed*: ``y`` holds
every output's encoded columns side by side (a class index as one float column) and a
model's outputs are concatenated, both in output-name order (what Keras does with a dict
of outputs); :meth:`OutputsTarget.parts` says where each output's columns are, and the
training step and ``predict``/``evaluate`` unpack them.

No TensorFlow here and no NumPy at import.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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

NAME = "outputs"


def _target_spec(value: Any) -> TargetSpec:
    """An output's ``target``: a name or a mapping with ``type`` and its options."""
    from dlcli.targets import get_target

    if isinstance(value, TargetSpec):
        return value
    raw = {"type": value} if isinstance(value, str) else value
    if not isinstance(raw, dict):
        raise ValueError("expected a target name or a mapping with type")
    kind = raw.get("type")
    if kind == NAME or not isinstance(kind, str):
        raise ValueError("expected class, multi_label or regression")
    return get_target(kind).spec.model_validate(raw)


class OutputSpec(BaseModel):
    """One entry of ``model.outputs`` (the loss and metrics default to the target's)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    layer: str
    label: list[str]
    target: TargetSpec
    loss: str
    loss_args: dict[str, Any] = Field(default_factory=dict)
    loss_weight: float = Field(default=1.0, ge=0.0)
    metrics: list[str] = Field(default_factory=list)

    @field_validator("target", mode="before")
    @classmethod
    def _target(cls, value: Any) -> TargetSpec:
        return _target_spec(value)


class OutputsSpec(TargetSpec):
    """``data.target`` as the loader sets it from ``model.outputs`` (name -> output)."""

    type: Literal["outputs"] = NAME
    outputs: dict[str, OutputSpec]


class OutputPartRecord(BaseModel):
    """What ``labels.json`` keeps about one output: its layer, label columns, the target's
    own record, and how it was trained."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    layer: str
    label: list[str]
    target: dict[str, Any]
    loss: str
    loss_args: dict[str, Any] = Field(default_factory=dict)
    loss_weight: float = 1.0
    metrics: list[str] = Field(default_factory=list)


class OutputsRecord(TargetRecord):
    type: Literal["outputs"] = NAME
    outputs: list[OutputPartRecord]  # in output-name order: the packing order


@dataclass(frozen=True)
class OutputPart:
    """One output with its target resolved and its place in the packed arrays."""

    name: str
    layer: str
    target: Target
    record: TargetRecord
    loss: str
    loss_args: dict[str, Any]
    loss_weight: float
    metrics: list[str]
    y_columns: tuple[int, int]  # [start, end) in the packed y
    out_columns: tuple[int, int]  # [start, end) in the packed model outputs

    @property
    def integer(self) -> bool:
        """``y`` is a class index (one column), not float rows."""
        return self.target.classifies


def _columns_of(columns: TargetColumns, names: list[str]) -> TargetColumns:
    idx = [columns.names.index(n) for n in names]
    return TargetColumns(
        names=list(names),
        cells=[[row[j] for j in idx] for row in columns.cells],
        rows=columns.rows,
        positions=[columns.positions[j] for j in idx],
    )


def _part_spec(options: TargetSpec | TargetRecord, name: str) -> TargetSpec | TargetRecord:
    if isinstance(options, OutputsSpec):
        return options.outputs[name].target
    assert isinstance(options, OutputsRecord)
    return next(p for p in parts_of(options) if p.name == name).record


def parts_of(record: OutputsRecord) -> list[OutputPart]:
    """Every output with its target, record and packed column ranges."""
    from dlcli.targets import get_target

    parts = []
    y_at = out_at = 0
    for p in record.outputs:
        target = get_target(p.target.get("type"), field=f"outputs.{p.name}.target")
        rec = target.record.model_validate(p.target)
        width = len(target.output_names(rec))
        y_width = 1 if target.classifies else width
        parts.append(
            OutputPart(
                name=p.name,
                layer=p.layer,
                target=target,
                record=rec,
                loss=p.loss,
                loss_args=dict(p.loss_args),
                loss_weight=float(p.loss_weight),
                metrics=list(p.metrics),
                y_columns=(y_at, y_at + y_width),
                out_columns=(out_at, out_at + width),
            )
        )
        y_at += y_width
        out_at += width
    return parts


def output_column_names(part: OutputPart) -> list[str]:
    """``predict``'s columns of one output: the target's own columns named after it."""
    return part.target.output_columns(part.record, part.name)


class OutputsTarget(Target):
    name = NAME
    spec = OutputsSpec
    record = OutputsRecord
    classifies = False
    selectable = False  # set by the recipe loader from model.outputs, never written
    default_loss = "mse"  # never used: every output has its own loss
    default_metrics = ()

    def label_field(self, spec: TargetSpec | None, column: str) -> str:
        assert isinstance(spec, OutputsSpec)
        owner = next(name for name, o in spec.outputs.items() if column in o.label)
        return f"model.outputs.{owner}.label"

    def label_problem(self, spec: TargetSpec, label: str | list[str]) -> str | None:
        return None  # each output's label is checked against its own target by the loader

    def loss_problem(self, check: LossCheck) -> tuple[str, str, str] | None:
        return None  # checked per output by the loader

    def weights_class(self) -> bool:
        return False

    def parts(self, record: TargetRecord | None) -> list[OutputPart] | None:
        assert isinstance(record, OutputsRecord)
        return parts_of(record)

    # --- data ---------------------------------------------------------------------------

    def parse(self, options: TargetSpec | TargetRecord, columns: TargetColumns) -> Any:
        from dlcli.errors import DataError

        parsed: dict[str, Any] = {}
        problems = []
        for name, label in _labels(options).items():
            target = _target_of(_part_spec(options, name))
            try:
                parsed[name] = target.parse(_part_spec(options, name), _columns_of(columns, label))
            except DataError as exc:
                problems.extend(exc.problems)
        raise_problems(problems)
        return parsed

    def fit(
        self, spec: TargetSpec, columns: TargetColumns, parsed: Any, rows: Any
    ) -> OutputsRecord:
        assert isinstance(spec, OutputsSpec)
        out = []
        for name in sorted(spec.outputs):
            o = spec.outputs[name]
            target = _target_of(o.target)
            rec = target.fit(o.target, _columns_of(columns, o.label), parsed[name], rows)
            out.append(
                OutputPartRecord(
                    name=name,
                    layer=o.layer,
                    label=list(o.label),
                    target=rec.model_dump(mode="json", exclude_none=True),
                    loss=o.loss,
                    loss_args=dict(o.loss_args),
                    loss_weight=o.loss_weight,
                    metrics=list(o.metrics),
                )
            )
        return OutputsRecord(outputs=out)

    def encode(self, record: TargetRecord, parsed: Any, where: Path) -> np.ndarray:
        import numpy as np

        assert isinstance(record, OutputsRecord)
        blocks = []
        for part in parts_of(record):
            y = part.target.encode(part.record, parsed[part.name], where)
            blocks.append(np.asarray(y, dtype=np.float32).reshape(len(y), -1))
        return np.concatenate(blocks, axis=1)

    def split_by(
        self, record: TargetRecord, y: np.ndarray, fraction: float, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stratified by the first class output (every class on both sides), else random."""
        for p in parts_of(_rec(record)):
            if p.integer:
                return p.target.split(y[:, p.y_columns[0]].astype("int64"), fraction, seed)
        return self.split(y, fraction, seed)

    def label_names(self, record: TargetRecord, label_column: str) -> list[str]:
        assert isinstance(record, OutputsRecord)
        return [c for p in record.outputs for c in p.label]

    def output_names(self, record: TargetRecord) -> list[str]:
        return [
            f"{p.name}:{n}" for p in parts_of(_rec(record)) for n in p.target.output_names(p.record)
        ]

    def summary(self, record: TargetRecord, y: np.ndarray) -> list[tuple[str, bool]]:
        lines: list[tuple[str, bool]] = []
        for p in parts_of(_rec(record)):
            a, b = p.y_columns
            part_y = y[:, a] if p.integer else y[:, a:b]
            for text, warn in p.target.summary(p.record, part_y):
                lines.append((f"output {p.name!r}: {text}", warn))
        return lines

    # --- predict and evaluate -----------------------------------------------------------

    def prediction_columns(self, record: TargetRecord) -> list[str]:
        return [c for p in parts_of(_rec(record)) for c in output_column_names(p)]

    def prediction_rows(self, record: TargetRecord, outputs: np.ndarray) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = [{"json": {}} for _ in range(len(outputs))]
        for p in parts_of(_rec(record)):
            a, b = p.out_columns
            own = p.target.prediction_columns(p.record)
            named = output_column_names(p)
            cells_of = p.target.prediction_rows(p.record, outputs[:, a:b])
            for row, cells in zip(rows, cells_of, strict=True):
                for src, dst in zip(own, named, strict=True):
                    row[dst] = cells[src]
                row["json"][p.name] = cells["json"]
        return rows

    def evaluation(self, record: TargetRecord) -> OutputsScores:
        return OutputsScores(parts_of(_rec(record)))


class OutputsScores:
    """Each output's own scorer, fed its columns of the packed truth and outputs."""

    def __init__(self, parts: list[OutputPart]) -> None:
        self.parts = parts
        self.scorers = {p.name: p.target.evaluation(p.record) for p in parts}
        self.count = 0

    def update(self, y_true: np.ndarray, outputs: np.ndarray) -> None:
        for p in self.parts:
            (ya, yb), (oa, ob) = p.y_columns, p.out_columns
            truth = y_true[:, ya].astype("int64") if p.integer else y_true[:, ya:yb]
            self.scorers[p.name].update(truth, outputs[:, oa:ob])
        self.count += len(y_true)

    def output_pairs(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(true, predicted) of each output whose scorer keeps them (regression)."""
        return {
            name: scorer.pairs()
            for name, scorer in self.scorers.items()
            if hasattr(scorer, "pairs")
        }

    def result(self) -> dict[str, Any]:
        outputs = {}
        for p in self.parts:
            outputs[p.name] = {"target": p.target.name, **self.scorers[p.name].result()}
        return {"num_samples": self.count, "outputs": outputs}


def _rec(record: TargetRecord) -> OutputsRecord:
    assert isinstance(record, OutputsRecord)
    return record


def _target_of(options: TargetSpec | TargetRecord) -> Target:
    from dlcli.targets import target_of

    return target_of(options)


def _labels(options: TargetSpec | TargetRecord) -> dict[str, list[str]]:
    if isinstance(options, OutputsSpec):
        return {name: list(o.label) for name, o in options.outputs.items()}
    assert isinstance(options, OutputsRecord)
    return {p.name: list(p.label) for p in options.outputs}
