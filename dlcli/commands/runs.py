"""``dlcli runs``: list past runs, or compare several (recipe diff + overlaid curves)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def _list(directory: Path, as_json: bool) -> int:
    from dlcli.console import is_interactive, make_console
    from dlcli.render.runs_output import list_rows, show_run_list, tsv_lines
    from dlcli.viz.runs import list_runs

    runs = list_runs(directory)
    console = make_console()
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in runs], indent=2))
        return 0
    if not runs:
        console.print(f"no runs found under {directory}")
        return 0
    interactive = is_interactive(console)
    if interactive:
        show_run_list(console, runs, directory)
    else:
        # Tab-separated so `cut -f` works; Rich would expand the tabs.
        for line in tsv_lines(*list_rows(runs)):
            typer.echo(line)
    # Reasons go below the table (terminal) or to stderr (keeps piped TSV clean).
    for r in runs:
        for problem in r.problems:
            if interactive:
                console.print(f"{r.name}: {problem}", style="dim", markup=False)
            else:
                typer.echo(f"{r.name}: {problem}", err=True)
    return 0


PLOT_SUFFIXES = frozenset({".png", ".svg", ".pdf"})


def _check_out(out: Path | None) -> None:
    if out is not None and out.suffix.lower() not in PLOT_SUFFIXES:
        from dlcli.errors import UsageError

        raise UsageError(
            "unsupported picture format for --out",
            file=out,
            field="--out",
            expected="a file name ending in " + ", ".join(sorted(PLOT_SUFFIXES)),
            received=out.suffix or "(no extension)",
        )


def _plot_title(labels: list[str]) -> str:
    title = " vs ".join(labels)
    return title if len(title) <= 80 else f"{len(labels)} runs compared"


def _compare(paths: list[Path], out: Path | None, overwrite: bool, as_json: bool) -> int:
    from dlcli.atomic import check_writable
    from dlcli.console import is_interactive, make_console
    from dlcli.render.runs_output import comparison_rows, show_comparison, tsv_lines
    from dlcli.viz.compare import compare_runs

    _check_out(out)
    comparison = compare_runs(paths)
    written: str | None = None
    if out is not None:
        check_writable(out, overwrite=overwrite)
        from dlcli.render.runs_output import difference_notes
        from dlcli.viz.plots import plot_compare

        labels = [r.label for r in comparison.runs]
        notes, footer = difference_notes(comparison)
        plot_compare(
            {r.label: r.history for r in comparison.runs},
            out,
            title=_plot_title(labels),
            notes=notes,
            footer=footer,
        )
        written = str(out)
    console = make_console()
    if as_json:
        payload = {**comparison.to_dict(), "plot": written}
        typer.echo(json.dumps(payload, indent=2, default=str))
        return 0
    if is_interactive(console):
        show_comparison(console, comparison)
        if written:
            console.print(f"wrote {written}", markup=False)
        return 0
    for line in tsv_lines(*comparison_rows(comparison)):
        typer.echo(line)
    if written:
        typer.echo(f"wrote {written}", err=True)  # keeps piped TSV clean
    return 0


def register(app: typer.Typer) -> None:
    @app.command("runs")
    def runs(
        paths: list[Path] | None = typer.Argument(
            None,
            metavar="[DIR | RUN...]",
            help="Folder searched recursively for run directories (default: runs). With"
            " --compare: two or more run directories, or folders of runs.",
            show_default=False,
        ),
        compare: bool = typer.Option(
            False,
            "--compare",
            help="Compare the runs given (any number >= 2): one row per run with the recipe"
            " keys that differ and the final metrics.",
        ),
        out: Path | None = typer.Option(
            None, "--out", help="With --compare: PNG/SVG/PDF of every run's curves overlaid."
        ),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> int:
        """List past runs (newest first), or compare several: --compare A B [C ...]."""
        from dlcli.errors import UsageError

        given = list(paths or [])
        if compare:
            return _compare(given, out, overwrite, as_json)
        if out is not None:
            raise UsageError("--out needs --compare A B [C ...]", field="--out")
        if len(given) > 1:
            raise UsageError(
                "the run list takes one folder",
                field="DIR",
                expected="one folder of runs (or --compare to compare several runs)",
                received=" ".join(str(p) for p in given),
                hint="add --compare to compare these runs",
            )
        return _list(given[0] if given else Path("runs"), as_json)
