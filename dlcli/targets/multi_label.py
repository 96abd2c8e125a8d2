"""The ``multi_label`` target: any number of tags per example.

Tags come from one column of separator-joined names (``cat|outdoor``, ``sep`` default
``|``) or from one 0/1 column per tag (``data.label: [cat, dog, outdoor]``). ``y`` is one
0/1 float per tag; the model ends in one sigmoid unit per tag and learns with binary
cross-entropy (or binary focal cross-entropy). A tag is predicted when its probability
reaches ``threshold`` (default 0.5, recorded in labels.json and used by ``predict``).
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
from dlcli.targets.class_target import MAX_CLASSES_LISTED, class_sort
from dlcli.targets.losses import MULTI_LABEL_LOSSES, loss_family

if TYPE_CHECKING:
    import numpy as np

    from dlcli.targets.scores import MultiLabelScores

NAME = "multi_label"
_ONES = frozenset({"1", "1.0", "true"})
_ZEROS = frozenset({"0", "0.0", "false"})


class MultiLabelSpec(TargetSpec):
    type: Literal["multi_label"] = NAME
    sep: str = Field(default="|", min_length=1)
    threshold: float = Field(default=0.5, gt=0.0, lt=1.0)


class MultiLabelRecord(TargetRecord):
    type: Literal["multi_label"] = NAME
    tags: list[str]
    threshold: float = Field(gt=0.0, lt=1.0)
    sep: str = "|"
    tag_columns: bool = False  # one 0/1 column per tag (named after the tags)


class MultiLabelTarget(Target):
    name = NAME
    spec = MultiLabelSpec
    record = MultiLabelRecord
    output_noun = "tag"
    default_loss = "binary_crossentropy"
    default_metrics = ("binary_accuracy", "micro_f1")
    label_column_names = ("tags",)  # the Kaggle-style image_name,tags manifest

    def column_count(self, spec: TargetSpec, label: str | list[str]) -> int | None:
        return len(label) if isinstance(label, list) else None

    def label_problem(self, spec: TargetSpec, label: str | list[str]) -> str | None:
        if isinstance(label, list) and len(label) < 2:
            return "0/1 tag columns: list two tags at least (or one column of joined tags)"
        return None

    def loss_problem(self, check: LossCheck) -> tuple[str, str, str] | None:
        if loss_family(check.loss) not in MULTI_LABEL_LOSSES:
            return (
                "loss",
                f"{check.loss} does not learn independent tags (data.target is multi_label)",
                "use binary_crossentropy (or binary_focal_crossentropy) with one sigmoid unit "
                "per tag",
            )
        if check.activation == "softmax":
            return (
                "layer",
                "a softmax last layer makes the tags compete for one share, but data.target "
                "is multi_label",
                "use activation: sigmoid on the last layer (one independent probability per tag)",
            )
        if check.activation not in (None, "sigmoid"):
            return (
                "layer",
                f"the last layer's activation is {check.activation}, but multi_label needs "
                "probabilities",
                "use activation: sigmoid on the last layer",
            )
        return None

    def parse(self, options: TargetSpec | TargetRecord, columns: TargetColumns) -> list[frozenset]:
        if len(columns.names) > 1:
            return self._parse_columns(columns)
        sep = str(getattr(options, "sep", "|"))
        problems = []
        parsed: list[frozenset] = []
        for i, row in enumerate(columns.cells):
            tags = [t.strip() for t in row[0].split(sep)]
            if any(not t for t in tags):
                problems.append(
                    columns.problem(
                        i,
                        0,
                        f"empty tag in column {columns.names[0]!r}",
                        expected=f"tag names joined by {sep!r}, none empty",
                        received=row[0],
                        has_received=True,
                        hint="write a tag such as 'none' for an example without tags",
                    )
                )
            parsed.append(frozenset(tags))
        raise_problems(problems)
        return parsed

    def _parse_columns(self, columns: TargetColumns) -> list[frozenset]:
        problems = []
        parsed: list[frozenset] = []
        for i, row in enumerate(columns.cells):
            tags = set()
            for j, cell in enumerate(row):
                value = cell.strip().lower()
                if value in _ONES:
                    tags.add(columns.names[j])
                elif value not in _ZEROS:
                    problems.append(
                        columns.problem(
                            i,
                            j,
                            f"bad value in tag column {columns.names[j]!r}",
                            expected="0 or 1",
                            received=cell,
                            has_received=True,
                        )
                    )
            parsed.append(frozenset(tags))
        raise_problems(problems)
        return parsed

    def fit(
        self, spec: TargetSpec, columns: TargetColumns, parsed: Any, rows: Any
    ) -> MultiLabelRecord:
        assert isinstance(spec, MultiLabelSpec)
        if len(columns.names) > 1:
            tags, by_column = list(columns.names), True
        else:
            tags, by_column = class_sort(set().union(*parsed)), False
        return MultiLabelRecord(
            tags=tags, threshold=spec.threshold, sep=spec.sep, tag_columns=by_column
        )

    def encode(self, record: TargetRecord, parsed: Any, where: Path) -> np.ndarray:
        import numpy as np

        assert isinstance(record, MultiLabelRecord)
        index = {t: i for i, t in enumerate(record.tags)}
        unknown = sorted(set().union(*parsed) - set(index)) if parsed else []
        if unknown:
            raise DataError(
                f"tags not seen in training: {unknown}",
                file=where,
                expected=f"tags from the training data: {record.tags}",
            )
        y = np.zeros((len(parsed), len(record.tags)), dtype=np.float32)
        for i, tags in enumerate(parsed):
            y[i, [index[t] for t in tags]] = 1.0
        return y

    def label_names(self, record: TargetRecord, label_column: str) -> list[str]:
        assert isinstance(record, MultiLabelRecord)
        return list(record.tags) if record.tag_columns else [label_column]

    def output_names(self, record: TargetRecord) -> list[str]:
        assert isinstance(record, MultiLabelRecord)
        return list(record.tags)

    def example_counts(self, y: np.ndarray, names: int) -> np.ndarray | None:
        return _tag_counts(y, names)

    def summary(self, record: TargetRecord, y: np.ndarray) -> list[tuple[str, bool]]:
        import numpy as np

        assert isinstance(record, MultiLabelRecord)
        counts = _tag_counts(y, len(record.tags))
        pairs = list(zip(record.tags, counts.tolist(), strict=True))
        if len(pairs) > MAX_CLASSES_LISTED:
            pairs = sorted(pairs, key=lambda p: p[1])
            pairs = pairs[:3] + pairs[-3:]
        listed = ", ".join(f"{t} {n:,}" for t, n in pairs)
        mean = float(np.asarray(y).sum(axis=1).mean()) if len(y) else 0.0
        lines = [
            (
                f"training examples per tag ({len(record.tags)} tags, {mean:.2f} per example, "
                f"threshold {record.threshold:g}): {listed}",
                False,
            )
        ]
        never = [t for t, n in zip(record.tags, counts.tolist(), strict=True) if n == 0]
        if never:
            lines.append((f"tags with no training example: {never}", True))
        return lines

    def metric(self, name: str, record: TargetRecord, prefix: str) -> Any | None:
        from dlcli.backend import keras

        assert isinstance(record, MultiLabelRecord)
        if name in ("micro_f1", "macro_f1"):
            average = name.split("_")[0]
            return keras.metrics.F1Score(
                average=average, threshold=record.threshold, name=prefix + name
            )
        if name in ("binary_accuracy", "accuracy"):
            return keras.metrics.BinaryAccuracy(threshold=record.threshold, name=prefix + name)
        return None

    def prediction_columns(self, record: TargetRecord) -> list[str]:
        return ["tags", "scores"]

    def output_columns(self, record: TargetRecord, output: str) -> list[str]:
        return [output, f"{output}_scores"]

    def prediction_rows(self, record: TargetRecord, outputs: np.ndarray) -> list[dict[str, Any]]:
        import numpy as np

        assert isinstance(record, MultiLabelRecord)
        rows = []
        for probs in np.asarray(outputs, dtype=np.float64):
            order = np.argsort(-probs, kind="stable")
            chosen = [record.tags[i] for i in order if probs[i] >= record.threshold]
            scores = {record.tags[i]: round(float(probs[i]), 6) for i in order}
            rows.append(
                {
                    "tags": record.sep.join(chosen),
                    "scores": ";".join(f"{t}:{p:.6f}" for t, p in scores.items()),
                    "json": {"tags": chosen, "scores": scores},
                }
            )
        return rows

    def evaluation(self, record: TargetRecord) -> MultiLabelScores:
        from dlcli.targets.scores import MultiLabelScores

        assert isinstance(record, MultiLabelRecord)
        return MultiLabelScores(record.tags, record.threshold)


def _tag_counts(y: np.ndarray, tags: int) -> np.ndarray:
    """Examples holding each tag: the column sums of ``y``'s 0/1 rows (``tags`` wide)."""
    import numpy as np

    rows = np.asarray(y, dtype=np.float64).reshape(-1, tags)
    return rows.sum(axis=0).round().astype(np.int64)
