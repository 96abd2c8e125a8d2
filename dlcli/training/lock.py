"""One ``dlcli train`` per run folder: an advisory lock held for the run's whole life.

The lock is ``fcntl.flock`` on ``OUT/.dlcli.lock``, which holds the owner's PID and host.
The kernel drops a flock when its process dies, however it dies (kill -9 included), so a
lock file left by a dead run is simply taken over: stale locks recover by themselves, and
``previous_pid`` tells who left it. The file is removed on release; a process that opened
it just before the removal notices (the path no longer names the file it locked) and
tries again, so two processes can never both believe they hold the lock.

No TensorFlow here: the lock is taken before any training work.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from dlcli.errors import UsageError

LOCK_NAME = ".dlcli.lock"
_PID_WAIT_S = 2.0  # how long to wait for a just-started holder to write its PID


class RunLock:
    """The held lock of one run folder; ``release()`` (or ``with``) gives it up."""

    def __init__(self, path: Path, fd: int | None, previous_pid: int | None, note: str | None):
        self.path = path
        self._fd = fd
        self.previous_pid = previous_pid  # a dead run's PID found in the lock file
        self.note = note  # said at the start of the run (e.g. the filesystem cannot lock)

    @classmethod
    def acquire(cls, folder: Path) -> RunLock:
        """Lock ``folder`` (which must exist) or raise ``UsageError`` naming the holder."""
        path = Path(folder) / LOCK_NAME
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _wait_for_holder(fd)
                os.close(fd)
                raise _locked(folder, holder) from None
            except OSError as exc:  # a filesystem without locks (some network mounts)
                os.close(fd)
                path.unlink(missing_ok=True)
                return cls(path, None, None, _no_lock_note(exc))
            if _names_same_file(fd, path):
                break
            os.close(fd)  # released and removed between our open and flock: again
        previous = _read_owner(fd).get("pid")
        _write_owner(fd)
        dead = previous if isinstance(previous, int) and previous != os.getpid() else None
        return cls(path, fd, dead, None)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()  # while still locked: nobody can lock this file afterwards
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _names_same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _read_owner(fd: int) -> dict[str, object]:
    try:
        doc = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _write_owner(fd: int) -> None:
    doc = {"pid": os.getpid(), "host": socket.gethostname()}
    data = (json.dumps(doc) + "\n").encode("utf-8")
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _wait_for_holder(fd: int) -> dict[str, object]:
    """The holder's record; it may be a moment between its lock and its write."""
    deadline = time.monotonic() + _PID_WAIT_S
    while True:
        owner = _read_owner(fd)
        if owner.get("pid") or time.monotonic() > deadline:
            return owner
        time.sleep(0.02)


def _locked(folder: Path, holder: dict[str, object]) -> UsageError:
    pid = holder.get("pid")
    who = f"PID {pid}" if pid else "a process whose PID could not be read"
    host = holder.get("host")
    if host and host != socket.gethostname():
        who += f" on {host}"
    return UsageError(
        f"the run folder is in use by another dlcli train ({who})",
        file=folder,
        hint="wait for that run to finish or stop it (Ctrl-C saves it), or choose another --out",
    )


def _no_lock_note(exc: OSError) -> str:
    why = errno.errorcode.get(exc.errno or 0, str(exc))
    return (
        f"the run folder's filesystem does not support locks ({why}); "
        "make sure no other dlcli train writes into it"
    )
