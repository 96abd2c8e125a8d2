"""The ``text`` kind: documents with a class label, classified from their raw text.

Two layouts: class folders of ``.txt`` files (``train/<class>/*.txt``, as Keras'
``text_dataset_from_directory``) and a CSV/JSONL table with a text column and a label
column (``data.text``, ``data.label``). The model takes raw strings (input shape ``()``,
dtype string): tokenising is the recipe's first layer (``TextVectorization``), adapted on
the training split only, so ``model.keras`` and its exports read text as it is. Reading
rules (UTF-8, empty documents, ``max_length``) are :mod:`dlcli.data.text_read`'s.
"""

from __future__ import annotations

import glob
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
from dlcli.recipe.spec import DataSection, Int

if TYPE_CHECKING:
    from dlcli.data.bundle import DataBundle
    from dlcli.data.decode import DecodedBatch
    from dlcli.data.listing import SkippedFile
    from dlcli.data.text_read import TextOptions

NAME = "text"
Errors = Literal["strict", "replace"]


class TextData(DataSection):
    """``data:`` for text: ``train``/``validation`` are class folders of ``.txt`` files or
    a ``.csv``/``.jsonl`` table (``text`` and ``label`` name its columns)."""

    kind: Literal["text"] = NAME
    text: str = "text"
    label: str = "label"
    errors: Errors = "strict"  # invalid UTF-8: an error naming file and byte offset
    max_length: Int | None = Field(default=None, ge=1)  # words kept per document


class TextPreprocessing(Preprocessing):
    """How documents are read at predict/evaluate time (the tokeniser is in the model)."""

    kind: Literal["text"] = NAME
    text_column: str = "text"
    label_column: str = "label"
    errors: Errors = "strict"
    max_length: int | None = Field(default=None, ge=1)


def _options(prep: TextPreprocessing, *, labelled: bool) -> TextOptions:
    from dlcli.data.text_read import TextOptions

    return TextOptions(
        text_column=prep.text_column,
        label_column=prep.label_column if labelled else None,
        errors=prep.errors,
        max_length=prep.max_length,
    )


def _section_prep(section: TextData) -> TextPreprocessing:
    return TextPreprocessing(
        text_column=section.text,
        label_column=section.label,
        errors=section.errors,
        max_length=section.max_length,
    )


