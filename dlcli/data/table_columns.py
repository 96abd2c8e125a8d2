"""What each column of a table is, and how columns are grouped into model inputs.

A feature column is a ``number``, a ``category`` (one-hot, or an index for an
``Embedding``; its vocabulary comes from the training rows and is kept in
``labels.json``), ``text`` (raw strings for the model's ``TextVectorization``), an
``image`` or ``audio`` file path (relative to the table's folder, decoded as the images
and audio kinds decode files) or ``ignore``. :func:`infer_columns` guesses the types from
the values (``dlcli init`` calls it too); a recipe's ``data.columns`` says them instead.

A model input is a group of columns (:func:`group_feed`): numbers and categories
concatenate into one float32 vector; a text, image or audio column is an input of its
own. Without ``model.inputs`` every feature column is one group, the model's one input.
No TensorFlow or NumPy here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from dlcli.data.listing import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS
from dlcli.data.table_read import Table, read_table
from dlcli.errors import DataError
from dlcli.recipe.spec import CHANNELS_BY_COLOR_MODE, Float, Int

if TYPE_CHECKING:
    from dlcli.data.kinds.table_kind import TableData
    from dlcli.targets import TargetSpec

ColumnType = Literal["number", "category", "text", "image", "audio", "ignore"]
FeatureType = Literal["number", "category", "text", "image", "audio"]
Encode = Literal["onehot", "index"]
ColorMode = Literal["grayscale", "rgb", "rgba"]
Feed = Literal["vector", "text", "image", "audio"]

LABEL_NAMES = ("label", "labels", "class", "target", "y")
MISSING = frozenset({"", "na", "nan", "n/a", "null", "none", "?"})
SAMPLE_ROWS = 2000  # rows read to guess column types
TEXT_WORDS = 3.0  # mean words per value from which a string column is text, not a category
ID_ROWS = 20  # a string column with this many rows, every value different: an identifier


class ColumnOptions(BaseModel):
    """``data.columns.NAME`` in its mapping form (the short form is just the type)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ColumnType
    encode: Encode = "onehot"  # category: one-hot vector, or index (0: unknown) for Embedding
    image_size: tuple[Int, Int] | None = None
    color_mode: ColorMode | None = None
    sample_rate: Int | None = Field(default=None, ge=1000, le=384_000)
    duration: Float | None = Field(default=None, gt=0.0, le=600.0)


