"""CSV files (the csv data kind) -> a :class:`DataBundle` of float32 feature rows.

Every problem names the file, the line (1-based, as editors show it, header = line 1) and
the column. Missing values are errors, not silently imputed: the user decides how to fill
them.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.data.bundle import ArraySplit, DataBundle
from dlcli.data.kinds.csv_kind import CsvPreprocessing
from dlcli.errors import DataError, Problem
from dlcli.targets import TargetColumns, label_columns, target_of
from dlcli.targets.class_target import ClassTargetSpec
from dlcli.targets.reading import encode_target, fit_target, read_weights

MISSING = frozenset({"", "na", "nan", "n/a", "null", "none", "?"})
MAX_PROBLEMS = 20


@dataclass
class CsvRows:
    """A CSV file read: float32 features, the label columns' raw cells (for a target to
    read: ``None`` when the file was read without labels) and row sources ``file:line``."""

    features: list[str]
    x: np.ndarray
    labels: TargetColumns | None
    weights: TargetColumns | None
    sources: list[str]


def read_csv(
    path: Path,
    label: str | list[str] | None,
    features: list[str] | None,
    *,
    weight: str | None = None,
) -> CsvRows:
    """Features as float32 (every bad cell named by file, line and column), the raw cells
    of the ``label`` column(s) and of the ``weight`` column; ``label=None``: features only
    (``predict``), the label columns need not be there."""
    if not path.exists():
        raise DataError("CSV file not found", file=path, expected="an existing .csv file")
    if path.is_dir():
        raise DataError("expected a CSV file, got a folder", file=path)
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"cannot read CSV file ({exc.strerror})", file=path) from None
    with fh:
        try:
            fh.read(65536)  # fail early on binary files
        except UnicodeDecodeError:
            raise DataError("CSV file is not UTF-8 text", file=path) from None
        fh.seek(0)
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError("CSV file is empty", file=path, expected="a header row") from None
        except csv.Error as exc:
            raise DataError(f"malformed CSV: {exc}", file=path, line=1) from None

        header = [h.strip() for h in header]
        repeated = sorted({h for h in header if header.count(h) > 1})
        if repeated:
            raise DataError(
                f"repeated column name(s) in the header: {repeated}",
                file=path,
                line=1,
                expected="one column per name",
                hint="rename the repeated columns",
            )
        labels = label_columns(label) if label is not None else []
        others = labels + ([weight] if weight else [])
        for name in others:
            if name not in header:
                what = "sample weight" if name == weight else "label"
                raise DataError(
                    f"{what} column {name!r} not found",
                    file=path,
                    line=1,
                    expected=f"one of the header columns: {header}",
                    hint=f"set data.{'sample_weight' if name == weight else 'label'} to a "
                    "column of the table",
                )
        if features is None:
            features = [h for h in header if h not in others]
        else:
            taken = [f for f in features if f in others]
            if taken:
                raise DataError(
                    f"the label or weight column {taken[0]!r} is also listed as a feature",
                    file=path,
                    field="data.features",
                    expected="feature columns other than the label and weight columns",
                )
            unknown = [f for f in features if f not in header]
            if unknown:
                raise DataError(
                    f"feature columns not in the header: {unknown}",
                    file=path,
                    line=1,
                    field="data.features",
                    expected=f"names from the header: {header}",
                )
        if not features:
            raise DataError(
                "no feature columns",
                file=path,
                line=1,
                expected="at least one column besides the label",
            )
        col = {name: header.index(name) for name in header}
        fidx = [col[f] for f in features]
        rows: list[list[float]] = []
        kept: list[list[str]] = []
        numbers: list[int] = []
        sources: list[str] = []
        problems: list[Problem] = []
        try:
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue  # blank line
                if len(row) != len(header):
                    problems.append(
                        Problem(
                            f"row has {len(row)} cells",
                            file=path,
                            line=line,
                            expected=f"{len(header)} cells like the header",
                        )
                    )
                    continue
                values: list[float] = []
                for name, j in zip(features, fidx, strict=True):
                    cell = row[j].strip()
                    if cell.lower() in MISSING:
                        problems.append(
                            Problem(
                                f"missing value in column {name!r}",
                                file=path,
                                line=line,
                                column=j + 1,
                                expected="a number",
                                hint="fill or drop missing values before training",
                            )
                        )
                        continue
                    try:
                        v = float(cell)
                    except ValueError:
                        problems.append(
                            Problem(
                                f"non-numeric value in column {name!r}",
                                file=path,
                                line=line,
                                column=j + 1,
                                expected="a number",
                                received=cell,
                                has_received=True,
                            )
                        )
                        continue
                    if not math.isfinite(v):
                        problems.append(
                            Problem(
                                f"non-finite value in column {name!r}",
                                file=path,
                                line=line,
                                column=j + 1,
                                expected="a finite number",
                                received=cell,
                                has_received=True,
                            )
                        )
                        continue
                    values.append(v)
                if len(values) == len(features):
                    rows.append(values)
                    kept.append(row)
                    numbers.append(line)
                    sources.append(f"{path}:{line}")
                if len(problems) >= MAX_PROBLEMS:
                    break
        except csv.Error as exc:
            problems.append(Problem(f"malformed CSV: {exc}", file=path, line=reader.line_num))
        except UnicodeDecodeError:
            problems.append(Problem("CSV file is not UTF-8 text", file=path, line=reader.line_num))
        if problems:
            raise DataError(problems=problems)
    if not rows:
        raise DataError("CSV file has a header but no data rows", file=path)
    return CsvRows(
        features=features,
        x=np.asarray(rows, dtype=np.float32),
        labels=TargetColumns.from_rows(path, header, kept, numbers, labels) if labels else None,
        weights=TargetColumns.from_rows(path, header, kept, numbers, [weight]) if weight else None,
        sources=sources,
    )


def load_csv_bundle(spec: Any, *, seed: int) -> DataBundle:
    """The training (and validation) rows of a csv section, ``y`` read by its target."""
    label = getattr(spec, "label", "label") or "label"
    target_spec = getattr(spec, "target", None) or ClassTargetSpec()
    weight = getattr(spec, "sample_weight", None)
    train_path = Path(spec.train)
    rows = read_csv(train_path, label, getattr(spec, "features", None), weight=weight)
    assert rows.labels is not None
    split = getattr(spec, "validation_split", None)
    fitted = fit_target(target_spec, rows.labels, train_path, split=split, seed=seed)
    weights = read_weights(rows.weights) if rows.weights is not None else None
    train = ArraySplit(y=fitted.y, sources=rows.sources, x=rows.x, weight=weights)
    val: ArraySplit | None = None
    if fitted.validation_rows is not None:
        train, val = train.subset(fitted.train_rows), train.subset(fitted.validation_rows)
        val.weight = None  # weights shape the training loss; validation scores every row
    val_path = Path(spec.validation) if getattr(spec, "validation", None) else None
    if val_path is not None:
        vrows = read_csv(val_path, label, rows.features, weight=weight)
        assert vrows.labels is not None
        vy = encode_target(fitted.record, target_spec, vrows.labels, val_path)
        val = ArraySplit(y=vy, sources=vrows.sources, x=vrows.x)
    return DataBundle(
        class_names=target_of(fitted.record).output_names(fitted.record),
        input_shape=(len(rows.features),),
        train=train,
        validation=val,
        preprocessing=CsvPreprocessing(
            feature_columns=rows.features, label_column=label_columns(label)[0]
        ),
        skipped=[],
        seed=seed,
        shuffle=bool(getattr(spec, "shuffle", True)),
        augment=list(getattr(spec, "augment", None) or []),
        batch_size=int(getattr(spec, "batch_size", 32) or 32),
        target=fitted.record,
    )
