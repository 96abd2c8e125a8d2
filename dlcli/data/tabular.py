"""CSV files (the csv data kind) -> a :class:`DataBundle` of float32 feature rows.

Every problem names the file, the line (1-based, as editors show it, header = line 1) and
the column. Missing values are errors, not silently imputed: the user decides how to fill
them.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.data.bundle import ArraySplit, DataBundle, stratified_split
from dlcli.data.kinds.csv_kind import CsvPreprocessing
from dlcli.errors import DataError, Problem

MISSING = frozenset({"", "na", "nan", "n/a", "null", "none", "?"})
MAX_PROBLEMS = 20


def _class_sort_key(values: set[str]) -> list[str]:
    """Integers sort numerically (2 before 10); anything else sorts as text."""
    try:
        return sorted(values, key=int)
    except ValueError:
        return sorted(values)


def read_csv(
    path: Path, label: str, features: list[str] | None
) -> tuple[list[str], np.ndarray, list[str], list[str]]:
    """(feature names, float32 X, raw labels, row sources ``file:line``)."""
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
        if label not in header:
            raise DataError(
                f"label column {label!r} not found",
                file=path,
                line=1,
                expected=f"one of the header columns: {header}",
                hint="set data.label to the column holding the class",
            )
        if features is None:
            features = [h for h in header if h != label]
        else:
            if label in features:
                raise DataError(
                    f"the label column {label!r} is also listed as a feature",
                    file=path,
                    field="data.features",
                    expected="feature columns other than the label",
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
        lidx = col[label]
        rows: list[list[float]] = []
        labels: list[str] = []
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
                lab = row[lidx].strip()
                if not lab:
                    problems.append(
                        Problem(
                            f"missing label in column {label!r}",
                            file=path,
                            line=line,
                            column=lidx + 1,
                            expected="a class name or integer",
                        )
                    )
                    continue
                if len(values) == len(features):
                    rows.append(values)
                    labels.append(lab)
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
    return features, np.asarray(rows, dtype=np.float32), labels, sources


def load_csv_bundle(spec: Any, *, seed: int) -> DataBundle:
    label = getattr(spec, "label", "label") or "label"
    features = getattr(spec, "features", None)
    train_path = Path(spec.train)
    names, x, raw, sources = read_csv(train_path, label, features)
    val_path = Path(spec.validation) if getattr(spec, "validation", None) else None
    val = None
    if val_path is not None:
        _, vx, vraw, vsources = read_csv(val_path, label, names)
        unknown = sorted(set(vraw) - set(raw))
        if unknown:
            raise DataError(
                f"validation labels not seen in training: {unknown}",
                file=val_path,
                field=label,
                expected=f"labels from {train_path}: {_class_sort_key(set(raw))}",
            )
    class_names = _class_sort_key(set(raw))
    index = {c: i for i, c in enumerate(class_names)}
    train = ArraySplit(y=np.asarray([index[v] for v in raw], np.int64), sources=sources, x=x)
    if val_path is not None:
        val = ArraySplit(y=np.asarray([index[v] for v in vraw], np.int64), sources=vsources, x=vx)
    split = getattr(spec, "validation_split", None)
    if split:
        tr, va = stratified_split(train.y, float(split), seed)
        train, val = train.subset(tr), train.subset(va)
    return DataBundle(
        class_names=class_names,
        input_shape=(len(names),),
        train=train,
        validation=val,
        preprocessing=CsvPreprocessing(feature_columns=names, label_column=label),
        skipped=[],
        seed=seed,
        shuffle=bool(getattr(spec, "shuffle", True)),
        augment=list(getattr(spec, "augment", None) or []),
        batch_size=int(getattr(spec, "batch_size", 32) or 32),
    )
