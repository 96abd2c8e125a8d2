"""A real full disk (a tiny tmpfs): the file being written is named, the run can be resumed
with the printed command, and nobody calls it a bug. Needs root to mount (CI runs as root);
skipped with the reason elsewhere."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from train_processes import (
    error_lines,
    hidden_files,
    saved_epoch,
    slow_recipe,
    start_dlcli,
    wait_until,
)

from dlcli.atomic import write_bytes
from dlcli.errors import StorageFullError


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted at tmp_path/disk, unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)]
    try:
        done = subprocess.run(mount, capture_output=True, text=True, timeout=30)
    except OSError as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=30)


def _fill(disk: Path) -> Path:
    """Write zeros until the device says it is full."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as fh:  # unbuffered: nothing left to fail at close
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError:
            pass
    return filler


def test_atomic_write_on_a_full_disk_names_the_file_and_leaves_no_temporary(small_disk: Path):
    target = small_disk / "out" / "predictions.csv"
    target.parent.mkdir()
    with pytest.raises(StorageFullError) as caught:
        write_bytes(target, b"x" * (8 * 1024 * 1024))
    assert caught.value.exit_code == 1
    assert caught.value.problem.file == target
    assert "No space left on device" in caught.value.format()
    assert list(target.parent.iterdir()) == []


def test_disk_full_during_training_says_how_to_resume(tmp_path: Path, small_disk: Path):
    recipe = slow_recipe(tmp_path, epochs=6)
    run = small_disk / "run"
    proc = start_dlcli("train", str(recipe), "--out", str(run), cwd=tmp_path)
    wait_until(lambda: saved_epoch(run) >= 1, proc, "the first epoch")
    filler = _fill(small_disk)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err[-3000:]
    [line] = error_lines(err)
    command = shlex.join(["dlcli", "train", str(recipe), "--out", str(run), "--resume"])
    assert "No space left on device while writing " + str(run) in line
    assert line.endswith(f"(free some space, then continue with: {command})")
    assert "bug" not in line and "Traceback" not in err
    done = saved_epoch(run)
    assert 1 <= done < 6 and f"epoch{'s 1-' if done > 1 else ' '}{done}" in line
    assert hidden_files(run) == []

    filler.unlink()
    again = start_dlcli(*shlex.split(command)[1:], cwd=tmp_path)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-3000:]
    assert f"resuming after epoch {done} of 6" in out
    assert saved_epoch(run) == 6 and (run / "model.keras").is_file()


def test_a_command_on_a_full_disk_exits_1_naming_the_file(small_disk: Path, capsys):
    from dlcli.cli import main

    _fill(small_disk)
    target = small_disk / "recipe.schema.json"
    assert main(["schema", "--out", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"error: {target}: No space left on device (free some space and run the command again)"
    ]
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]
