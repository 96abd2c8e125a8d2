"""``dlcli evaluate MODEL``: accuracy, loss, per-class scores and a confusion matrix."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import typer

EXIT_SKIPPED = 3
EXIT_STRICT = 1
OUTPUT_SUFFIXES = (".confusion.png", ".evaluation.json")

HELP = "\n\n".join(
    [
        "Score a model on labelled data: accuracy, loss, the model's other compiled metrics, "
        "per-class precision/recall/F1/support with macro and weighted averages, and a "
        "confusion matrix.",
        "MODEL is a run directory (its best.keras, the best epoch, else model.keras; --final "
        "picks model.keras, the last epoch), a .keras file or an exported .tflite/.onnx file or "
        "SavedModel folder (class names from the run's labels.json or the export's metadata, "
        "--labels, or the output indices 0..N-1 with a warning). Data: --data DIR (one "
        "sub-folder per class, names matching the model's classes), --data FILE.csv (tabular "
        "models), or by default the run's own validation data (recipe data.validation, or its "
        "validation_split re-derived with the recipe's seed).",
        "Writes MODEL_FILE.confusion.png and MODEL_FILE.evaluation.json, named after the model "
        "file evaluated (best.keras.evaluation.json, ...), into --out DIR, else into the run "
        "directory (a bare .keras file without --out writes nothing); both name the model file "
        "and the data inside. --json prints every number as JSON "
        "(accuracy, loss, per_class, confusion_matrix, ...). Loss is sparse categorical "
        "crossentropy on the model's probabilities (logits get a softmax first).",
        "Files without an image extension are listed as not an image (ignored) and do not "
        "change the exit code.",
        "Exit codes: 0 every image was used; 3 some images were skipped (1 with --strict); 2 a "
        "usage error (unknown class folders, missing data, ...).",
    ]
)


def register(app: typer.Typer) -> None:
    @app.command("evaluate", help=HELP)
    def evaluate(
        model: Path = typer.Argument(..., help="Run directory or .keras model file."),
        data: Path | None = typer.Option(
            None, "--data", "-d", help="Class-folder tree, or a CSV file for tabular models."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print all numbers as JSON."),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Folder for the confusion matrix PNG and evaluation JSON."
        ),
        batch_size: int = typer.Option(64, "--batch-size", "-b", min=1, help="Images per batch."),
        labels: Path | None = typer.Option(
            None, "--labels", help="Class names, one per line (or labels.json) for a bare model."
        ),
        overwrite: bool = typer.Option(
            False, "--overwrite", help="Replace this model's evaluation files in --out."
        ),
        strict: bool = typer.Option(
            False, "--strict", help="Exit 1 instead of 3 when any file was skipped."
        ),
        workers: int | None = typer.Option(
            None, "--workers", min=1, help="Decoding threads (default: CPU count, at most 8)."
        ),
        trust_model: bool = typer.Option(
            False, "--trust-model", help="Allow models that run code when loaded (unsafe)."
        ),
        final: bool = typer.Option(
            False, "--final", help="With a run directory: model.keras (last epoch), not best."
        ),
    ) -> int:
        return run_evaluate(
            model=model,
            data=data,
            as_json=as_json,
            out=out,
            batch_size=batch_size,
            labels=labels,
            overwrite=overwrite,
            strict=strict,
            workers=workers,
            trust_model=trust_model,
            final=final,
        )


def output_names(model_file: str) -> tuple[str, str]:
    """``(confusion PNG, evaluation JSON)`` for a model file: ``best.keras.evaluation.json``.

    Named after the file evaluated, so evaluating one of a run's models never replaces the
    report of the other (as ``model.tflite.json`` names the export it describes).
    """
    png, summary = (model_file + suffix for suffix in OUTPUT_SUFFIXES)
    return png, summary


def run_evaluate(
    *,
    model: Path,
    data: Path | None = None,
    as_json: bool = False,
    out: Path | None = None,
    batch_size: int = 64,
    labels: Path | None = None,
    overwrite: bool = False,
    strict: bool = False,
    workers: int | None = None,
    trust_model: bool = False,
    final: bool = False,
) -> int:
    from dlcli.atomic import check_writable
    from dlcli.errors import UsageError
    from dlcli.modeling.loading import chosen_model_path

    if out is not None:
        if out.exists() and not out.is_dir():
            raise UsageError("--out must be a folder", file=out, field="--out")
        for name in output_names(chosen_model_path(model, final=final).name):
            check_writable(out / name, overwrite=overwrite)

    from rich.markup import escape

    from dlcli import atomic
    from dlcli.console import make_console
    from dlcli.data.listing import has_failures
    from dlcli.evaluation import evaluate_model
    from dlcli.modeling.loading import describe_choice, resolve_model
    from dlcli.render.evaluate_output import render_evaluation
    from dlcli.render.predict_output import ProgressReporter, render_model_notes, shown_path

    console = make_console()
    err_console = make_console(stderr=True)
    loaded = resolve_model(model, trust=trust_model, labels=labels, final=final)
    render_model_notes(err_console, describe_choice(model, loaded.source), loaded.warnings)
    from dlcli.targets import target_of

    if not target_of(loaded.target).classifies:  # tags or numbers: the target's scores
        from dlcli.commands.evaluate_targets import run_target_evaluation

        return run_target_evaluation(
            loaded,
            data=data,
            as_json=as_json,
            out=out,
            batch_size=batch_size,
            overwrite=overwrite,
        )
    # The total is known only once the data is listed: start the bar at the first batch.
    with contextlib.ExitStack() as stack:
        reporter: ProgressReporter | None = None

        def on_progress(done: int, total: int) -> None:
            nonlocal reporter
            if reporter is None:
                reporter = stack.enter_context(
                    ProgressReporter(err_console, total, what="evaluate")
                )
            if total != reporter.total:
                reporter.set_total(total)
            reporter.advance(done - reporter.done)

        result = evaluate_model(
            loaded, data=data, batch_size=batch_size, workers=workers, on_progress=on_progress
        )

    target = out if out is not None else getattr(loaded, "run_dir", None)
    written: list[str] = []
    payload = result.to_dict()
    if target is not None:
        from dlcli.viz.plots import plot_confusion

        target = Path(target)
        png_name, summary_name = output_names(Path(loaded.source).name)
        png = target / png_name
        title = (
            f"confusion matrix of {Path(loaded.source).name}: {result.data} "
            f"(accuracy {result.accuracy:.3f})"
        )
        plot_confusion(result.confusion_matrix, result.class_names, png, title=title)
        payload["confusion_png"] = str(png)
        summary = target / summary_name
        atomic.write_text(summary, json.dumps(payload, indent=2) + "\n")
        written = [str(png), str(summary)]

    if as_json:
        typer.echo(json.dumps(payload, indent=2))
        for path in written:
            err_console.print(f"wrote {escape(shown_path(path))}", highlight=False)
    else:
        render_evaluation(console, result, written=written)
        if target is None:
            err_console.print(
                "note: pass --out DIR to save the confusion matrix PNG and evaluation JSON",
                highlight=False,
            )
    if has_failures(result.skipped):
        return EXIT_STRICT if strict else EXIT_SKIPPED
    return 0
