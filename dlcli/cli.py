"""The command-line entry point: parsing, rendering and exit codes, nothing else.

Each subcommand lives in ``dlcli/commands/<name>.py`` and exposes
``register(app: typer.Typer) -> None``. Those modules import TensorFlow/Keras only
inside the command functions, so ``dlcli --help``, ``dlcli --version`` and every
``dlcli CMD --help`` stay fast (a test in a fresh interpreter checks it).

Exit codes: 0 ok, 1 runtime failure, 2 user error, 3 some inputs skipped
(predict/evaluate), 130 interrupted.
"""

from __future__ import annotations

import errno
import importlib
import os
import re
import sys

import typer

try:  # typer >= 0.29 vendors click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer on top of click
    from click import ClickException

from dlcli import __version__, interrupts
from dlcli.errors import DlcliError

# Order here is the order of `dlcli --help`.
COMMAND_MODULES: tuple[str, ...] = (
    "init",
    "train",
    "tune",
    "evaluate",
    "report",
    "predict",
    "inspect_cmd",
    "explain",
    "validate",
    "layers",
    "schema",
    "runs",
    "export",
    "doctor",
)

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"dlcli {__version__}")
        raise typer.Exit(0)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="dlcli",
        help="Recipes in, trained Keras models out.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="markdown",  # help paragraphs reflow; `code` is highlighted
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False,
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ) -> None:
        """Recipes in, trained Keras models out."""

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"dlcli.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"dlcli.commands.{name}":
                continue  # command not built yet in this checkout
            raise
        module.register(app)
    return app


def _debug() -> bool:
    return os.environ.get("DLCLI_DEBUG", "") not in ("", "0", "false", "no")


# Terminal control sequences (CSI such as Keras's bold ``ESC[1m``, and OSC): error text goes
# to logs and pipes, where they are noise.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


def _print_error(text: str) -> None:
    lines = _ANSI.sub("", text).splitlines() or [""]
    prefix = "error: "
    for i, line in enumerate(lines):
        sys.stderr.write((prefix if i == 0 else "  ") + line + "\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None, *, app: typer.Typer | None = None) -> int:
    """Run the CLI and return its exit code (the console script calls ``sys.exit`` on it)."""
    app = app or build_app()
    try:
        # SIGTERM behaves as Ctrl-C in every command: finally blocks run, exit 130.
        with interrupts.stop_signals_raise():
            result = app(args=argv, prog_name="dlcli", standalone_mode=False)
            stopped_by = interrupts.received()
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        _print_error("interrupted")
        return EXIT_INTERRUPTED
    except ClickException as exc:
        exc.show()
        return exc.exit_code
    except DlcliError as exc:
        if _debug():
            raise
        _print_error(exc.format())
        return exc.exit_code
    except KeyboardInterrupt as exc:
        if _debug():
            raise
        _print_error(f"interrupted ({interrupts.signal_name(exc)})")
        return EXIT_INTERRUPTED
    except OSError as exc:  # the system said no (disk full, permissions): not a dlcli bug
        if _debug():
            raise
        _print_error(_os_error_text(exc))
        return EXIT_RUNTIME
    except Exception as exc:  # a bug or an unexpected runtime failure
        if _debug():
            raise
        _print_error(
            f"{type(exc).__name__}: {exc}\n"
            "this is a runtime failure; run again with DLCLI_DEBUG=1 for the traceback"
        )
        return EXIT_RUNTIME
    if result == EXIT_INTERRUPTED and stopped_by:
        # Typer turns a KeyboardInterrupt inside a command into a bare exit code 130.
        _print_error(f"interrupted ({stopped_by})")
    if isinstance(result, int):
        return result
    return EXIT_OK


def _os_error_text(exc: OSError) -> str:
    what = exc.strerror or str(exc)
    name = errno.errorcode.get(exc.errno or 0)
    where = f": {exc.filename}" if exc.filename else ""
    hint = " (free some space and run the command again)" if exc.errno == errno.ENOSPC else ""
    return f"{what}{where}" + (f" [{name}]" if name else "") + hint


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
