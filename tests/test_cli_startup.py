"""`dlcli --help` and friends must stay fast: they never import TensorFlow or Keras."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dlcli.cli import COMMAND_MODULES, build_app

HEAVY = (
    "tensorflow",
    "keras",
    "numpy",
    "matplotlib",
    "optuna",
    "sqlalchemy",
    "jinja2",  # dlcli report
    "pyarrow",  # Parquet tables
    "PIL",
)

PROBE = """
import sys
from dlcli.cli import main
try:
    code = main({argv!r})
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})
print("HEAVY=" + ",".join(heavy))
sys.exit(code)
"""


def _commands() -> list[str]:
    import typer.main

    group = typer.main.get_command(build_app())
    return sorted(group.commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("argv", [["--help"], ["--version"]] + [[c, "--help"] for c in _commands()])
def test_help_does_not_import_tensorflow(argv: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=set(HEAVY))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    heavy_line = [line for line in proc.stdout.splitlines() if line.startswith("HEAVY=")]
    assert heavy_line == ["HEAVY="], f"{argv} imported: {heavy_line}"


def test_every_listed_command_is_registered() -> None:
    # A command module listed in cli.COMMAND_MODULES must exist and register itself.
    import importlib

    names = _commands()
    for module in COMMAND_MODULES:
        importlib.import_module(f"dlcli.commands.{module}")
    assert len(names) >= len(COMMAND_MODULES)


def test_version_matches_package() -> None:
    from dlcli import __version__

    proc = subprocess.run(
        [sys.executable, "-m", "dlcli", "--version"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"dlcli {__version__}"
