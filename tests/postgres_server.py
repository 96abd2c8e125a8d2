"""A throw-away PostgreSQL server for tests: initdb + pg_ctl on a free port in a temp folder.

The binaries come from the system package (``apt-get install postgresql``, which
``.ci/run`` does). PostgreSQL refuses to run as root, so as root the server runs as the
``postgres`` user (created by the package) in a folder it owns. Without the binaries the
test is skipped with the reason, except in CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import free_ports


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_owner(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


class PostgresServer:
    """A running server; ``new_database(name)`` -> its URL (each test its own database)."""

    def __init__(self, bin_dir: Path, port: int) -> None:
        self.bin_dir, self.port = bin_dir, port

    def new_database(self, name: str) -> str:
        createdb = [str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port)]
        subprocess.run(
            _as_owner([*createdb, "-U", "postgres", name]),
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a server on a free port in a temp folder; stop and delete it afterwards."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        reason = "PostgreSQL binaries not found in /usr/lib/postgresql/*/bin"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI installs them: see .ci/run)")
        pytest.skip(f"{reason}: apt-get install postgresql to run this test")
    root = Path(tempfile.mkdtemp(prefix="dlcli-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", free_ports(1)[0]
    run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
    subprocess.run(
        _as_owner([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]),
        **run,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    ctl = str(bin_dir / "pg_ctl")
    subprocess.run(
        _as_owner([ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"]),
        **run,
    )
    try:
        yield PostgresServer(bin_dir, port)
    finally:
        subprocess.run(_as_owner([ctl, "-D", str(data), "-m", "fast", "-w", "stop"]), **run)
        shutil.rmtree(root, ignore_errors=True)
