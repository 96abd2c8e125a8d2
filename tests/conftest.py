"""Shared fixtures: tiny generated image folders and a real-subprocess CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


def make_image_folder(
    root: Path,
    *,
    classes: tuple[str, ...] = ("circle", "square"),
    per_class: int = 4,
    size: int = 16,
    mode: str = "L",
    seed: int = 0,
) -> Path:
    """Write ``per_class`` PNGs per class into ``root/<class>/``; classes differ visibly.

    Class ``i`` draws a bright blob at a class-specific place, so even a tiny model can
    separate them; noise makes every image different.
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for ci, cls in enumerate(classes):
        folder = root / cls
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            arr = rng.integers(0, 60, size=(size, size), dtype=np.uint8)
            q = size // 4
            r0 = (ci * q) % (size - q)
            arr[r0 : r0 + q, r0 : r0 + q] = 230
            img = Image.fromarray(arr, mode="L").convert(mode)
            img.save(folder / f"{cls}_{i:03d}.png")
    return root


def free_ports(n: int) -> list[int]:
    """``n`` TCP ports on 127.0.0.1 that were free a moment ago (for multi-worker tests)."""
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Two classes x 4 grayscale 16x16 PNGs under tmp_path/images/<class>/."""
    return make_image_folder(tmp_path / "images")


@pytest.fixture
def run_dlcli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m dlcli ARGS`` in a fresh interpreter (real start-up, signals, exit codes)."""

    def run(
        *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        full_env.pop("DLCLI_DEBUG", None)
        if env:
            full_env.update(env)
        return subprocess.run(
            [sys.executable, "-m", "dlcli", *args],
            cwd=cwd or tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    return run
