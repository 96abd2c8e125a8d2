"""The contract every data kind fulfils, and the typed records it passes around.

A kind is one module under :mod:`dlcli.data.kinds` holding one :class:`DataKind` subclass:
its recipe section, the :class:`Preprocessing` record a run keeps in ``labels.json``, and
everything that reads or shapes its data (training datasets, predict/evaluate inputs,
export parity samples, the ``inspect --activations`` picture). Engines look the kind up
once (:func:`dlcli.data.kinds.get_kind`) and call these methods; none of them names a
kind. This module imports neither TensorFlow nor NumPy: the recipe layer reads sections
from here, and ``validate --no-build`` stays light. Kinds import heavy modules inside
their methods.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from dlcli.errors import DataError, UsageError
from dlcli.recipe.spec import DataSection

if TYPE_CHECKING:
    import numpy as np

    from dlcli.data.bundle import DataBundle
    from dlcli.data.decode import DecodedBatch
    from dlcli.data.listing import SkippedFile
    from dlcli.targets import TargetRecord

PREPROCESSING_VERSION = 1  # the labels.json layout this dlcli writes and reads
Shape = tuple[int | None, ...]


def shape_fits(shape: Shape, expected: Sequence[int]) -> bool:
    """Whether a model input ``shape`` (None: any size) takes arrays of ``expected``."""
    return len(shape) == len(expected) and all(
        s is None or int(s) == e for s, e in zip(shape, expected, strict=True)
    )


class Preprocessing(BaseModel):
    """How a model's inputs are prepared: what ``labels.json`` records beside the class names.

    Each kind subclasses it with ``kind`` fixed to its name and its own fields. ``version``
    is the layout; a file from a newer dlcli (a higher version) is refused, never guessed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = PREPROCESSING_VERSION
    kind: str


def class_index(model_names: list[str], data_names: list[str], where: Path) -> dict[str, int]:
    """Each model class name's output index; an error for data classes the model lacks."""
    unknown = [c for c in data_names if c not in model_names]
    if unknown:
        raise DataError(
            f"class(es) in the data that the model does not know: {', '.join(unknown)}",
            file=where,
            expected=f"class names of the model: {model_names}",
            received=data_names,
            hint="class folders/labels must match the model's class names; for a bare .keras "
            "file pass --labels FILE with its class names in output order",
        )
    return {name: i for i, name in enumerate(model_names)}


@dataclass
class LabelledFiles:
    """Input files with their true class index (into the model's class names)."""

    description: str
    paths: list[str]
    label_of: dict[str, int]
    skipped: list[SkippedFile] = field(default_factory=list)


@dataclass
class LabelledArrays:
    """Rows already read (CSV features, a re-derived validation split) and their classes.

    ``decode`` is for rows whose files are read one batch at a time (a table's image and
    audio columns), so memory holds one batch, not the data: it returns the readable rows'
    inputs and which rows those are; an unreadable row leaves its batch (its reason is
    added to ``skipped``) and ``fetch`` is not used.
    """

    description: str
    y: np.ndarray
    fetch: Callable[[np.ndarray], Any]  # rows -> float32 inputs
    skipped: list[SkippedFile] = field(default_factory=list)
    decode: Callable[[np.ndarray], tuple[Any, np.ndarray]] | None = None

    def batches(self, batch_size: int) -> Iterator[tuple[Any, np.ndarray]]:
        import numpy as np

        n = len(self.y)
        for start in range(0, n, batch_size):
            rows = np.arange(start, min(start + batch_size, n))
            if self.decode is None:
                yield self.fetch(rows), self.y[rows]
                continue
            x, keep = self.decode(rows)
            if keep.any():
                yield x, self.y[rows][keep]

    @classmethod
    def streamed(
        cls,
        description: str,
        y: np.ndarray,
        decode: Callable[[np.ndarray], tuple[Any, np.ndarray]],
        skipped: list[SkippedFile],
    ) -> LabelledArrays:
        """Rows decoded batch by batch (see ``decode``)."""

        def whole(rows: np.ndarray) -> Any:
            return decode(rows)[0]

        return cls(description, y, whole, skipped, decode)


