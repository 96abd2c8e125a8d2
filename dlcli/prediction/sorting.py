"""``--sort-into DIR``: put each image into ``DIR/<predicted label>/``, never overwriting.

A name already taken gets ``_1``, ``_2``... before the extension. Names are claimed with
exclusive-create operations (``O_EXCL``, ``link``, ``symlink`` all fail on an existing name),
so a file already there, or one written by another process at the same moment, is never
replaced. Copies are written to a temporary file first and renamed onto the claimed name,
so an interrupted run leaves no half-copied image.

``--link`` makes a hard link (no extra space, same file); where that is impossible (another
filesystem, a filesystem without hard links) it falls back to a symbolic link to the
absolute source path. The counts of each kind are reported.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

_MAX_SUFFIX = 100_000


def safe_folder_name(label: str) -> str:
    """A class label as one folder name: no separators, never ``.``/``..``/empty."""
    name = label.replace("/", "_").replace("\\", "_").replace("\x00", "_").strip()
    if name in ("", ".", ".."):
        name = f"_{name}"
    return name


def _candidates(folder: Path, filename: str):
    stem, ext = os.path.splitext(filename)
    yield folder / filename
    for i in range(1, _MAX_SUFFIX):
        yield folder / f"{stem}_{i}{ext}"


@dataclass
class ImageSorter:
    root: Path
    link: bool = False
    copied: int = 0
    hard_links: int = 0
    symlinks: int = 0
    placed: dict[str, int] = field(default_factory=dict)

    def place(self, source: str, label: str) -> Path:
        folder = self.root / safe_folder_name(label)
        folder.mkdir(parents=True, exist_ok=True)
        name = os.path.basename(source)
        dest = self._link(source, folder, name) if self.link else self._copy(source, folder, name)
        self.placed[label] = self.placed.get(label, 0) + 1
        return dest

    def _link(self, source: str, folder: Path, name: str) -> Path:
        hard_ok = True
        for dest in _candidates(folder, name):
            try:
                if hard_ok:
                    os.link(source, dest)
                    self.hard_links += 1
                else:
                    os.symlink(os.path.abspath(source), dest)
                    self.symlinks += 1
                return dest
            except FileExistsError:
                continue
            except OSError:
                if not hard_ok:
                    raise
                hard_ok = False  # cross-device or unsupported: symlink from now on
                try:
                    os.symlink(os.path.abspath(source), dest)
                except FileExistsError:
                    continue
                self.symlinks += 1
                return dest
        raise FileExistsError(f"no free name for {name} in {folder}")

    def _copy(self, source: str, folder: Path, name: str) -> Path:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
        os.close(fd)
        try:
            shutil.copy2(source, tmp_name)
            for dest in _candidates(folder, name):
                try:
                    claim = os.open(dest, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
                    continue
                os.close(claim)
                os.replace(tmp_name, dest)  # onto the empty file we just created
                self.copied += 1
                return dest
            raise FileExistsError(f"no free name for {name} in {folder}")
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)

    def describe(self) -> str:
        total = self.copied + self.hard_links + self.symlinks
        parts = []
        if self.copied:
            parts.append(f"{self.copied} copied")
        if self.hard_links:
            parts.append(f"{self.hard_links} hard-linked")
        if self.symlinks:
            parts.append(f"{self.symlinks} symlinked (hard links not possible here)")
        detail = ", ".join(parts) if parts else "nothing placed"
        return f"sorted {total} images into {self.root}/<label>/ ({detail})"
