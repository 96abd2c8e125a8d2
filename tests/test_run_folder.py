"""The run folder: one run at a time (a lock), clean-up of only the run's own files, stale
temporary files removed, and a folder with no completed epoch restartable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from train_helpers import image_data, write_recipe
from train_processes import error_lines, saved_epoch, slow_recipe, start_dlcli, wait_until

from dlcli.cli import main
from dlcli.errors import UsageError
from dlcli.training.lock import LOCK_NAME, RunLock
from dlcli.training.rundir import RunDirectory

HOLD_LOCK = """
import sys, time
from pathlib import Path
from dlcli.training.lock import RunLock
RunLock.acquire(Path(sys.argv[1]))
print("locked", flush=True)
time.sleep(120)
"""


def test_lock_names_its_holder_and_a_dead_holders_lock_is_taken_over(tmp_path: Path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        busy = rf"in use by another dlcli train \(PID {holder.pid}\)"
        with pytest.raises(UsageError, match=busy):
            RunLock.acquire(tmp_path)
    finally:
        holder.kill()  # SIGKILL: no clean-up runs, the lock file stays with its PID
        holder.wait()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == holder.pid
    with RunLock.acquire(tmp_path) as lock:
        assert lock.previous_pid == holder.pid
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert not (tmp_path / LOCK_NAME).exists()  # released: removed


def test_second_train_into_a_busy_folder_exits_2_naming_the_pid(tmp_path: Path):
    recipe = slow_recipe(tmp_path, epochs=40)
    run = tmp_path / "run"
    first = start_dlcli("train", str(recipe), "--out", str(run), cwd=tmp_path)
    try:
        wait_until(lambda: saved_epoch(run) >= 1, first, "the first epoch")
        for extra in (["--overwrite"], ["--resume"]):
            second = start_dlcli("train", str(recipe), "--out", str(run), *extra, cwd=tmp_path)
            _, err = second.communicate(timeout=120)
            assert second.returncode == 2, err[-3000:]
            [line] = error_lines(err)
            assert f"in use by another dlcli train (PID {first.pid})" in line
            assert first.poll() is None  # the first run goes on, its files untouched
            assert saved_epoch(run) >= 1
    finally:
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=120)
    assert first.returncode == 130, err[-3000:]
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    assert len(state["history"]) == state["epoch"] >= 1
    assert all((run / "checkpoints" / name).is_file() for name in state["files"].values())


def test_checkpoint_clean_up_deletes_only_files_this_run_wrote(tmp_path: Path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    others = [
        folder / ".epoch-0001-model.npz.k3j4h5.npz",  # another process's temporary file
        folder / "notes.npz",
    ]
    for path in others:
        path.write_bytes(b"not ours")
    run = RunDirectory(tmp_path)
    files = run.save_checkpoint({"epoch": 1}, {"model": [np.ones(2)]})
    files = run.save_checkpoint({"epoch": 2, "files": files}, {"model": [np.zeros(2)]})
    assert files == {"model": "epoch-0002-model.npz"}
    assert not (folder / "epoch-0001-model.npz").exists()  # ours and superseded: removed
    assert all(path.read_bytes() == b"not ours" for path in others)


TEMPORARIES = (
    ".history.csv.a1b2c3.csv",
    ".model.keras.a1b2c3.keras",
    ".best.keras.a1b2c3.keras",
    ".metrics.json.a1b2c3.json",
    ".curves.png.a1b2c3.png",
    ".labels.json.a1b2c3.json",
)


def _plant_temporaries(run: Path) -> None:
    for name in TEMPORARIES:
        (run / name).write_bytes(b"partial")
    ckpt = run / "checkpoints"
    (ckpt / ".state.json.d4e5f6.json").write_bytes(b"partial")
    (ckpt / ".epoch-0002-model.npz.d4e5f6.npz").write_bytes(b"partial")
    (ckpt / "epoch-0009-model.npz").write_bytes(b"written but never committed")


def _left_over(run: Path) -> list[str]:
    ckpt = run / "checkpoints"
    named = set(json.loads((ckpt / "state.json").read_text())["files"].values())
    hidden = [p.name for p in (*run.iterdir(), *ckpt.iterdir()) if p.name.startswith(".")]
    unnamed = [p.name for p in ckpt.glob("epoch-*.npz") if p.name not in named]
    return hidden + unnamed


def test_stale_temporaries_removed_on_resume_and_overwrite(
    tmp_path: Path, image_folder: Path, capsys
):
    recipe = write_recipe(tmp_path / "r.yaml", data=image_data(image_folder), epochs=2)
    run = tmp_path / "run"
    assert main(["train", str(recipe), "--out", str(run), "--quiet"]) == 0
    (run / "notes.txt").write_text("the user's")
    _plant_temporaries(run)
    assert len(_left_over(run)) == 9, _left_over(run)
    assert main(["train", str(recipe), "--out", str(run), "--resume", "--quiet"]) == 0
    assert _left_over(run) == []

    _plant_temporaries(run)
    assert main(["train", str(recipe), "--out", str(run), "--overwrite", "--quiet"]) == 0
    assert _left_over(run) == []
    assert (run / "notes.txt").read_text() == "the user's"
    assert saved_epoch(run) == 2
    capsys.readouterr()


def _killed_before_first_epoch(run: Path, *, epoch_zero: bool) -> None:
    """What a run killed during start-up leaves (its PID long gone)."""
    ckpt = run / "checkpoints"
    ckpt.mkdir(parents=True)
    (run / LOCK_NAME).write_text(json.dumps({"pid": 2**22 + 7, "host": "gone"}))
    (ckpt / ".epoch-0000-model.npz.x7y8z9.npz").write_bytes(b"partial")
    if epoch_zero:
        np.savez(ckpt / "epoch-0000-model.npz", np.ones(3))
        state = {"epoch": 0, "history": [], "files": {"model": "epoch-0000-model.npz"}}
        (ckpt / "state.json").write_text(json.dumps(state))


@pytest.mark.parametrize("epoch_zero", [False, True], ids=["no-checkpoint", "epoch-0"])
@pytest.mark.parametrize("flag", [[], ["--resume"]], ids=["plain", "resume"])
def test_folder_without_a_completed_epoch_restarts(
    tmp_path: Path, image_folder: Path, capsys, flag: list[str], epoch_zero: bool
):
    recipe = write_recipe(tmp_path / "r.yaml", data=image_data(image_folder), epochs=1)
    run = tmp_path / "run"
    _killed_before_first_epoch(run, epoch_zero=epoch_zero)
    assert main(["train", str(recipe), "--out", str(run), *flag]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "first epoch" in out or "no epoch was completed" in out
    assert saved_epoch(run) == 1
    rows = (run / "history.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1"]
    assert _left_over(run) == []


def test_folder_with_other_files_and_no_checkpoint_is_still_refused(
    tmp_path: Path, image_folder: Path, capsys
):
    recipe = write_recipe(tmp_path / "r.yaml", data=image_data(image_folder), epochs=1)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "thesis.tex").write_text("mine")
    assert main(["train", str(recipe), "--out", str(run)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["train", str(recipe), "--out", str(run), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "thesis.tex"]
