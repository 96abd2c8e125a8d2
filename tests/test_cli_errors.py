"""Exit codes and error rendering of the CLI shell (cli.main), independent of any command."""

from __future__ import annotations

import typer

from dlcli.cli import main
from dlcli.errors import Problem, RecipeError, RunFailure


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def recipe_error() -> None:
        raise RecipeError(
            problems=[
                Problem(
                    "unknown layer 'Conv2d'",
                    file="r.yaml",
                    line=7,
                    column=9,
                    field="model.layers[2]",
                    hint="did you mean 'Conv2D'?",
                ),
                Problem(
                    "expected a positive integer",
                    file="r.yaml",
                    line=9,
                    column=20,
                    field="model.layers[3].Dense.units",
                    received=-3,
                    has_received=True,
                ),
            ]
        )

    @app.command()
    def runtime() -> None:
        raise RunFailure("loss became NaN at epoch 3")

    @app.command()
    def crash() -> None:
        raise ZeroDivisionError("boom")

    @app.command()
    def partial() -> int:
        return 3

    @app.command()
    def interrupt() -> None:
        raise KeyboardInterrupt

    return app


def test_user_error_is_exit_2_with_every_problem_on_its_own_line(capsys) -> None:
    code = main(["recipe-error"], app=_app())
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[0] == (
        "error: r.yaml:7:9: model.layers[2]: unknown layer 'Conv2d' (did you mean 'Conv2D'?)"
    )
    assert lines[1].strip() == (
        "r.yaml:9:20: model.layers[3].Dense.units: expected a positive integer; received: -3"
    )
    assert "Traceback" not in err


def test_runtime_failure_is_exit_1(capsys) -> None:
    assert main(["runtime"], app=_app()) == 1
    assert "loss became NaN at epoch 3" in capsys.readouterr().err


def test_unexpected_exception_is_exit_1_without_traceback(capsys) -> None:
    assert main(["crash"], app=_app()) == 1
    err = capsys.readouterr().err
    assert "ZeroDivisionError: boom" in err and "DLCLI_DEBUG=1" in err
    assert "Traceback" not in err


def test_debug_env_reraises_for_a_traceback(monkeypatch) -> None:
    import pytest

    monkeypatch.setenv("DLCLI_DEBUG", "1")
    with pytest.raises(RecipeError):
        main(["recipe-error"], app=_app())


def test_commands_may_return_an_exit_code() -> None:
    assert main(["partial"], app=_app()) == 3


def test_keyboard_interrupt_is_130() -> None:
    assert main(["interrupt"], app=_app()) == 130


def test_bad_flag_is_usage_error_2(capsys) -> None:
    assert main(["runtime", "--no-such-flag"], app=_app()) == 2
    assert "no-such-flag" in capsys.readouterr().err


def test_unknown_command_is_exit_2_in_a_real_process(run_dlcli) -> None:
    proc = run_dlcli("no-such-command")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_unwritable_or_folder_output_is_a_user_error(tmp_path, capsys) -> None:
    # A file where a folder should be, and a folder where a file should be: exit 2, no
    # "runtime failure" and nothing written (schema --out goes through dlcli.atomic).
    blocker = tmp_path / "afile"
    blocker.write_text("keep")
    folder = tmp_path / "folder"
    folder.mkdir()
    assert main(["schema", "--out", str(blocker / "s.json")]) == 2
    assert main(["schema", "--out", str(folder), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "runtime failure" not in err
    assert f"{blocker / 's.json'}: cannot write here" in err
    assert f"{folder}: the output path is a folder" in err
    assert blocker.read_text() == "keep" and folder.is_dir() and not list(folder.iterdir())
