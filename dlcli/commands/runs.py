"""``dlcli runs``: list past runs, or compare two (recipe diff + overlaid curves)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _epochs(run_epochs: int | None, planned: int | None) -> str:
    if run_epochs is None and planned is None:
        return "-"
    return f"{'-' if run_epochs is None else run_epochs}/{'?' if planned is None else planned}"


def _best(info) -> str:
    if info.best_value is None:
        return "-"
    monitor = info.best_monitor or "best"
    epoch = f" @{info.best_epoch}" if info.best_epoch is not None else ""
    return f"{monitor}={info.best_value:.4g}{epoch}"


def _list(directory: Path, as_json: bool) -> int:
    from rich.table import Table

    from dlcli.console import is_interactive, make_console
    from dlcli.viz.runs import list_runs

    runs = list_runs(directory)
    console = make_console()
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in runs], indent=2))
        return 0
    if not runs:
        console.print(f"no runs found under {directory}")
        return 0
    columns = ("name", "date", "epochs", "best", "val acc", "samples/s", "status", "path")
    rows = [
        (
            r.name,
            (r.date or "-")[:16].replace("T", " "),
            _epochs(r.epochs_run, r.epochs_planned),
            _best(r),
            _fmt(r.final_val_accuracy),
            "-" if r.samples_per_s is None else f"{r.samples_per_s:.0f}",
            r.status,
            r.path,
        )
        for r in runs
    ]
    if is_interactive(console):
        # Names are paths relative to DIR, so the path column only costs width here.
        table = Table(title=f"runs under {directory}")
        for col in columns[:-1]:
            table.add_column(
                col,
                justify="right" if col in ("val acc", "samples/s") else "left",
                no_wrap=col in ("date", "epochs", "status"),
            )
        for row, r in zip(rows, runs, strict=False):
            style = {"broken": "red", "incomplete": "yellow"}.get(r.status)
            table.add_row(*row[:-1], style=style)
        console.print(table)
    else:
        # Tab-separated so `cut -f` works; Rich would expand the tabs.
        typer.echo("\t".join(columns))
        for row in rows:
            typer.echo("\t".join(row))
    # Reasons go below the table (terminal) or to stderr (keeps piped TSV clean).
    for r in runs:
        for problem in r.problems:
            if is_interactive(console):
                console.print(f"[dim]{r.name}: {problem}[/dim]", highlight=False)
            else:
                typer.echo(f"{r.name}: {problem}", err=True)
    return 0


PLOT_SUFFIXES = frozenset({".png", ".svg", ".pdf"})


def _compare(a: Path, b: Path, out: Path | None, overwrite: bool, as_json: bool) -> int:
    from dlcli.atomic import check_writable
    from dlcli.console import make_console
    from dlcli.viz.runs import diff_recipes, load_run_recipe, read_history, resolve_run_dir

    if out is not None and out.suffix.lower() not in PLOT_SUFFIXES:
        from dlcli.errors import UsageError

        raise UsageError(
            "unsupported picture format for --out",
            file=out,
            field="--out",
            expected="a file name ending in " + ", ".join(sorted(PLOT_SUFFIXES)),
            received=out.suffix or "(no extension)",
        )
    left, right = resolve_run_dir(a), resolve_run_dir(b)
    diffs = diff_recipes(load_run_recipe(left), load_run_recipe(right))
    written: str | None = None
    if out is not None:
        check_writable(out, overwrite=overwrite)
        from dlcli.viz.plots import plot_compare

        label_a, label_b = left.name, right.name
        if label_a == label_b:
            label_a, label_b = str(left), str(right)
        plot_compare(
            {label_a: read_history(left), label_b: read_history(right)},
            out,
            title=f"{label_a} vs {label_b}",
        )
        written = str(out)
    console = make_console()
    if as_json:
        payload = {
            "a": str(left),
            "b": str(right),
            "differences": [
                {
                    "key": d.key,
                    "a": d.left,
                    "b": d.right,
                    "in_a": d.left_present,
                    "in_b": d.right_present,
                }
                for d in diffs
            ],
            "plot": written,
        }
        typer.echo(json.dumps(payload, indent=2, default=str))
        return 0
    console.print(f"recipe differences ({left} -> {right}):")
    if not diffs:
        console.print("  none: the resolved recipes are identical")
    for d in diffs:
        console.print(f"  {d.format()}", markup=False)
    if written:
        console.print(f"wrote {written}")
    return 0


def register(app: typer.Typer) -> None:
    @app.command("runs")
    def runs(
        directory: Path = typer.Argument(
            Path("runs"), help="Folder searched recursively for run directories."
        ),
        compare: tuple[Path, Path] | None = typer.Option(
            None, "--compare", help="Two run directories: recipe diff and overlaid curves."
        ),
        out: Path | None = typer.Option(
            None, "--out", help="With --compare: PNG/SVG of both runs' curves overlaid."
        ),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> int:
        """List past runs (newest first), or compare two with --compare A B."""
        from dlcli.errors import UsageError

        if compare is not None:
            return _compare(compare[0], compare[1], out, overwrite, as_json)
        if out is not None:
            raise UsageError("--out needs --compare A B", field="--out")
        return _list(directory, as_json)
