"""What ``dlcli init`` finds out about a dataset and the recipe it drafts from it.

A :class:`Starter` looks at one kind of data (image, sound or text class folders, a
table). ``claim`` says whether, and how strongly, a path looks like its data; ``draft``
reads it and returns a :class:`Draft`: the recipe's data section, model layers and train
settings, each line with the comment saying why, and the :class:`Finding` list that
``dlcli init`` prints. Nothing here prints or writes files, and nothing imports TensorFlow.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Finding:
    """One thing detected: ``topic`` (``kind``, ``image_size``...), the value, and why."""

    topic: str
    value: str
    why: str
    warning: bool = False


@dataclass(frozen=True)
class Entry:
    """One ``key: value  # comment`` line of the recipe (a layer: ``- Type: args``)."""

    key: str
    value: Any = None
    comment: str = ""


@dataclass
class Draft:
    """A starter recipe before it is written: sections as entries, plus what was found."""

    kind: str
    name: str
    data: list[Entry]
    layers: list[Entry]
    train: list[Entry]
    findings: list[Finding] = field(default_factory=list)
    header: list[str] = field(default_factory=list)  # comment lines at the top


@dataclass(frozen=True)
class Claim:
    """How sure a starter is that the path holds its data (0..1), and why."""

    score: float
    why: str


@dataclass(frozen=True)
class Source:
    """The data ``dlcli init`` was pointed at: training and validation parts, and where the
    recipe will be written (its paths are relative to the recipe's folder)."""

    given: Path
    train: Path
    validation: Path | None
    layout: str  # how the parts were found, for the findings
    recipe_dir: Path
    label: str | None = None  # --label

    def recipe_path(self, path: Path) -> str:
        """``path`` as the recipe should spell it: relative to the recipe's folder."""
        # abspath, not resolve: a data folder reached through a link keeps its name.
        target = os.path.abspath(path)
        try:
            return Path(os.path.relpath(target, os.path.abspath(self.recipe_dir))).as_posix()
        except ValueError:  # another drive
            return Path(target).as_posix()

    def split_entries(self) -> list[Entry]:
        """The ``train`` and ``validation`` entries (without a validation part,
        ``validation_split: 0.2``)."""
        if self.validation is not None:
            held_out = Entry("validation", self.recipe_path(self.validation))
        else:
            held_out = Entry("validation_split", 0.2, "20% held out for validation")
        return [Entry("train", self.recipe_path(self.train)), held_out]


class Starter(ABC):
    """Drafts recipes for one data kind (``kind``: the registered data kind's name)."""

    kind: str

    @abstractmethod
    def claim(self, source: Source) -> Claim | None:
        """Whether ``source.train`` looks like this starter's data; None if not at all."""

    @abstractmethod
    def draft(self, source: Source) -> Draft:
        """Read the data and draft the recipe (raises ``DataError`` when it is unusable)."""


def data_name(path: Path) -> str:
    """A recipe name from the data's folder or file name (``data/digits`` -> ``digits``)."""
    import re

    resolved = path.resolve()
    stem = resolved.stem if resolved.is_file() else resolved.name
    if stem.lower() in ("train", "training", "data", "dataset") and resolved.parent.name:
        stem = resolved.parent.name
    return re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_") or "starter"
