"""SIGINT/SIGTERM at any moment of ``dlcli train``: exit 130, one line saying what is saved
and the exact ``--resume`` command, no temporary files left; that command then works."""

from __future__ import annotations

import shlex
import signal
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


@pytest.mark.parametrize(
    ("sig", "moment"),
    [
        (signal.SIGTERM, "folder"),  # TensorFlow not even imported yet
        (signal.SIGINT, "folder"),
        (signal.SIGTERM, "epoch 0"),  # model built, first step being traced
    ],
)
def test_signal_during_start_up(tmp_path: Path, sig: signal.Signals, moment: str):
    recipe = slow_recipe(tmp_path, epochs=2)
    run = tmp_path / "run"
    proc = start_dlcli("train", str(recipe), "--out", str(run), "--set", "seed=3", cwd=tmp_path)
    if moment == "folder":
        wait_until(run.is_dir, proc, "the run folder")
    else:
        wait_until(lambda: saved_epoch(run) == 0, proc, "the epoch-0 checkpoint")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "epoch 1/2" not in out  # no training step was reported
    command = f"dlcli train {recipe} --out {run} --resume --set seed=3"
    [line] = error_lines(err)
    assert f"training interrupted ({sig.name})" in line
    assert "no epoch was completed" in line and line.endswith(command + ")")
    assert hidden_files(run) == []  # no temporary files, no lock file
    assert saved_epoch(run) in (-1, 0)
    if moment == "epoch 0":  # the printed command starts the run again
        again = start_dlcli(*shlex.split(command)[1:], cwd=tmp_path)
        out, err = again.communicate(timeout=300)
        assert again.returncode == 0, err[-3000:]
        assert "no epoch was completed in this run folder" in out + err
        assert saved_epoch(run) == 2


def test_sigterm_during_final_save_then_resume_command_finishes(tmp_path: Path):
    recipe = slow_recipe(tmp_path, epochs=2)
    run = tmp_path / "my run"  # a space: the printed command must be shell-quoted
    proc = start_dlcli("train", str(recipe), "--out", str(run), cwd=tmp_path)
    wait_until(lambda: saved_epoch(run) == 2, proc, "the last epoch's checkpoint")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    [line] = error_lines(err)
    command = shlex.join(["dlcli", "train", str(recipe), "--out", str(run), "--resume"])
    assert "training interrupted (SIGTERM); all 2 epochs are saved" in line
    assert line.endswith(command + ")")
    assert hidden_files(run) == []
    assert not (run / "metrics.json").exists()  # the final files were not (all) written

    again = start_dlcli(*shlex.split(command)[1:], cwd=tmp_path)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-3000:]
    for name in ("model.keras", "best.keras", "metrics.json", "history.csv", "curves.png"):
        assert (run / name).is_file(), name
    assert hidden_files(run) == []


def test_stopped_before_the_folder_exists_does_not_offer_resume(tmp_path: Path):
    from dlcli.interrupts import StopSignal
    from dlcli.training.stopped import stopped_by_signal

    command = f"dlcli train r.yaml --out {tmp_path / 'run'} --resume"
    text = stopped_by_signal(StopSignal("SIGINT"), tmp_path / "run", 3, command).format()
    assert "--resume" not in text and "nothing was written" in text  # --resume would refuse
    (tmp_path / "run").mkdir()
    text = stopped_by_signal(StopSignal("SIGINT"), tmp_path / "run", 3, command).format()
    assert text.endswith(f"(start it again with: {command})")