class TextKind(DataKind):
    name = NAME
    section = TextData
    preprocessing = TextPreprocessing
    inputs = ".txt files, folders, a CSV/JSONL table with a text column, or - (stdin lines)"
    input_noun = "text files"
    item_noun = "document"
    item_unit = "docs"

    def describe(self, section: DataSection) -> str:
        assert isinstance(section, TextData)
        if Path(section.train).is_dir():
            return "text (class folders of .txt files)"
        return f"text (table: text column {section.text!r}, label column {section.label!r})"

    def input_shape(self, section: DataSection) -> Shape | None:
        return ()  # one string per example

    def input_dtype(self, section: DataSection) -> str | None:
        return "string"

    def recipe_preprocessing(self, section: DataSection) -> Preprocessing | None:
        assert isinstance(section, TextData)
        return _section_prep(section)

    def load_datasets(self, section: DataSection, *, seed: int, strict: bool) -> DataBundle:
        from dlcli.data.text_dataset import load_text_bundle

        assert isinstance(section, TextData)
        return load_text_bundle(section, _section_prep(section), seed=seed)

    def from_input_shape(self, shape: Shape) -> dict[str, Any] | None:
        return {} if tuple(shape) == () else None

    def with_text_column(self, prep: Preprocessing, column: str | None) -> Preprocessing:
        assert isinstance(prep, TextPreprocessing)
        return prep if column is None else prep.model_copy(update={"text_column": column})

    # --- predict ------------------------------------------------------------------------

    def find_inputs(
        self, sources: Sequence[str], recursive: bool
    ) -> tuple[list[str], list[SkippedFile]]:
        from dlcli.data.listing import SkippedFile
        from dlcli.data.text_read import STDIN, TABLE_SUFFIXES, TEXT_SUFFIXES, text_files

        found: list[str] = []
        skipped: list[SkippedFile] = []
        for src in sources:
            if src == STDIN:
                found.append(STDIN)
                continue
            matches = sorted(glob.glob(src)) if glob.has_magic(src) else [src]
            if not matches:
                skipped.append(SkippedFile(src, "no file matches the pattern"))
            for match in matches:
                path = Path(match)
                if path.is_dir():
                    found += text_files(path, recursive=recursive)
                elif not path.exists():
                    skipped.append(SkippedFile(match, "not found"))
                elif path.suffix.lower() in TEXT_SUFFIXES + TABLE_SUFFIXES:
                    found.append(match)
                else:
                    skipped.append(
                        SkippedFile(match, "not a .txt, .csv or .jsonl file", ignored=True)
                    )
        return found, skipped

    def iter_inputs(
        self,
        prep: Preprocessing,
        paths: Iterable[str | os.PathLike[str]],
        *,
        batch_size: int,
        workers: int | None,
        source: Path | None,
    ) -> Iterator[DecodedBatch]:
        from dlcli.data.text_dataset import document_batches

        assert isinstance(prep, TextPreprocessing)
        return document_batches(paths, _options(prep, labelled=False), batch_size)

    def labelled_data(
        self, path: Path, prep: Preprocessing, class_names: list[str]
    ) -> LabelledData:
        import numpy as np

        from dlcli.data.text_dataset import read_labelled

        assert isinstance(prep, TextPreprocessing)
        if not path.exists():
            raise DataError("--data not found", file=path, expected="a folder or .csv/.jsonl")
        texts, labels, skipped = read_labelled(path, _options(prep, labelled=True))
        index = class_index(class_names, sorted(set(labels)), path)
        y = np.asarray([index[v] for v in labels], dtype=np.int64)
        x = np.asarray(texts, dtype=object)
        return LabelledArrays(str(path), y, lambda rows: x[rows], skipped)

    # --- export and inspect -------------------------------------------------------------

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
        from dlcli.data.text_dataset import read_labelled

        assert isinstance(prep, TextPreprocessing)
        path = sample or next(iter(recorded_data(run_data)), None)
        if path is None or not path.exists():
            raise UsageError(
                "no sample documents for the parity check",
                file=source,
                hint="pass --sample with a folder of .txt files or a CSV/JSONL table",
            )
        texts, _, _ = read_labelled(path, _options(prep, labelled=sample is None))
        if not texts:
            raise DataError("no documents for the parity check", file=path)
        chosen = spread(texts, limit)
        return SampleInputs(
            np.asarray(chosen, dtype=object), f"{len(chosen)} document(s) from {path}"
        )

    def serving_input(self, prep: Preprocessing, shape: list[int | None]) -> dict[str, Any]:
        return {
            "shape": shape,
            "dtype": "string",
            "layout": "N",
            "value_range": None,
            "note": "feed raw UTF-8 text, one document per row; the model tokenises it "
            "(its vocabulary is vocabulary.txt in the run directory)",
        }

    def activation_input(self, prep: Preprocessing | None, shape: Shape, path: Path) -> Any:
        """``inspect --activations TEXT``: the words themselves (or a .txt file's text)."""
        import numpy as np

        from dlcli.data.text_read import Document, TextOptions, read_text_file

        text = str(path)
        if path.suffix.lower() == ".txt" and path.is_file():
            options = TextOptions() if prep is None else _options(prep, labelled=False)  # type: ignore[arg-type]
            item = read_text_file(str(path), None, options)
            if not isinstance(item, Document):
                raise DataError(item.reason, file=path)
            text = item.text
        return np.asarray(text, dtype=object)
