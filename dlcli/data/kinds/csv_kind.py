"""The ``csv`` kind: a table with one row per example, numeric feature columns and a label.

Training reads it through :func:`dlcli.data.tabular.read_csv` (every problem names file,
line and column); ``evaluate --data FILE.csv`` and the export parity check read rows the
same way, with the run's feature and label columns.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from dlcli.data.kinds.base import (
    DataKind,
    LabelledArrays,
    LabelledData,
    Preprocessing,
    SampleInputs,
    Shape,
    class_index,
    recorded_data,
)
from dlcli.errors import DataError, UsageError
from dlcli.recipe.spec import DataSection
from dlcli.targets import TargetFields, TargetRecord, label_columns, target_of
from dlcli.targets.class_target import ClassTarget, ClassTargetSpec

if TYPE_CHECKING:
    from dlcli.data.bundle import DataBundle
    from dlcli.data.decode import DecodedBatch
    from dlcli.data.listing import SkippedFile

NAME = "csv"


class CsvData(DataSection, TargetFields):
    """``data:`` for a CSV table: ``label`` names the label column(s) and ``target`` what
    they hold (:mod:`dlcli.targets`), ``features`` the inputs (default: every other column
    but ``sample_weight``)."""

    kind: Literal["csv"] = NAME
    features: list[str] | None = None


class CsvPreprocessing(Preprocessing):
    """The feature columns in model-input order and the label column; ``num_features``
    alone for a bare model whose column names are unknown."""

    kind: Literal["csv"] = NAME
    feature_columns: list[str] | None = None
    label_column: str = "label"
    num_features: int | None = Field(default=None, ge=1)


class CsvKind(DataKind):
    name = NAME
    section = CsvData
    preprocessing = CsvPreprocessing
    inputs = "a CSV file"
    input_noun = "CSV files"
    item_noun = "row"
    item_unit = "rows"

    def describe(self, section: DataSection) -> str:
        assert isinstance(section, CsvData)
        labels = label_columns(section.label)
        text = f"label column {labels[0]!r}" if len(labels) == 1 else f"label columns {labels}"
        if not target_of(section.target).classifies:
            text += f", target {section.target.type}"
        if section.sample_weight:
            text += f", sample weights {section.sample_weight!r}"
        return f"csv ({text})"

    def section_values(self, values: dict[str, Any]) -> dict[str, Any]:
        if isinstance(values.get("features"), str):
            values["features"] = [values["features"]]
        return values

    def input_shape(self, section: DataSection) -> Shape | None:
        """``(features,)``: ``data.features`` when listed, else every column of the CSV
        header but the label (only the header line is read)."""
        assert isinstance(section, CsvData)
        if section.features:
            return (len(section.features),)
        header = csv_header(Path(section.train))
        others = label_columns(section.label) + (
            [section.sample_weight] if section.sample_weight else []
        )
        for name in others:
            if name not in header:
                what = "label" if name in label_columns(section.label) else "sample_weight"
                raise DataError(
                    f"{what} column {name!r} not in the CSV header",
                    file=section.train,
                    field=f"data.{what}",
                    received=header,
                )
        return (len(header) - len(others),)

    def load_datasets(self, section: DataSection, *, seed: int, strict: bool) -> DataBundle:
        from dlcli.data.tabular import load_csv_bundle

        return load_csv_bundle(section, seed=seed)

    def from_input_shape(self, shape: Shape) -> dict[str, Any] | None:
        if len(shape) != 1:
            return None
        return {"num_features": shape[0]}

    def find_inputs(
        self, sources: Sequence[str], recursive: bool
    ) -> tuple[list[str], list[SkippedFile]]:
        from dlcli.data.listing import find_files

        return find_files(sources, recursive, suffixes=(".csv",), other="not a .csv file")

    def iter_inputs(
        self,
        prep: Preprocessing,
        paths: Iterable[str | os.PathLike[str]],
        *,
        batch_size: int,
        workers: int | None,
        source: Path | None,
    ) -> Iterator[DecodedBatch]:
        """Each CSV file's feature rows (the run's feature columns; a label column may be
        there or not), in batches named ``FILE:LINE``; a file that cannot be read is
        skipped with the reason."""
        import numpy as np

        from dlcli.data.decode import DecodedBatch
        from dlcli.data.listing import SkippedFile
        from dlcli.data.tabular import read_csv

        assert isinstance(prep, CsvPreprocessing)
        features = list(prep.feature_columns) if prep.feature_columns else None
        for path in paths:
            try:
                rows = read_csv(Path(path), None, features)
            except DataError as exc:
                reason = exc.problem.format().removeprefix(f"{os.fspath(path)}")
                empty = np.zeros((0, len(features or ())), dtype=np.float32)
                yield DecodedBatch(empty, [], [SkippedFile(os.fspath(path), reason.lstrip(": "))])
                continue
            if prep.num_features is not None and rows.x.shape[1] != prep.num_features:
                yield DecodedBatch(
                    rows.x[:0],
                    [],
                    [
                        SkippedFile(
                            os.fspath(path),
                            f"{rows.x.shape[1]} feature columns; the model takes "
                            f"{prep.num_features}",
                        )
                    ],
                )
                continue
            for start in range(0, len(rows.x), batch_size):
                stop = start + batch_size
                yield DecodedBatch(rows.x[start:stop], rows.sources[start:stop])

    def labelled_data(
        self, path: Path, prep: Preprocessing, class_names: list[str]
    ) -> LabelledData:
        import numpy as np

        from dlcli.data.tabular import read_csv

        assert isinstance(prep, CsvPreprocessing)
        if path.is_dir():
            raise UsageError(
                "--data is a folder but this model is tabular", file=path, expected="a CSV file"
            )
        if not path.exists():
            raise DataError("--data not found", file=path, expected="a .csv file")
        features = list(prep.feature_columns) if prep.feature_columns else None
        rows = read_csv(path, prep.label_column, features)
        assert rows.labels is not None
        raw = ClassTarget().parse(ClassTargetSpec(), rows.labels)
        index = class_index(class_names, sorted(set(raw)), path)
        y = np.asarray([index[v] for v in raw], dtype=np.int64)
        x = rows.x
        return LabelledArrays(str(path), y, lambda r: x[r])

    def labelled_targets(
        self, path: Path, prep: Preprocessing, record: TargetRecord
    ) -> LabelledArrays:
        from dlcli.data.tabular import read_csv
        from dlcli.targets.reading import encode_target

        assert isinstance(prep, CsvPreprocessing)
        if path.is_dir() or not path.exists():
            raise DataError("--data must be a CSV file", file=path, expected="a .csv file")
        features = list(prep.feature_columns) if prep.feature_columns else None
        label = target_of(record).label_names(record, prep.label_column)
        rows = read_csv(path, label, features)
        assert rows.labels is not None
        y = encode_target(record, record, rows.labels, path)
        x = rows.x
        return LabelledArrays(str(path), y, lambda r: x[r])

    def parity_inputs(
        self,
        prep: Preprocessing,
        sample: Path | None,
        run_data: dict[str, Any] | None,
        limit: int,
        source: Path,
    ) -> SampleInputs:
        import numpy as np

        from dlcli.data.kinds.image_samples import spread
        from dlcli.data.tabular import read_csv

        assert isinstance(prep, CsvPreprocessing)
        path = sample or next((p for p in recorded_data(run_data) if p.is_file()), None)
        if path is None:
            raise UsageError(
                "no sample rows for the parity check",
                file=source,
                hint="pass --sample FILE.csv with the model's feature columns and label column",
            )
        features = list(prep.feature_columns) if prep.feature_columns else None
        x = read_csv(Path(path), None, features).x
        if len(x) == 0:
            raise DataError("the CSV has no rows for the parity check", file=path)
        rows = spread(list(range(len(x))), limit)
        return SampleInputs(
            np.asarray(x[rows], dtype=np.float32), f"{len(rows)} row(s) from {path}"
        )

    def serving_input(self, prep: Preprocessing, shape: list[int | None]) -> dict[str, Any]:
        return {
            "shape": shape,
            "dtype": "float32",
            "layout": "NF",
            "value_range": None,
            "note": "feed raw feature values in feature_columns order",
        }


def csv_header(path: Path) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            row = next(csv.reader(fh), None)
    except OSError as exc:
        raise DataError(f"cannot read the CSV file: {exc.strerror}", file=path) from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError("not a readable CSV file", file=path, hint=str(exc)) from exc
    if not row:
        raise DataError("the CSV file has no header row", file=path)
    return [name.strip() for name in row]
