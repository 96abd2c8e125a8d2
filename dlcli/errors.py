"""The errors dlcli raises on purpose.

User mistakes (bad recipe, bad path, bad flag) are ``DlcliError`` subclasses with
``exit_code = 2``; failures at run time that are not the user's input (a NaN loss,
a failed export parity check) use ``exit_code = 1``. Only ``dlcli.cli`` turns them
into exit codes and terminal output: library code raises, never prints or exits.

This module imports nothing heavy: it is loaded by ``dlcli --help``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one place in a user's input.

    ``file``/``line``/``column`` point at the place (1-based line and column, as
    editors show them); ``field`` is the key path (``model.layers[3].Conv2D.filters``).
    """

    message: str
    file: str | Path | None = None
    line: int | None = None
    column: int | None = None
    field: str | None = None
    expected: str | None = None
    received: Any = None
    hint: str | None = None
    has_received: bool = False

    def format(self) -> str:
        where = ""
        if self.file is not None:
            where = str(self.file)
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        text = where
        if self.field:
            text += f"{self.field}: "
        text += self.message
        if self.expected:
            text += f"; expected {self.expected}"
        if self.has_received:
            text += f"; received: {_short_repr(self.received)}"
        if self.hint:
            text += f" ({self.hint})"
        return text


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class DlcliError(Exception):
    """Base of every error dlcli raises on purpose. Exit code 2: the user's to fix."""

    exit_code = 2

    def __init__(
        self,
        message: str | None = None,
        *,
        problems: list[Problem] | None = None,
        file: str | Path | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
        expected: str | None = None,
        received: Any = ...,
        hint: str | None = None,
    ) -> None:
        if problems is None:
            if message is None:
                raise TypeError("DlcliError needs a message or problems")
            problems = [
                Problem(
                    message=message,
                    file=file,
                    line=line,
                    column=column,
                    field=field,
                    expected=expected,
                    received=None if received is ... else received,
                    has_received=received is not ...,
                    hint=hint,
                )
            ]
        self.problems: list[Problem] = list(problems)
        super().__init__(self.format())

    @property
    def problem(self) -> Problem:
        return self.problems[0]

    def format(self) -> str:
        """One line per problem, most important first."""
        return "\n".join(p.format() for p in self.problems)


class RecipeError(DlcliError, ValueError):
    """A recipe (or an override) is malformed or invalid."""


class DataError(DlcliError, ValueError):
    """Input data cannot be used: missing folder, no images, bad CSV, corrupt file in --strict."""


class ModelBuildError(DlcliError, ValueError):
    """The recipe validates but the layers do not fit together (shapes, dtypes)."""


class ModelLoadError(DlcliError):
    """A model file is missing, unreadable, unsafe, or not a Keras model."""


class UnsafeModelError(ModelLoadError):
    """Loading the model would run code from the file; needs --trust-model."""


class DeviceError(DlcliError):
    """A requested device (GPU) is not available or a distribution setting cannot be met."""


class OutputExistsError(DlcliError, FileExistsError):
    """An output file exists and --overwrite was not given."""


class OutputPathError(DlcliError, OSError):
    """An output cannot be written where the user asked (missing or read-only folder)."""


class UsageError(DlcliError):
    """Flags that contradict each other or values out of range that Typer cannot check."""


class RunFailure(DlcliError):
    """A run failed for reasons other than user input (NaN loss, parity check). Exit 1."""

    exit_code = 1


class Interrupted(DlcliError):
    """The user interrupted (Ctrl-C/SIGTERM) after state was saved. Exit 130."""

    exit_code = 130


class StorageFullError(RunFailure):
    """No space left on the device (or the disk quota is used up) while writing a file.

    Exit 1: not the user's input, and not a bug either; ``file`` names what was written.
    """