class TableColumn(BaseModel):
    """One feature column as a run records it (labels.json): what predict needs to read
    it again exactly as training did."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: FeatureType
    encode: Encode | None = None
    vocabulary: list[str] | None = None
    image_size: tuple[int, int] | None = None
    color_mode: ColorMode | None = None
    sample_rate: int | None = None
    samples: int | None = None

    @property
    def width(self) -> int:
        """Values this column adds to a vector input (numbers and categories)."""
        if self.type == "category" and self.encode == "onehot":
            return len(self.vocabulary or [])
        return 1

    @property
    def is_file(self) -> bool:
        return self.type in ("image", "audio")

    def shape(self) -> tuple[int, ...]:
        """The model input this column alone makes (text, image, audio columns)."""
        if self.type == "image":
            assert self.image_size is not None and self.color_mode is not None
            return (*self.image_size, CHANNELS_BY_COLOR_MODE[self.color_mode])
        if self.type == "audio":
            assert self.samples is not None
            return (self.samples,)
        return ()


@dataclass(frozen=True)
class ColumnSpec:
    """A guessed column type and why (``infer_columns``; ``dlcli init`` prints ``why``)."""

    name: str
    type: ColumnType
    why: str
    encode: Encode = "onehot"


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _suffix(text: str) -> str:
    return Path(text).suffix.lower()


def guess_type(name: str, values: Sequence[str]) -> ColumnSpec:
    """The type of one column from its values (missing cells left out)."""
    present = [v.strip() for v in values if v.strip().lower() not in MISSING]
    if not present:
        return ColumnSpec(name, "ignore", "no values")
    if all(_is_number(v) for v in present):
        return ColumnSpec(name, "number", "every value is a number")
    if all(_suffix(v) in IMAGE_EXTENSIONS for v in present):
        return ColumnSpec(name, "image", "every value is an image file name")
    if all(_suffix(v) in AUDIO_EXTENSIONS for v in present):
        return ColumnSpec(name, "audio", "every value is a sound file name")
    words = sum(len(v.split()) for v in present) / len(present)
    if words >= TEXT_WORDS:
        return ColumnSpec(name, "text", f"values are sentences ({words:.1f} words on average)")
    distinct = len(set(present))
    if distinct == len(present) and len(present) >= ID_ROWS:
        return ColumnSpec(name, "ignore", "every value differs: an identifier, not a feature")
    return ColumnSpec(name, "category", f"{distinct} distinct values")


def find_labels(
    header: Sequence[str],
    label: str | list[str] | None,
    path: Path,
    target: TargetSpec | None = None,
) -> list[str]:
    """The label column(s): ``label`` when given (one name or a list), else the first
    column named one of :data:`LABEL_NAMES` or of the target's ``label_column_names``
    (``tags`` for multi_label). ``target`` (the section's target spec) also names the
    recipe field that asked for a missing column."""
    from dlcli.targets import target_of

    if label is not None:
        names = [label] if isinstance(label, str) else list(label)
        missing = [n for n in names if n not in header]
        if missing:
            raise DataError(
                f"label column(s) not in the table: {missing}",
                file=path,
                line=1,
                field=target_of(target).label_field(target, missing[0]),
                expected=f"columns of the table: {list(header)}",
            )
        return names
    lower = {h.lower(): h for h in header}
    known = (*LABEL_NAMES, *target_of(target).label_column_names)
    for name in known:
        if name in lower:
            return [lower[name]]
    raise DataError(
        "no label column",
        file=path,
        line=1,
        field="data.label",
        expected=f"a column named {' or '.join(known)}, or data.label naming it",
        received=list(header),
    )


def reserved_columns(section: TableData, table: Table) -> list[str]:
    """The columns that are not features: the label column(s) and ``sample_weight``."""
    names = find_labels(table.header, section.label, table.path, section.target)
    weight = getattr(section, "sample_weight", None)
    if weight is not None and weight not in table.header:
        raise DataError(
            f"sample_weight column {weight!r} not in the table",
            file=table.path,
            line=1,
            field="data.sample_weight",
            expected=f"a column of the table: {table.header}",
        )
    return names + ([weight] if weight else [])


def infer_columns(
    path: str | Path,
    label: str | list[str] | None = None,
    *,
    table: Table | None = None,
    reserved: Sequence[str] = (),
    target: TargetSpec | None = None,
) -> list[ColumnSpec]:
    """Every column but the label(s) and ``reserved`` ones, with its guessed type and why
    (from the first :data:`SAMPLE_ROWS` rows). ``label`` None: found by name (``target``
    adds its own names: ``tags`` for multi_label)."""
    table = table or read_table(path, limit=SAMPLE_ROWS)
    skip = set(find_labels(table.header, label, table.path, target)) | set(reserved)
    specs = []
    for j, name in enumerate(table.header):
        if name not in skip:
            specs.append(guess_type(name, [row[j] for row in table.rows[:SAMPLE_ROWS]]))
    return specs


def chosen_columns(section: TableData, table: Table) -> tuple[list[ColumnSpec], list[str]]:
    """The feature columns (``data.columns``, else guessed) and notes on the guesses."""
    reserved = reserved_columns(section, table)
    if section.columns is None:
        specs = infer_columns(
            table.path, section.label, table=table, reserved=reserved, target=section.target
        )
        notes = [f"{s.name}: {s.type} ({s.why})" for s in specs]
        return [s for s in specs if s.type != "ignore"], [
            "table columns guessed (set data.columns to choose): " + "; ".join(notes)
        ]
    specs = []
    features = [h for h in table.header if h not in reserved]
    for name, value in section.columns.items():
        options = value if isinstance(value, ColumnOptions) else ColumnOptions(type=value)
        if name not in features:
            what = "a label or weight column" if name in reserved else "a column not in the table"
            raise DataError(
                f"data.columns names {what}: {name!r}",
                file=table.path,
                line=1,
                field=f"data.columns.{name}",
                expected=f"feature columns of the table: {features}",
            )
        if options.type != "ignore":
            specs.append(ColumnSpec(name, options.type, "data.columns", options.encode))
    return specs, []


def section_types(section: TableData, inputs: dict[str, list[str]] | None) -> dict[str, str]:
    """Each model input's dtype from the column types (declared, or guessed from the
    first rows): cheap enough for every recipe load, and no NumPy."""
    table = read_table(section.train, limit=SAMPLE_ROWS)
    specs, _ = chosen_columns(section, table)
    columns = [TableColumn(name=s.name, type=s.type) for s in specs]  # type: ignore[arg-type]
    by_name = {c.name: c for c in columns}
    groups = inputs if inputs is not None else {"input": list(by_name)}
    dtypes = {}
    for name, names in groups.items():
        chosen = [by_name[n] for n in names if n in by_name]
        feed = group_feed(name, chosen, f"model.inputs.{name}.columns")
        dtypes[name] = "string" if feed == "text" else "float32"
    return dtypes


def group_feed(name: str, columns: Sequence[TableColumn], field: str) -> Feed:
    """What kind of input a group of columns makes; a :class:`DataError` naming ``field``
    when they cannot form one input."""
    if not columns:
        raise DataError(f"input {name!r} has no columns", field=field, expected="columns: [...]")
    types = {c.type for c in columns}
    if types <= {"number", "category"}:
        return "vector"
    if len(columns) == 1:
        return columns[0].type  # type: ignore[return-value]
    odd = [c.name for c in columns if c.type not in ("number", "category")]
    raise DataError(
        f"input {name!r} mixes columns that cannot form one input: "
        + ", ".join(f"{c.name} ({c.type})" for c in columns),
        field=field,
        expected="numbers and categories together (one vector), or a single text, image or "
        "audio column",
        received=odd,
        hint="name one model input per text/image/audio column under model.inputs, e.g. "
        "model.inputs: {image: {columns: [filename]}, tabular: {columns: [age, city]}}",
    )
