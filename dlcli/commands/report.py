"""``dlcli report RUN``: one self-contained HTML page about a training run."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

DEFAULT_NAME = "report.html"
HTML_SUFFIXES = (".html", ".htm")

HELP = "\n\n".join(
    [
        "Write one HTML page about a run: the recipe, the data (examples per class, skipped "
        "files and why), the training curves with the best epoch (and an early stop) marked, "
        "the last and best metrics, per-class precision/recall/F1, the confusion matrix "
        "(click a cell to see its examples), the most confident mistakes and least confident "
        "right answers on the validation data as thumbnails with their Grad-CAM overlays, "
        "and the feature maps of one example.",
        "The model is the run's best.keras (--final: model.keras), scored on the run's "
        "validation data as `dlcli evaluate RUN` does. For a model that does not read "
        "pictures (tables, text, sound) the examples are listed by file or row, without "
        "thumbnails.",
        "The page is self-contained: pictures are embedded, nothing is fetched (it works "
        "offline, from a file:// URL, sent by mail), and it stays under 5 MB for a small "
        "run. Written to --out (default RUN/report.html), never over an existing file "
        "without --overwrite.",
    ]
)


def register(app: typer.Typer) -> None:
    @app.command("report", help=HELP)
    def report(
        run: Path = typer.Argument(
            ..., metavar="RUN", help="Run directory (written by dlcli train)."
        ),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="HTML file to write (default: RUN/report.html)."
        ),
        top: int = typer.Option(
            12, "--top", min=1, max=500, help="Mistakes and unsure right answers to show."
        ),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing page."),
        batch_size: int = typer.Option(64, "--batch-size", "-b", min=1, help="Inputs per batch."),
        workers: int | None = typer.Option(
            None, "--workers", min=1, help="Decoding threads (default: CPU count, at most 8)."
        ),
        trust_model: bool = typer.Option(
            False, "--trust-model", help="Allow models that run code when loaded (unsafe)."
        ),
        final: bool = typer.Option(
            False, "--final", help="Use model.keras (last epoch), not best.keras."
        ),
    ) -> int:
        return run_report(
            run,
            out=out,
            top=top,
            overwrite=overwrite,
            batch_size=batch_size,
            workers=workers,
            trust_model=trust_model,
            final=final,
        )


def output_path(run: Path, out: Path | None) -> Path:
    """``--out`` (checked to be an HTML file name), else ``RUN/report.html``."""
    from dlcli.errors import UsageError

    target = out if out is not None else Path(run) / DEFAULT_NAME
    if target.suffix.lower() not in HTML_SUFFIXES:
        raise UsageError(
            "the report is an HTML file",
            file=target,
            field="--out",
            expected="a file name ending in .html",
            received=target.suffix or "(no extension)",
        )
    if not target.parent.is_dir():
        raise UsageError(
            "the folder for the report does not exist",
            file=target.parent,
            field="--out",
            hint="create it first, or choose another --out",
        )
    return target


def run_report(
    run: Path,
    *,
    out: Path | None = None,
    top: int = 12,
    overwrite: bool = False,
    batch_size: int = 64,
    workers: int | None = None,
    trust_model: bool = False,
    final: bool = False,
) -> int:
    from dlcli.atomic import check_writable
    from dlcli.report.run_files import read_run

    read_run(run)  # not a run folder: said before anything is loaded
    target = output_path(run, out)
    check_writable(target, overwrite=overwrite)

    from rich.markup import escape

    from dlcli import atomic
    from dlcli.console import make_console
    from dlcli.render.predict_output import ProgressReporter, shown_path
    from dlcli.report import ReportOptions, build_report

    err_console = make_console(stderr=True)
    options = ReportOptions(
        top=top, batch_size=batch_size, workers=workers, trust_model=trust_model, final=final
    )
    with contextlib.ExitStack() as stack:
        reporter: ProgressReporter | None = None

        def on_progress(done: int, total: int) -> None:
            nonlocal reporter
            if reporter is None:
                reporter = stack.enter_context(ProgressReporter(err_console, total, what="score"))
            reporter.advance(done - reporter.done)

        report = build_report(run, options, on_progress)
    for note in report.notes:
        err_console.print(f"note: {escape(shown_path(note))}", highlight=False)
    atomic.write_text(target, report.html)
    size = len(report.html.encode("utf-8"))
    err_console.print(
        f"wrote {escape(shown_path(str(target)))} ({size / 1e6:.2f} MB)", highlight=False
    )
    return 0
