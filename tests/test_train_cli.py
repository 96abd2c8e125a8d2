"""``dlcli train`` end to end: output, refusals, kill -9 + --resume, Ctrl-C, NaN, skipped files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import make_image_folder
from train_helpers import image_data, write_recipe

from dlcli.cli import main

CONV_MODEL = [
    {"Rescaling": {"scale": 1 / 255}},
    {"Conv2D": {"filters": 8, "kernel_size": 3, "activation": "relu"}},
    {"Flatten": None},
    {"Dense": {"units": 2, "activation": "softmax"}},
]


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    for key in ("DLCLI_DEBUG", "TF_CONFIG", "DLCLI_LOGICAL_CPUS"):
        env.pop(key, None)
    return env


def _start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dlcli", "train", *args],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def _wait_for_epoch(run: Path, epoch: int, proc: subprocess.Popen, timeout: float = 120) -> int:
    state = run / "checkpoints" / "state.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"training ended before epoch {epoch}: {err[-2000:]}")
        try:
            done = json.loads(state.read_text())["epoch"]
        except (OSError, ValueError, KeyError):
            done = -1
        if done >= epoch:
            return done
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no checkpoint in time")


@pytest.fixture
def slow_recipe(tmp_path: Path) -> Path:
    """Enough work per epoch (~0.2 s) that a signal lands mid-run."""
    train_dir = make_image_folder(tmp_path / "train", per_class=40, size=32, seed=3)
    return write_recipe(
        tmp_path / "slow.yaml",
        data=image_data(train_dir, validation_split=0.25, image_size=[32, 32], batch_size=2),
        layers=CONV_MODEL,
        epochs=8,
    )


def test_kill_9_then_resume_finishes_planned_epochs(tmp_path: Path, slow_recipe: Path):
    run = tmp_path / "run"
    proc = _start(str(slow_recipe), "--out", str(run), cwd=tmp_path)
    killed_after = _wait_for_epoch(run, 2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (run / "metrics.json").exists()
    done = json.loads((run / "checkpoints" / "state.json").read_text())["epoch"]
    assert killed_after <= done < 8
    # The dead run's lock file stays behind with its PID; the kernel released the lock.
    assert json.loads((run / ".dlcli.lock").read_text())["pid"] == proc.pid

    resumed = _start(str(slow_recipe), "--out", str(run), "--resume", cwd=tmp_path)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    assert f"resuming after epoch {done} of 8" in out
    assert f"last used by PID {proc.pid}, which ended without finishing" in out + err
    assert not (run / ".dlcli.lock").exists()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs_run"] == metrics["epochs_planned"] == 8
    rows = (run / "history.csv").read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == [str(i) for i in range(1, 9)]
    from dlcli.modeling.loading import load_model_file

    model = load_model_file(run / "model.keras")
    assert model.output_shape == (None, 2)


def test_sigint_saves_checkpoint_and_exits_130(tmp_path: Path, slow_recipe: Path):
    run = tmp_path / "run"
    proc = _start(str(slow_recipe), "--out", str(run), cwd=tmp_path)
    _wait_for_epoch(run, 1, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-3000:]
    assert "interrupted" in err and "--resume" in err
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    assert state["epoch"] >= 1 and len(state["history"]) == state["epoch"]
    for name in state["files"].values():
        assert (run / "checkpoints" / name).is_file()
    assert not (run / "metrics.json").exists()


def test_plain_output_and_nan_failure(tmp_path: Path, image_folder: Path):
    recipe = write_recipe(tmp_path / "r.yaml", data=image_data(image_folder), epochs=3)
    proc = _start(str(recipe), "--out", str(tmp_path / "ok"), cwd=tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert "\r" not in out and "\x1b" not in out and "\x1b" not in err
    epoch_lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epoch_lines] == ["1/3", "2/3", "3/3"]
    assert "loss" in epoch_lines[0] and "samples/s" in epoch_lines[0]

    bad = write_recipe(
        tmp_path / "nan.yaml",
        data=image_data(image_folder, batch_size=2),
        layers=[{"Flatten": None}, {"Dense": {"units": 1}}],
        loss="mean_squared_error",
        metrics=[],
        epochs=3,
        optimizer={"name": "sgd", "learning_rate": 1e30},
    )
    proc = _start(str(bad), "--out", str(tmp_path / "nan"), cwd=tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err[-3000:]
    assert "NaN or infinite" in err and "learning rate" in err
    state = json.loads((tmp_path / "nan" / "checkpoints" / "state.json").read_text())
    failed_epoch = int(err.split("in epoch ")[1].split(",")[0])
    assert state["epoch"] == failed_epoch - 1  # the last good epoch is kept
    assert all((tmp_path / "nan" / "checkpoints" / n).is_file() for n in state["files"].values())
    assert not (tmp_path / "nan" / "model.keras").exists()


def test_existing_or_unwritable_out_refused_before_training(
    tmp_path: Path, image_folder: Path, capsys
):
    recipe = write_recipe(tmp_path / "r.yaml", data=image_data(image_folder))
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    assert main(["train", str(recipe), "--out", str(taken)]) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "--overwrite" in err
    assert sorted(p.name for p in taken.iterdir()) == ["notes.txt"]

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    start = time.monotonic()
    assert main(["train", str(recipe), "--out", str(blocker / "run")]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert time.monotonic() - start < 5

    assert main(["train", str(recipe), "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_skipped_file_listed_and_strict_fails_first(tmp_path: Path, image_folder: Path, capsys):
    bad = image_folder / "circle" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    recipe = write_recipe(tmp_path / "r.yaml", data=image_data(image_folder), epochs=1)
    assert main(["train", str(recipe), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip().splitlines()[-1] == str(tmp_path / "run")
    lines = (tmp_path / "run" / "skipped.txt").read_text().splitlines()
    assert len(lines) == 1 and lines[0].split("\t")[0] == str(bad)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["skipped"] == 1

    code = main(["train", str(recipe), "--out", str(tmp_path / "strict"), "--strict"])
    assert code == 2
    assert "broken.png" in capsys.readouterr().err
    assert not (tmp_path / "strict" / "checkpoints").exists()