LabelledData = LabelledFiles | LabelledArrays


@dataclass
class SampleInputs:
    """Real inputs for the export parity check, and where they came from."""

    x: np.ndarray | dict[str, np.ndarray]  # a dict by input name for several inputs
    description: str

    @property
    def count(self) -> int:
        first = next(iter(self.x.values())) if isinstance(self.x, dict) else self.x
        return int(first.shape[0])


def recorded_data(run_data: dict[str, Any] | None) -> list[Path]:
    """The data a run recorded, validation first (real inputs for export parity samples)."""
    if not run_data:
        return []
    return [Path(run_data[key]) for key in ("validation", "train") if run_data.get(key)]


class DataKind(ABC):
    """One kind of data (image folders, CSV tables, ...): register an instance to add one.

    ``name`` is what recipes write as ``data.kind`` and labels.json as ``kind``;
    ``section`` is the recipe's ``data:`` model (a :class:`DataSection` with
    ``kind: Literal[name]``); ``preprocessing`` is the labels.json model;
    ``inputs`` says in words what ``predict`` reads and ``input_noun`` names its files
    (for messages: "no image files found"; expected "image files (.png ...), folders"),
    ``input_unit`` the same files in a rate (``img/s``, ``files/s``). ``item_noun`` names
    one predicted example (``predicted 3 row(s)``), ``item_unit`` it in a rate (``rows/s``).
    """

    name: ClassVar[str]
    section: ClassVar[type[DataSection]]
    preprocessing: ClassVar[type[Preprocessing]]
    inputs: ClassVar[str]
    input_noun: ClassVar[str]
    input_unit: ClassVar[str] = "files"
    item_noun: ClassVar[str] = "input"
    item_unit: ClassVar[str] = "inputs"

    # --- recipe (no TensorFlow) -----------------------------------------------------

    @abstractmethod
    def describe(self, section: DataSection) -> str:
        """One line for ``dlcli validate`` (``images (28x28, grayscale)``)."""

    @abstractmethod
    def input_shape(self, section: DataSection) -> Shape | None:
        """The model input the section determines (no batch axis), or None if unknown."""

    def input_dtype(self, section: DataSection) -> str | None:
        """The model input's dtype when not float32 (``"string"`` for raw text)."""
        return None

    def section_values(self, values: dict[str, Any]) -> dict[str, Any]:
        """User shorthands turned into the section's types before validation."""
        return values

    def recipe_preprocessing(self, section: DataSection) -> Preprocessing | None:
        """What a recipe alone says about preparing inputs (``inspect RECIPE``)."""
        return None

    # --- training ---------------------------------------------------------------------

    @abstractmethod
    def load_datasets(self, section: DataSection, *, seed: int, strict: bool) -> DataBundle:
        """Read and check the section's data; ``bundle.preprocessing`` is this kind's."""

    # --- several model inputs (model.inputs: name -> the data columns feeding it) --------

    def input_shapes(
        self, section: DataSection, inputs: Mapping[str, Sequence[str]]
    ) -> dict[str, Shape]:
        """Each named model input's shape (no batch axis)."""
        raise self._one_input()

    def input_dtypes(
        self, section: DataSection, inputs: Mapping[str, Sequence[str]] | None
    ) -> dict[str, str]:
        """Each named model input's dtype (``float32``, ``string``)."""
        raise self._one_input()

    def load_inputs(
        self,
        section: DataSection,
        inputs: Mapping[str, Sequence[str]],
        *,
        seed: int,
        strict: bool,
    ) -> DataBundle:
        """Like :meth:`load_datasets`, with ``x`` a dict keyed by input name."""
        raise self._one_input()

    def _one_input(self) -> DataError:
        return DataError(
            f"model.inputs needs data that feeds several inputs; data.kind {self.name} feeds one",
            field="model.inputs",
            expected="data.kind: table, with each input's columns",
            hint="leave out model.inputs for a model with one input",
        )

    # --- a model's preprocessing ------------------------------------------------------

    @abstractmethod
    def from_input_shape(self, shape: Shape) -> dict[str, Any] | None:
        """The preprocessing fields a bare model's input shape implies, or None when the
        shape is not this kind's (a model without labels.json is claimed by shape)."""

    def from_model_layers(self, model: Any) -> dict[str, Any] | None:
        """The preprocessing fields a bare Keras model's own layers show it reads this
        kind's data (a spectrogram layer: sound), or None. A claim by layers wins over
        claims by input shape."""
        return None

    def read_preprocessing(self, fields: dict[str, Any], source: Path) -> Preprocessing:
        """``fields`` (labels.json/metadata keys) as this kind's record; errors name ``source``."""
        from dlcli.data.kinds.labels import validate_fields

        return validate_fields(self.preprocessing, fields, source)

    def check_model(self, prep: Preprocessing, shape: Shape, source: Path) -> None:  # noqa: B027
        """Refuse preprocessing that does not fit the model's input (default: no check)."""

    # --- predict and evaluate ---------------------------------------------------------

    def with_text_column(self, prep: Preprocessing | None, column: str) -> Preprocessing | None:
        """``predict --text-column``: ``prep`` reading tables' text from ``column``."""
        raise UsageError(
            f"--text-column applies to text models; this model reads {self.name} data",
            field="--text-column",
        )

    @abstractmethod
    def find_inputs(
        self, sources: Sequence[str], recursive: bool
    ) -> tuple[list[str], list[SkippedFile]]:
        """Files, folders and globs -> this kind's input files, and what was passed over."""

    @abstractmethod
    def iter_inputs(
        self,
        prep: Preprocessing,
        paths: Iterable[str | os.PathLike[str]],
        *,
        batch_size: int,
        workers: int | None,
        source: Path | None,
    ) -> Iterator[DecodedBatch]:
        """Model-ready float32 batches in input order; unreadable files in ``errors``."""

    @abstractmethod
    def labelled_data(
        self, path: Path, prep: Preprocessing, class_names: list[str]
    ) -> LabelledData:
        """``evaluate --data PATH``: examples with their class index in ``class_names``."""

    def labelled_targets(
        self, path: Path, prep: Preprocessing, record: TargetRecord | None
    ) -> LabelledArrays:
        """``evaluate --data PATH`` for a multi-label or regression model: examples with
        their ``y`` encoded by the run's target ``record`` (:mod:`dlcli.targets`)."""
        raise UsageError(
            f"{self.name} data holds class labels only; this model has a "
            f"{getattr(record, 'type', '?')} target",
            file=path,
        )

    # --- export -----------------------------------------------------------------------

    @abstractmethod
    def parity_inputs(
        self,
        prep: Preprocessing,
        sample: Path | None,
        run_data: dict[str, Any] | None,
        limit: int,
        source: Path,
    ) -> SampleInputs:
        """Up to ``limit`` real inputs: from ``--sample``, else the run's own data
        (``run_data``: the recipe's ``data`` mapping, paths absolute)."""

    @abstractmethod
    def serving_input(self, prep: Preprocessing, shape: list[int | None]) -> dict[str, Any]:
        """The export metadata's ``input``: shape, dtype, layout, value range, a note."""

    # --- inspect ----------------------------------------------------------------------

    def activation_input(self, prep: Preprocessing | None, shape: Shape, path: Path) -> np.ndarray:
        """One input (no batch axis) read from ``path`` for ``inspect --activations``."""
        raise UsageError(
            f"--activations takes a picture; this model reads {self.name} data",
            field="--activations",
            expected="an image model",
        )
