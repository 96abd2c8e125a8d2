"""Opening a run folder: check it, lock it, decide between resuming and starting afresh.

Everything here happens before TensorFlow starts, under the run's lock (``lock.py``), so
what it removes cannot belong to another live run:

- ``--resume`` continues from the last completed epoch; a folder a run left before its
  first completed epoch (only run files, no epoch in ``checkpoints/state.json``) starts
  again from the beginning, as does a plain re-run into it;
- ``--overwrite`` removes exactly the run's own files (``rundir.RUN_FILES``/``RUN_FOLDERS``);
- temporary files that a killed session left (``.model.keras.*``, ``.state.json.*``,
  checkpoint arrays never committed) are removed in every case.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from dlcli import interrupts
from dlcli.errors import OutputExistsError, UsageError
from dlcli.training.lock import LOCK_NAME, RunLock
from dlcli.training.rundir import RUN_FILES, RUN_FOLDERS, STATE_FILE, missing_dirs

_ARRAY_FILE = re.compile(r"epoch-\d+-\w+\.npz")
# Temporary names of dlcli.atomic (".NAME.XXXX.suffix") and the old write probe.
_TEMP_PREFIXES = (*(f".{name}." for name in RUN_FILES), ".dlcli-write-test-")
_CHECKPOINT_TEMP_PREFIXES = (f".{STATE_FILE}.", ".epoch-")


@dataclass
class RunStart:
    """An opened, locked run folder and what the run does in it."""

    path: Path  # absolute
    resume: bool  # continue from a completed epoch
    lock: RunLock
    created: list[Path] = field(default_factory=list)  # folders made for it, deepest first
    notes: list[str] = field(default_factory=list)  # said when the run starts

    def release(self, *, remove_empty: bool) -> None:
        """Give up the lock; ``remove_empty``: also the folders made for it, if still empty.

        A signal arriving now finds nothing left to stop: it must not replace the run's
        result or the message of a stop already under way.
        """
        with contextlib.suppress(interrupts.StopSignal), interrupts.held():
            self.lock.release()
            for folder in self.created if remove_empty else ():
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()


def open_run_dir(out: Path, *, resume: bool, overwrite: bool) -> RunStart:
    """Check, create and lock ``out``; raise ``DlcliError`` (exit 2) when it cannot be used."""
    out = Path(out).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise UsageError(
            "--out is a file, not a folder", file=out, hint="choose a folder for the run"
        )
    if resume and not out.is_dir():
        raise _nothing_to_resume(out)
    created = missing_dirs(out)
    lock: RunLock | None = None
    try:
        with interrupts.held():  # Ctrl-C must not leave a lock file that nobody releases
            lock = _lock(out)
        start = RunStart(out, resume=False, lock=lock, created=created)
        _decide(start, resume=resume, overwrite=overwrite)
        remove_stale_temporaries(out)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    if lock.note:
        start.notes.append(lock.note)
    if lock.previous_pid is not None:
        start.notes.append(
            f"the run folder was last used by PID {lock.previous_pid}, which ended "
            "without finishing (killed?); its lock was released"
        )
    return start


def _lock(out: Path) -> RunLock:
    try:
        out.mkdir(parents=True, exist_ok=True)
        return RunLock.acquire(out)  # also proves the folder is writable
    except OSError as exc:
        raise UsageError(
            f"cannot write to the run folder ({exc.strerror or exc})",
            file=out,
            hint="choose a writable --out",
        ) from None


def _decide(start: RunStart, *, resume: bool, overwrite: bool) -> None:
    out = start.path
    done = completed_epochs(out)
    restartable = (done is None or done == 0) and _only_run_files(out)
    if resume:
        if done is not None and done != 0:
            start.resume = True  # an unreadable state.json too: resuming reports the damage
            return
        if not restartable:
            raise _nothing_to_resume(out)
        clear_run(out)
        start.notes.append("no epoch was completed in this run folder: starting from the beginning")
        return
    if not _holds_run_files(out) and not _foreign(out):
        return
    if overwrite:
        clear_run(out)
    elif restartable:
        clear_run(out)
        start.notes.append(
            "the run folder held a run stopped before its first epoch: starting it again"
        )
    else:
        raise OutputExistsError(
            "the run folder exists and is not empty",
            file=out,
            hint="pass --resume to continue that run, --overwrite to start it again, "
            "or choose another --out",
        )


def completed_epochs(out: Path) -> int | None:
    """The last completed epoch in ``out``'s checkpoint; None without one; -1 if unreadable."""
    path = Path(out) / "checkpoints" / STATE_FILE
    if not path.is_file():
        return None
    try:
        epoch = json.loads(path.read_text("utf-8")).get("epoch")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return -1
    return epoch if isinstance(epoch, int) else -1


def clear_run(out: Path) -> None:
    """Remove the run's own files and folders (and temporaries); nothing else."""
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    for name in RUN_FOLDERS:
        shutil.rmtree(out / name, ignore_errors=True)
    remove_stale_temporaries(out)


def remove_stale_temporaries(out: Path) -> list[Path]:
    """Delete temporary files a killed session of this run left; return what was removed.

    Only names dlcli itself makes: ``.NAME.*`` beside each run file, ``.state.json.*`` and
    ``.epoch-*`` in ``checkpoints/``, and checkpoint array files ``state.json`` does not
    name (written by a session killed before it committed them).
    """
    removed = [p for p in _entries(out) if p.name.startswith(_TEMP_PREFIXES)]
    folder = out / "checkpoints"
    removed += [p for p in _entries(folder) if p.name.startswith(_CHECKPOINT_TEMP_PREFIXES)]
    named = _named_arrays(folder)
    if named is not None:
        removed += [
            p for p in _entries(folder) if _ARRAY_FILE.fullmatch(p.name) and p.name not in named
        ]
    for path in removed:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return removed


def _named_arrays(folder: Path) -> set[str] | None:
    """The array files ``state.json`` names; None when there is no readable state.json."""
    try:
        files = json.loads((folder / STATE_FILE).read_text("utf-8")).get("files") or {}
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return None
    return {str(name) for name in files.values()} if isinstance(files, dict) else None


def _entries(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def _is_run_entry(path: Path) -> bool:
    name = path.name
    known = name in RUN_FILES or name in RUN_FOLDERS or name == LOCK_NAME
    return known or name.startswith(_TEMP_PREFIXES)


def _holds_run_files(out: Path) -> bool:
    return any(_is_run_entry(p) and p.name != LOCK_NAME for p in _entries(out))


def _foreign(out: Path) -> bool:
    return any(not _is_run_entry(p) for p in _entries(out))


def _only_run_files(out: Path) -> bool:
    return not _foreign(out)


def _nothing_to_resume(out: Path) -> UsageError:
    return UsageError(
        "nothing to resume: no checkpoint in the run folder",
        file=out,
        expected=f"{out / 'checkpoints' / STATE_FILE} from an earlier dlcli train --out",
        hint="start a new run without --resume",
    )
