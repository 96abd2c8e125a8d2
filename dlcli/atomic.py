"""Write files so that a crash never leaves a half-written one behind.

Every file dlcli produces goes through here: write to a temporary file in the same
folder, flush and fsync, then ``os.replace`` onto the final name (atomic on POSIX
and Windows when both are on one filesystem).
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from dlcli.errors import OutputExistsError, OutputPathError, UsageError


def check_writable(path: Path, *, overwrite: bool) -> None:
    """Refuse to replace a user's file unless ``overwrite`` is set."""
    if Path(path).is_dir():  # --overwrite cannot turn a folder into a file
        raise UsageError(
            "the output path is a folder", file=path, expected="a file name", hint="add a file name"
        )
    if path.exists() and not overwrite:
        raise OutputExistsError(
            "output file exists",
            file=path,
            hint="pass --overwrite to replace it, or choose another --out",
        )


@contextlib.contextmanager
def atomic_path(path: str | Path, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    For writers that insist on a file name (``model.save``, ``fig.savefig``). The
    temporary name keeps the final suffix (Keras checks ``.keras``). On error the
    temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{path.name}.",
            suffix=suffix if suffix is not None else "".join(path.suffixes) or ".tmp",
            dir=path.parent,
        )
    except OSError as exc:  # a folder that cannot exist or be written: the user's to fix
        raise OutputPathError(
            f"cannot write here ({exc.strerror or exc})",
            file=path,
            hint="choose a writable location",
        ) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.is_file():
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            # mkstemp creates 0600; give the file the mode a plain open() would.
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@functools.cache
def _umask() -> int:
    # Reading the umask means setting it; do it once, at the first write, rather than while
    # other threads (decoders, progress) may be creating files.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    write_bytes(path, text.encode(encoding))
