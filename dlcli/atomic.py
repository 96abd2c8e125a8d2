"""Write files so that a crash never leaves a half-written one behind.

Every file dlcli produces goes through here: write to a temporary file in the same
folder, flush and fsync, ``os.replace`` onto the final name (atomic on POSIX and Windows
when both are on one filesystem), then fsync the folder so the rename itself survives a
power loss. A full disk raises ``StorageFullError`` naming the file, not a bare OSError.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from dlcli import interrupts
from dlcli.errors import OutputExistsError, OutputPathError, StorageFullError, UsageError

NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


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
    temporary name keeps the final suffix (Keras checks ``.keras``). On error, Ctrl-C or
    SIGTERM the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        with interrupts.held():  # a signal here must not leave a temporary file unnamed
            tmp = _make_temporary(path, suffix)
        yield tmp
        if tmp.is_file():
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            # mkstemp creates 0600; give the file the mode a plain open() would.
            os.chmod(tmp, 0o666 & ~_umask())
        interrupts.check()  # stopped while writing: never commit the file
        os.replace(tmp, path)
        fsync_folder(path.parent)
    except OSError as exc:
        if exc.errno in NO_SPACE:
            why = exc.strerror or "no space left on the device"
            raise StorageFullError(
                why, file=path, hint="free some space and run the command again"
            ) from exc
        raise
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def _make_temporary(path: Path, suffix: str | None) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{path.name}.",
            suffix=suffix if suffix is not None else "".join(path.suffixes) or ".tmp",
            dir=path.parent,
        )
    except OSError as exc:
        if exc.errno in NO_SPACE:
            raise
        # A folder that cannot exist or be written: the user's to fix.
        raise OutputPathError(
            f"cannot write here ({exc.strerror or exc})",
            file=path,
            hint="choose a writable location",
        ) from exc
    os.close(fd)
    return Path(tmp_name)


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a folder; the rename is done either way
    finally:
        os.close(fd)


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
