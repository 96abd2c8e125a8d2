"""Error text reaching a pipe carries no terminal control codes (Keras bolds its messages)."""

from __future__ import annotations

from pathlib import Path

import typer

from dlcli.cli import main
from dlcli.errors import ModelBuildError

RESHAPE = """\
name: r
model:
  input: [4]
  layers:
    - Reshape: {target_shape: [3]}
    - Dense: 2
"""


def test_keras_bold_codes_do_not_reach_stderr(tmp_path: Path, run_dlcli) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RESHAPE)
    result = run_dlcli("validate", str(recipe), timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "\x1b" not in result.stderr
    assert "total size of the tensor must be unchanged" in result.stderr
    assert result.stderr.startswith(f"error: {recipe}:5:7: ")


def _app_raising(exc: Exception) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def boom() -> None:
        raise exc

    @app.command()
    def other() -> None:  # two commands, so the command name is parsed
        pass

    return app


def test_runtime_failure_text_is_stripped(capsys) -> None:
    exc = RuntimeError("\x1b[1mbold\x1b[0m \x1b[31mred\x1b[0m \x1b]8;;http://x\x07link\x1b]8;;\x07")
    assert main(["boom"], app=_app_raising(exc)) == 1
    first = capsys.readouterr().err.splitlines()[0]
    assert first == "error: RuntimeError: bold red link"


def test_user_error_text_is_stripped(capsys) -> None:
    exc = ModelBuildError("layer 1: \x1b[1mdoes not fit\x1b[0m", file="m.yaml", line=3)
    assert main(["boom"], app=_app_raising(exc)) == 2
    assert capsys.readouterr().err == "error: m.yaml:3: layer 1: does not fit\n"
