"""``dlcli init``: look at a dataset and draft a commented starter recipe that trains as-is.

One :class:`~dlcli.starter.base.Starter` per kind of data (``*_starter.py``), listed in
:data:`STARTERS`; each says how sure it is that the data is its kind (``claim``), the
surest drafts the recipe. Adding a kind of data is adding a module and a line here.
No TensorFlow is imported; nothing is printed or written (``commands/init.py`` does that).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from dlcli.errors import DataError, UsageError
from dlcli.starter.base import Claim, Draft, Finding, Source, Starter
from dlcli.starter.compose import compose
from dlcli.starter.layout import find_source


def _starters() -> list[Starter]:
    from dlcli.starter.audio_starter import AudioStarter
    from dlcli.starter.csv_starter import CsvStarter
    from dlcli.starter.image_starter import ImageStarter
    from dlcli.starter.table_starter import TableStarter
    from dlcli.starter.text_starter import TextStarter

    return [ImageStarter(), AudioStarter(), TextStarter(), TableStarter(), CsvStarter()]


STARTERS: list[Starter] = []


@dataclass(frozen=True)
class StarterRecipe:
    """The drafted recipe's text, and what was found (for ``dlcli init`` to print)."""

    text: str
    kind: str
    findings: list[Finding]
    source: Source


def register_starter(starter: Starter) -> Starter:
    """Add a starter (a plug-in's or a test's kind); it is asked after the built-in ones."""
    STARTERS.append(starter)
    return starter


def _check_folder(source: Source) -> None:
    """A folder needs class folders; say what it holds instead."""
    from dlcli.starter.layout import class_dirs

    if not source.train.is_dir() or class_dirs(source.train):
        return
    loose = sum(1 for p in source.train.iterdir() if p.is_file() and not p.name.startswith("."))
    raise DataError(
        "the folder has no class sub-folders",
        file=source.train,
        expected="<folder>/<class name>/<files>, or a table with a label column",
        hint=f"found {loose} files directly in the folder; move them into one sub-folder per class"
        if loose
        else None,
    )


def _choose(source: Source) -> tuple[Starter, Claim]:
    _check_folder(source)
    claims = [(s, s.claim(source)) for s in [*_starters(), *STARTERS]]
    found = [(s, c) for s, c in claims if c is not None]
    if not found:
        raise DataError(
            "cannot tell what this data is",
            file=source.train,
            expected="class folders of images, sound files or .txt files, or a table (.csv)",
            hint="see docs/recipes.md for the layouts dlcli reads",
        )
    return max(found, key=lambda sc: sc[1].score)  # the first of equal claims wins


def draft_recipe(data: Path, *, out: Path, label: str | None = None) -> StarterRecipe:
    """Look at ``data`` and draft the recipe to be written at ``out``."""
    source = find_source(Path(data), Path(out).parent, label)
    if label is not None and source.train.is_dir():
        raise UsageError(
            "--label names a table's label column; a folder's labels are its class folders",
            field="--label",
            received=label,
        )
    starter, claim = _choose(source)
    draft: Draft = starter.draft(source)
    findings = [
        Finding("data", str(source.given), source.layout),
        Finding("kind", draft.kind, claim.why),
        *draft.findings,
    ]
    draft.header = [
        f"Starter recipe written by `dlcli init {data}` on {date.today().isoformat()}.",
        f"Detected: {draft.kind} data ({claim.why}). Each setting says why it was chosen.",
        f"Check it: dlcli validate {Path(out).name}   Train it: dlcli train {Path(out).name}",
        "",
    ]
    return StarterRecipe(compose(draft), draft.kind, findings, source)
