"""Which files a list of sources names, and the record of a file that was not used.

``dlcli predict``, ``evaluate`` and ``train`` take files, folders and glob patterns. The
rules, stated once and shared by all three:

- hidden files and folders (``.DS_Store``, ``._*``, ``.git/``) are passed over silently;
- files whose extension is not an image's (``README.txt``) are *ignored*: listed once as
  :data:`NOT_AN_IMAGE`, never a failure (no exit code 3);
- a source that does not exist, a pattern that matches nothing and a symbolic link that
  cannot be followed (a loop such as ``self -> self``, a missing target) are *skipped*
  with their reason, as are image files that cannot be decoded (:mod:`dlcli.data.decode`).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dlcli.errors import DataError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff"})
_GLOB_CHARS = frozenset("*?[")
NOT_AN_IMAGE = "not an image (ignored)"
NOT_FOUND = "no such file or directory"
NO_MATCH = "pattern matched no files"


@dataclass(frozen=True)
class SkippedFile:
    """A file that was not used, and why (shown to the user and written to skipped.txt).

    ``ignored`` marks files that were never meant to be images (their extension is not an
    image's, e.g. ``README.txt``): they are listed once but are not a failure (no exit 3).
    """

    path: str
    reason: str
    ignored: bool = False


def has_failures(skipped: Iterable[SkippedFile]) -> bool:
    """Whether any file that should have been usable was not (exit code 3 territory)."""
    return any(not s.ignored for s in skipped)


def is_hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("._")


def find_images(
    sources: Iterable[str | os.PathLike[str]], recursive: bool = True
) -> tuple[list[str], list[SkippedFile]]:
    """Expand files, folders and glob patterns into image paths (see :func:`find_files`)."""
    return find_files(sources, recursive, suffixes=IMAGE_EXTENSIONS, other=NOT_AN_IMAGE)


def find_files(
    sources: Iterable[str | os.PathLike[str]],
    recursive: bool,
    *,
    suffixes: Collection[str],
    other: str,
) -> tuple[list[str], list[SkippedFile]]:
    """Expand files, folders and glob patterns into the paths whose extension (lower-case,
    with the dot) is in ``suffixes``: one listing rule for every kind of input file.

    Hidden files and folders (``.DS_Store``, ``._*``, ``.git/``) are ignored silently;
    other files are returned as ``ignored`` skipped files with the reason ``other``.
    Sources that do not exist and links that cannot be followed (a loop such as
    ``self -> self``, a broken link) are returned as skipped. Order: sources in the order
    given, each folder sorted; no duplicates.
    """
    found: list[str] = []
    skipped: list[SkippedFile] = []
    seen: set[str] = set()

    def consider(p: str) -> None:
        if p in seen:
            return
        seen.add(p)
        if is_hidden(os.path.basename(p)):
            return
        if os.path.splitext(p)[1].lower() in suffixes:
            found.append(p)  # decoding says why when it cannot be read
        elif (problem := _link_problem(p)) is not None:
            skipped.append(SkippedFile(p, problem))
        else:
            skipped.append(SkippedFile(p, other, ignored=True))

    for source in sources:
        src = os.fspath(source)
        if os.path.isdir(src):
            for p in walk(src, recursive):
                consider(p)
        elif os.path.isfile(src):
            consider(src)
        elif any(c in src for c in _GLOB_CHARS):
            matches = sorted(glob.glob(src, recursive=recursive))
            if not matches:
                skipped.append(SkippedFile(src, NO_MATCH))
            for m in matches:
                if os.path.isdir(m):
                    for p in walk(m, recursive):
                        consider(p)
                elif not any(is_hidden(part) for part in Path(m).parts[-2:]):
                    consider(m)
        elif (problem := _link_problem(src)) is not None:
            skipped.append(SkippedFile(src, problem))
        else:
            skipped.append(SkippedFile(src, NOT_FOUND))
    return found, skipped


def _link_problem(path: str) -> str | None:
    """Why a symbolic link cannot be followed (a loop, a missing target), else None.

    A link that cannot be followed may have pointed at a folder of images, so it is a
    skipped file, never an ignored one.
    """
    if not os.path.islink(path):
        return None
    try:
        os.stat(path)
    except OSError as exc:
        return f"symbolic link cannot be followed ({exc.strerror or exc})"
    return None


def walk(root: str, recursive: bool) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not is_hidden(d)) if recursive else []
        for name in sorted(filenames):
            yield os.path.join(dirpath, name)


def unsearched_subfolders(sources: list[str]) -> int:
    """Sub-folders a search without --recursive left out (links that loop are not folders)."""
    count = 0
    for src in sources:
        if os.path.isdir(src):
            with os.scandir(src) as entries:
                count += sum(1 for e in entries if not e.name.startswith(".") and _is_dir(e))
    return count


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a `self -> self` link: find_images reports it as skipped
        return False


def no_inputs_error(
    sources: list[str], skipped: list[SkippedFile], recursive: bool, noun: str, expected: str
) -> DataError:
    """Why a command found nothing to read (predict, explain): paths that do not exist
    first, else what was found."""
    missing = [s for s in skipped if s.reason in (NOT_FOUND, NO_MATCH)]
    if missing:
        first = missing[0]
        message = "path does not exist" if first.reason == NOT_FOUND else NO_MATCH
        if len(missing) > 1:
            message += f" (nor do {len(missing) - 1} other source(s): "
            message += ", ".join(s.path for s in missing[1:4])
            message += ", ...)" if len(missing) > 4 else ")"
        return DataError(message, file=first.path, expected=expected)
    hint = None
    if not recursive and unsearched_subfolders(sources):
        hint = "the folder has sub-folders; pass --recursive to search them"
    received = ...
    if skipped:
        shown = "; ".join(f"{os.path.basename(s.path)}: {s.reason}" for s in skipped[:3])
        more = f"; and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        received = f"{len(skipped)} other file(s) ({shown}{more})"
    return DataError(
        f"no {noun} found",
        file=", ".join(sources),
        expected=expected,
        received=received,
        hint=hint,
    )
