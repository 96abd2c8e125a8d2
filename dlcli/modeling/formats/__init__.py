"""The registry of exported model formats: the one place a format's name leads to its code.

A format is one module holding one :class:`ExportFormat`: its name (``--format``), file
suffix (empty for a folder format), the optional packages it needs, how a Keras model is
written in it, how a written one is run (a :class:`~dlcli.modeling.runtimes.Runner`), where
its metadata goes and how the metadata is embedded in the file. Built-in formats
(SavedModel, TFLite, ONNX) are registered at the bottom of this module; another one is
registered with :func:`register_format`. ``dlcli export`` writes through it and
``predict``/``evaluate`` recognise and run exported models through it
(:func:`format_of_path`). No TensorFlow here: formats import it inside their methods.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from dlcli.errors import UsageError

if TYPE_CHECKING:
    from dlcli.modeling.runtimes import Runner

NO_QUANTIZATION = "none"


class ExportFormat(ABC):
    """One stored-model format; register an instance to add one."""

    name: ClassVar[str]
    title: ClassVar[str]  # for messages: "SavedModel", "TFLite"
    suffix: ClassVar[str]  # ".tflite"; "" for a format written as a folder
    aliases: ClassVar[tuple[str, ...]] = ()  # other names --format accepts
    quantizations: ClassVar[tuple[str, ...]] = (NO_QUANTIZATION,)
    packages: ClassVar[tuple[tuple[str, str], ...]] = ()  # (module to import, pip package)
    takes_strings: ClassVar[bool] = False  # can serve a raw-text (string) model input
    several_inputs: ClassVar[bool] = False  # can serve a model with several named inputs

    @property
    def is_folder(self) -> bool:
        return not self.suffix

    def missing_packages(self) -> list[str]:
        """The optional packages this format needs that are not installed."""
        missing = []
        for module, package in self.packages:
            try:
                __import__(module)
            except ImportError:
                missing.append(package)
        return missing

    @abstractmethod
    def write(self, model: Any, path: Path, *, quantize: str) -> None:
        """Write the Keras ``model`` at ``path``, serving ``model(x, training=False)``."""

    @abstractmethod
    def runner(self, path: Path) -> Runner:
        """Load a model written in this format, ready to score float32 batches."""

    def claims(self, path: Path) -> bool:
        """Whether ``path`` is a model stored in this format (by its name or contents)."""
        return path.suffix.lower() == self.suffix and path.is_file()

    def metadata_path(self, path: Path) -> Path:
        """Where ``dlcli export`` puts the metadata JSON of ``path``: beside it by default
        (``model.tflite`` -> ``model.tflite.json``, so several formats can share a folder)."""
        return path.with_name(path.name + ".json")

    def embed_metadata(self, path: Path, text: str) -> None:  # noqa: B027
        """Store the metadata JSON inside the written file too, where the format has room."""

    def default_name(self, stem: str, *, in_run: bool) -> str:
        """The output's name: ``model<suffix>`` in a run's ``export/``, else beside the
        source ``<stem><suffix>``."""
        return ("model" if in_run else stem) + self.suffix


_FORMATS: dict[str, ExportFormat] = {}


def register_format(fmt: ExportFormat, *, replace: bool = False) -> ExportFormat:
    if fmt.name in _FORMATS and not replace and type(_FORMATS[fmt.name]) is not type(fmt):
        raise ValueError(f"export format {fmt.name!r} is already registered")
    _FORMATS[fmt.name] = fmt
    return fmt


def unregister_format(name: str) -> None:
    _FORMATS.pop(name, None)


def format_names() -> list[str]:
    return list(_FORMATS)


def get_format(name: str, *, field: str = "--format") -> ExportFormat:
    """The format called ``name`` (or one of its aliases, any case, ``-`` for ``_``)."""
    key = name.strip().lower().replace("-", "_")
    for fmt in _FORMATS.values():
        if key == fmt.name or key in fmt.aliases:
            return fmt
    from dlcli.recipe.layers import did_you_mean

    raise UsageError(
        "unknown export format",
        field=field,
        expected=" | ".join(_FORMATS),
        received=name,
        hint=did_you_mean(key, list(_FORMATS)),
    )


def format_of_path(path: Path) -> ExportFormat | None:
    """The registered format that stores ``path``, or None (a Keras model, or nothing)."""
    for fmt in _FORMATS.values():
        if fmt.claims(path):
            return fmt
    return None


def exported_suffixes() -> tuple[str, ...]:
    return tuple(f.suffix for f in _FORMATS.values() if f.suffix)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence converter chatter (tf2onnx INFO logs, NumPy FutureWarnings, absl, and the
    grappler/CUDA lines TensorFlow's C++ side prints straight to stderr)."""
    from dlcli.backend import quiet_native_stderr

    loggers = [logging.getLogger(n) for n in ("tf2onnx", "absl", "tensorflow")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), quiet_native_stderr():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _register_builtins() -> None:
    from dlcli.modeling.formats.onnx import OnnxFormat
    from dlcli.modeling.formats.saved_model import SavedModelFormat
    from dlcli.modeling.formats.tflite import TfliteFormat

    register_format(SavedModelFormat())
    register_format(TfliteFormat())
    register_format(OnnxFormat())


_register_builtins()
