"""SIGINT/SIGTERM at any moment of ``dlcli train``: exit 130, one line saying what is saved
and the exact ``--resume`` command, no temporary files left; that command then works."""

from __future__ import annotations

import shlex
import signal
from pathlib import Path

import pytest
from conftest import make_image_folder
from train_helpers import image_data, write_recipe
from train_processes import (
    CONV_MODEL,
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


def _heavy_save_recipe(tmp_path: Path) -> Path:
    """Two short epochs of a model with ~2.4 M weights: the final save writes ~28 MB
    (model.keras with its optimizer state), a window of a good fraction of a second."""
    train_dir = make_image_folder(tmp_path / "train", per_class=8, size=32, seed=3)
    layers = [*CONV_MODEL[:-1], {"Dense": {"units": 320, "activation": "relu"}}, CONV_MODEL[-1]]
    return write_recipe(
        tmp_path / "heavy.yaml",
        data=image_data(train_dir, validation_split=0.25, image_size=[32, 32], batch_size=4),
        layers=layers,
        epochs=2,
    )


def _final_save_started(run: Path) -> bool:
    """model.keras's temporary file exists: the final save is under way, nothing committed."""
    return any(run.glob(".model.keras.*"))


def test_sigterm_during_final_save_then_resume_command_finishes(tmp_path: Path):
    recipe = _heavy_save_recipe(tmp_path)
    run = tmp_path / "my run"  # a space: the printed command must be shell-quoted
    proc = start_dlcli("train", str(recipe), "--out", str(run), cwd=tmp_path)
    # Not the last checkpoint: the final files are written right after it and a loaded
    # machine could finish them before the signal lands. model.keras's temporary file is
    # the final save's first observable step; it is renamed only if no signal came.
    wait_until(lambda: _final_save_started(run), proc, "the final save's first file")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    [line] = error_lines(err)
    command = shlex.join(["dlcli", "train", str(recipe), "--out", str(run), "--resume"])
    assert "training interrupted (SIGTERM); all 2 epochs are saved" in line
    assert line.endswith(command + ")")
    assert hidden_files(run) == []
    assert saved_epoch(run) == 2
    for name in ("model.keras", "best.keras", "metrics.json", "curves.png"):
        assert not (run / name).exists(), name  # stopped before its first final file

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
