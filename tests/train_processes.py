"""Real ``dlcli`` subprocesses for the tests where start-up, signals or exit codes matter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import make_image_folder
from train_helpers import image_data, write_recipe

CONV_MODEL = [
    {"Rescaling": {"scale": 1 / 255}},
    {"Conv2D": {"filters": 8, "kernel_size": 3, "activation": "relu"}},
    {"Flatten": None},
    {"Dense": {"units": 2, "activation": "softmax"}},
]


def dlcli_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    for key in ("DLCLI_DEBUG", "TF_CONFIG", "DLCLI_LOGICAL_CPUS"):
        env.pop(key, None)
    return env


def start_dlcli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dlcli", *args],
        cwd=cwd,
        env=dlcli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def wait_until(
    ready: Callable[[], bool], proc: subprocess.Popen[str], what: str, timeout: float = 120
) -> None:
    """Poll ``ready`` every few milliseconds; fail if ``proc`` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"dlcli ended before {what}: rc={proc.returncode} {err[-2000:]}")
        time.sleep(0.005)
    proc.kill()
    pytest.fail(f"no {what} in {timeout} s")


def saved_epoch(run: Path) -> int:
    try:
        return int(json.loads((run / "checkpoints" / "state.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return -1


def slow_recipe(tmp_path: Path, *, epochs: int = 8) -> Path:
    """Enough work per epoch (~0.2 s) that a signal lands mid-run."""
    train_dir = make_image_folder(tmp_path / "train", per_class=40, size=32, seed=3)
    return write_recipe(
        tmp_path / "slow.yaml",
        data=image_data(train_dir, validation_split=0.25, image_size=[32, 32], batch_size=2),
        layers=CONV_MODEL,
        epochs=epochs,
    )


def hidden_files(folder: Path) -> list[str]:
    """Every name starting with '.' under ``folder`` (temporary files, lock files)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]
