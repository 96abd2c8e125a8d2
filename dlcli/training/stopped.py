"""What a stopped run tells the user: what is saved on disk and the command that continues.

Read from the committed ``checkpoints/state.json`` itself, not from the engine's memory, so
the message is true wherever the run stopped (start-up, an epoch, the final save).
"""

from __future__ import annotations

import errno
import shlex
from pathlib import Path
from typing import Any

from dlcli import interrupts
from dlcli.errors import Interrupted, StorageFullError
from dlcli.training.runstart import completed_epochs

NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def saved_summary(out: Path, epochs: int) -> tuple[str, str]:
    """(what is saved, the verb for the hint: continue/finish/start again)."""
    done = completed_epochs(out)
    where = out / "checkpoints"
    if done is None or done <= 0:
        return "no epoch was completed, so nothing trained is saved", "start it again with"
    if done >= epochs:
        return f"all {done} epochs are saved in {where}", "write the final files with"
    done_text = "epoch 1 is" if done == 1 else f"epochs 1-{done} are"
    return f"{done_text} saved (of {epochs}) in {where}", "continue with"


def stopped_by_signal(exc: BaseException, out: Path, epochs: int, command: str) -> Interrupted:
    if not out.is_dir():  # stopped before the run folder was made: --resume would refuse
        return Interrupted(
            f"training interrupted ({interrupts.signal_name(exc)}) before the run folder "
            "was created; nothing was written",
            file=out,
            hint="run the same command again",
        )
    saved, verb = saved_summary(out, epochs)
    return Interrupted(
        f"training interrupted ({interrupts.signal_name(exc)}); {saved}",
        hint=f"{verb}: {command}",
    )


def disk_full(
    exc: StorageFullError | OSError, out: Path, epochs: int, command: str
) -> StorageFullError | None:
    """A ``StorageFullError`` that says how to resume, or None if ``exc`` is another error."""
    if isinstance(exc, StorageFullError):
        file, why = exc.problem.file, exc.problem.message
    elif exc.errno in NO_SPACE:
        file, why = exc.filename, f"{exc.strerror or 'no space left on the device'}"
    else:
        return None
    saved, verb = saved_summary(out, epochs)
    where = f" while writing {file}" if file else ""
    return StorageFullError(
        f"training stopped: {why}{where}; {saved}",
        hint=f"free some space, then {verb}: {command}",
    )


def default_resume_command(recipe: Any, out: Path) -> str:
    """``dlcli train RECIPE --out OUT --resume`` when the caller did not say how it was run."""
    source = getattr(recipe, "source", None)
    return shlex.join(["dlcli", "train", str(source or "RECIPE"), "--out", str(out), "--resume"])
