"""The ``table`` kind: a CSV or Parquet table, one row per example, a label column and
feature columns of any type: numbers, categories, text, or paths to image or audio files.

The Kaggle-style ``train.csv`` of ``filename,label`` is one line of recipe,
``data: {kind: table, train: train.csv}``: the column of image file names is found, its
files (relative to the table) decoded as the images kind decodes them, the image size
taken from the files. ``data.columns`` declares types instead of guessing them. A table
feeds one model input (numbers and categories as one vector, or a single text, image or
audio column) or several, named by ``model.inputs`` (docs/recipes.md). Reading lives in
:mod:`dlcli.data.table_read`, column rules in :mod:`dlcli.data.table_columns`, training
data in :mod:`dlcli.data.table_dataset`, predict/evaluate/export inputs in
:mod:`dlcli.data.table_predict`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from dlcli.data.kinds.base import (
    DataKind,
    LabelledArrays,
    LabelledData,
    Preprocessing,
    SampleInputs,
    Shape,
    shape_fits,
)
from dlcli.data.table_columns import ColorMode, ColumnOptions, ColumnType, TableColumn
from dlcli.errors import DataError, ModelLoadError
from dlcli.recipe.spec import DataSection, Float, Int
from dlcli.targets import TargetFields, TargetRecord

if TYPE_CHECKING:
    from dlcli.data.bundle import DataBundle
    from dlcli.data.decode import DecodedBatch
    from dlcli.data.listing import SkippedFile

NAME = "table"


class TableData(DataSection, TargetFields):
    """``data:`` for a table; ``label``/``target``/``sample_weight`` as for every labelled
    table (:mod:`dlcli.targets`); ``image_size``/``color_mode``/``sample_rate``/``duration``
    apply to every image or audio column that does not set its own."""

    kind: Literal["table"] = NAME
    label: str | list[str] | None = None  # None: found by name (label, class, ...; tags)
    columns: dict[str, ColumnType | ColumnOptions] | None = None  # None: guessed
    image_size: tuple[Int, Int] | None = None
    color_mode: ColorMode = "rgb"
    sample_rate: Int = Field(default=16_000, ge=1000, le=384_000)
    duration: Float = Field(default=1.0, gt=0.0, le=600.0)

    @field_validator("label")
    @classmethod
    def _columns(cls, value: str | list[str] | None) -> str | list[str] | None:
        return None if value is None else TargetFields._columns(value)


class TablePreprocessing(Preprocessing):
    """The feature columns as training read them (vocabularies, image and audio settings),
    the label column, and the model inputs (None: one input of every column)."""

    kind: Literal["table"] = NAME
    columns: list[TableColumn]
    label_column: str
    inputs: dict[str, list[str]] | None = None


class TableKind(DataKind):
    name = NAME
    section = TableData
    preprocessing = TablePreprocessing
    inputs = "tables (.csv .parquet) with the model's columns, or rows as TABLE:ROW"
    input_noun = "tables"
    item_noun = "row"
    item_unit = "rows"

    def describe(self, section: DataSection) -> str:
        assert isinstance(section, TableData)
        label = repr(section.label) if section.label else "found by name"
        how = "declared" if section.columns is not None else "guessed from the values"
        return f"table (label column {label}, columns {how})"

    def input_shape(self, section: DataSection) -> Shape | None:
        from dlcli.data.table_dataset import section_groups

        (group,) = section_groups(section, None)
        return group.shape()

    def input_dtype(self, section: DataSection) -> str | None:
        return self.input_dtypes(section, None).get("input")

    def input_shapes(
        self, section: DataSection, inputs: Mapping[str, Sequence[str]]
    ) -> dict[str, Shape]:
        from dlcli.data.table_dataset import section_groups

        return {g.name: g.shape() for g in section_groups(section, _plain(inputs))}

    def input_dtypes(
        self, section: DataSection, inputs: Mapping[str, Sequence[str]] | None
    ) -> dict[str, str]:
        """Each input's dtype from the column types alone (no vocabulary read)."""
        from dlcli.data.table_columns import section_types

        try:
            return section_types(section, _plain(inputs) if inputs is not None else None)
        except DataError:
            return {}  # reported with its place when the data is loaded

    def load_datasets(self, section: DataSection, *, seed: int, strict: bool) -> DataBundle:
        from dlcli.data.table_dataset import load_table_bundle

        return load_table_bundle(section, seed=seed, strict=strict, inputs=None)

    def load_inputs(
        self,
        section: DataSection,
        inputs: Mapping[str, Sequence[str]],
        *,
        seed: int,
        strict: bool,
    ) -> DataBundle:
        from dlcli.data.table_dataset import load_table_bundle

        return load_table_bundle(section, seed=seed, strict=strict, inputs=_plain(inputs))

    def from_input_shape(self, shape: Shape) -> dict[str, Any] | None:
        return None  # a table model needs its labels.json (columns, vocabularies)

    def check_model(self, prep: Preprocessing, shape: Shape, source: Path) -> None:
        from dlcli.data.table_dataset import groups_of

        assert isinstance(prep, TablePreprocessing)
        groups = groups_of(prep)
        if len(groups) != 1:
            return
        expected = groups[0].shape()
        if not shape_fits(shape, expected):
            raise ModelLoadError(
                f"the model takes inputs of shape {tuple(shape)}, but labels.json describes "
                f"table columns that make {expected}",
                file=source,
                field="columns",
            )

    # --- predict and evaluate -----------------------------------------------------------

    def find_inputs(
        self, sources: Sequence[str], recursive: bool
    ) -> tuple[list[str], list[SkippedFile]]:
        from dlcli.data.table_predict import find_tables

        return find_tables(sources, recursive)

    def iter_inputs(
        self,
        prep: Preprocessing,
        paths: Iterable[str | os.PathLike[str]],
        *,
        batch_size: int,
        workers: int | None,
        source: Path | None,
    ) -> Iterator[DecodedBatch]:
        from dlcli.data.table_predict import table_batches

        assert isinstance(prep, TablePreprocessing)
        return table_batches(prep, paths, batch_size)

    def labelled_data(
        self, path: Path, prep: Preprocessing, class_names: list[str]
    ) -> LabelledData:
        from dlcli.data.table_predict import labelled_rows

        assert isinstance(prep, TablePreprocessing)
        return labelled_rows(path, prep, class_names)

    def labelled_targets(
        self, path: Path, prep: Preprocessing, record: TargetRecord
    ) -> LabelledArrays:
        from dlcli.data.table_predict import labelled_target_rows

        assert isinstance(prep, TablePreprocessing)
        return labelled_target_rows(path, prep, record)

    # --- export -------------------------------------------------------------------------

    def parity_inputs(
        self,
        prep: Preprocessing,
        sample: Path | None,
        run_data: dict[str, Any] | None,
        limit: int,
        source: Path,
    ) -> SampleInputs:
        from dlcli.data.table_predict import sample_rows

        assert isinstance(prep, TablePreprocessing)
        return sample_rows(prep, sample, run_data, limit, source)

    def activation_input(self, prep: Preprocessing | None, shape: Shape, path: Path) -> Any:
        """``inspect --activations IMAGE`` for a model whose one input is an image column:
        the file decoded with that column's size and colour mode."""
        from dlcli.data.decode import SkippedFile, decode_image
        from dlcli.data.table_dataset import groups_of

        groups = groups_of(prep) if isinstance(prep, TablePreprocessing) else []
        if len(groups) != 1 or groups[0].feed != "image":
            return super().activation_input(prep, shape, path)
        col = groups[0].columns[0]
        assert col.image_size is not None and col.color_mode is not None
        image = decode_image(path, col.image_size, col.color_mode)
        if isinstance(image, SkippedFile):
            raise DataError(f"cannot use the image: {image.reason}", file=path)
        return image

    def serving_input(self, prep: Preprocessing, shape: list[int | None]) -> dict[str, Any]:
        from dlcli.data.table_predict import serving_description

        assert isinstance(prep, TablePreprocessing)
        return serving_description(prep, shape)


def _plain(inputs: Mapping[str, Any] | None) -> dict[str, list[str]] | None:
    """``model.inputs`` (name -> its columns, or a spec with ``columns``) as plain lists."""
    if inputs is None:
        return None
    out: dict[str, list[str]] = {}
    for name, value in inputs.items():
        columns = getattr(value, "columns", value)
        out[str(name)] = [str(c) for c in columns]
    return out
