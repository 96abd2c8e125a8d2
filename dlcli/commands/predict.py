"""``dlcli predict MODEL SOURCE...``: classify folders of images in streaming batches."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from dlcli.data.listing import SkippedFile
    from dlcli.modeling.loading import LoadedModel

EXIT_SKIPPED = 3
EXIT_STRICT = 1
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for `dlcli predict ... | head`

HELP = "\n\n".join(
    [
        "Classify image files, folders and glob patterns with a trained model.",
        "MODEL is a run directory (its best.keras, the best epoch, else model.keras; --final "
        "picks model.keras, the last epoch; with labels.json for the class names and image "
        "preprocessing), any .keras file, including one saved by plain Keras (image size from "
        "its input shape; class names from --labels, else 0..N-1 with a warning), or an "
        "exported .tflite/.onnx file or SavedModel folder.",
        "Output: --out FILE.csv or FILE.jsonl (by extension; written atomically). Without "
        "--out, CSV goes to stdout when it is piped and a table is shown in a terminal. CSV "
        'columns: path,label,confidence,top_k,model with top_k as "label:prob;label:prob" '
        "(highest first) and model the model file that made the row. JSONL: "
        '{"path","label","confidence","top_k":[{"label","probability"}],"model"}.',
        "Text models (data.kind: text) read .txt files (one document each), folders of them, "
        "CSV/JSONL tables (one document per row, from the training table's text column or "
        "--text-column NAME; rows named FILE:LINE) and - (one document per line of standard "
        "input, named -:LINE), streamed; empty documents and invalid UTF-8 are skipped with "
        "the reason.",
        "CSV models (data.kind: csv) read .csv files with the run's feature columns (rows "
        "named FILE:LINE). Multi-label models write path,tags,scores,model (tags at or above "
        "the run's threshold, joined by its separator; scores tag:probability;...), regression "
        "models path,<target columns>,model in the data's units (a training standardisation "
        "undone).",
        "Scores: softmax outputs are used as they are; logits get a softmax; a single sigmoid "
        "unit is a binary classifier ([1-p, p]); several sigmoid units are normalised to sum "
        "to 1.",
        "Hidden files are ignored. Files without an image extension (README.txt) are listed "
        "once as not an image (ignored). Image files that cannot be used (corrupt, truncated, "
        "empty, too large, a link that cannot be followed) are skipped, listed at the end "
        "with the reason; both go to --errors FILE.",
        "Exit codes: 0 every image was predicted (ignored non-image files included); 3 some "
        "images were skipped (1 with --strict); 2 a usage error (bad model, a path that does "
        "not exist, existing --out without --overwrite, ...).",
    ]
)


def register(app: typer.Typer) -> None:
    @app.command("predict", help=HELP)
    def predict(
        model: Path = typer.Argument(..., help="Run directory or .keras model file."),
        sources: list[str] = typer.Argument(
            ..., help="Image files, folders or glob patterns (quote globs: 'imgs/*.jpg')."
        ),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Write predictions to FILE.csv or FILE.jsonl."
        ),
        top_k: int | None = typer.Option(
            None, "--top-k", "-k", min=1, help="Classes listed per input (class models; 3)."
        ),
        batch_size: int = typer.Option(64, "--batch-size", "-b", min=1, help="Images per batch."),
        recursive: bool = typer.Option(
            False, "--recursive", "-r", help="Search folders recursively."
        ),
        labels: Path | None = typer.Option(
            None, "--labels", help="Class names, one per line (or labels.json) for a bare model."
        ),
        errors: Path | None = typer.Option(
            None, "--errors", help="Write skipped files and reasons to FILE (.csv or .jsonl)."
        ),
        strict: bool = typer.Option(
            False, "--strict", help="Exit 1 instead of 3 when any file was skipped."
        ),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
        sort_into: Path | None = typer.Option(
            None,
            "--sort-into",
            help="Copy each image into DIR/LABEL/ (never overwrites).",
        ),
        link: bool = typer.Option(
            False,
            "--link",
            help="With --sort-into: hard-link instead of copying (symlink where hard links fail).",
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
        text_column: str | None = typer.Option(
            None,
            "--text-column",
            help="Text models: the column of a CSV/JSONL input that holds the text "
            "(default: the training table's, else 'text').",
        ),
    ) -> int:
        return run_predict(
            model=model,
            sources=sources,
            out=out,
            top_k=top_k,
            batch_size=batch_size,
            recursive=recursive,
            labels=labels,
            errors=errors,
            strict=strict,
            overwrite=overwrite,
            sort_into=sort_into,
            link=link,
            workers=workers,
            trust_model=trust_model,
            final=final,
            text_column=text_column,
        )


def _check_options(
    out: Path | None, errors: Path | None, overwrite: bool, sort_into: Path | None, link: bool
) -> tuple[str | None, str]:
    """Everything that can be refused before loading TensorFlow."""
    from dlcli.atomic import check_writable
    from dlcli.errors import UsageError
    from dlcli.prediction.writers import DEFAULT_FORMAT, FORMATS, format_for

    if link and sort_into is None:
        raise UsageError("--link needs --sort-into DIR", field="--link")
    fmt = None
    if out is not None:
        fmt = format_for(out)
        if out.is_dir():
            raise UsageError("--out is a folder", field="--out", expected="a file name")
        check_writable(out, overwrite=overwrite)
    errors_fmt = DEFAULT_FORMAT
    if errors is not None:
        errors_fmt = FORMATS.get(errors.suffix.lower(), DEFAULT_FORMAT)
        if out is not None and errors.resolve() == out.resolve():
            raise UsageError("--errors and --out name the same file", field="--errors")
        check_writable(errors, overwrite=overwrite)
    if sort_into is not None and sort_into.exists() and not sort_into.is_dir():
        raise UsageError("--sort-into must be a folder", file=sort_into, field="--sort-into")
    return fmt, errors_fmt


def run_predict(
    *,
    model: Path,
    sources: list[str],
    out: Path | None = None,
    top_k: int | None = None,
    batch_size: int = 64,
    recursive: bool = False,
    labels: Path | None = None,
    errors: Path | None = None,
    strict: bool = False,
    overwrite: bool = False,
    sort_into: Path | None = None,
    link: bool = False,
    workers: int | None = None,
    trust_model: bool = False,
    final: bool = False,
    text_column: str | None = None,
) -> int:
    fmt, errors_fmt = _check_options(out, errors, overwrite, sort_into, link)
    if final:
        from dlcli.modeling.loading import chosen_model_path

        chosen_model_path(model, final=True)  # --final errors before any file is listed

    from dlcli.console import is_interactive, make_console
    from dlcli.data.listing import no_inputs_error, unsearched_subfolders
    from dlcli.modeling.loading import describe_choice, resolve_model
    from dlcli.render.predict_output import render_model_notes

    stdout_console = make_console()
    console = make_console(stderr=True)
    loaded = resolve_model(model, trust=trust_model, labels=labels, final=final)
    render_model_notes(console, describe_choice(model, loaded.source), loaded.warnings)
    from dlcli.targets import target_of

    classifies = target_of(loaded.target).classifies
    if not classifies:
        from dlcli.commands.predict_targets import refuse_class_options

        refuse_class_options(loaded, top_k=top_k, sort_into=sort_into)
    # The model's data kind says which of the named files are its inputs.
    kind = loaded.kind
    if text_column is not None:
        loaded.preprocessing = kind.with_text_column(loaded.preprocessing, text_column)
    paths, skipped = kind.find_inputs(sources, recursive)
    if not paths:
        raise no_inputs_error(sources, skipped, recursive, kind.input_noun, kind.inputs)
    if not recursive and (n_sub := unsearched_subfolders(sources)):
        console.print(
            f"note: {n_sub} sub-folder(s) not searched (pass --recursive to include them)",
            highlight=False,
        )
    if not classifies:  # tags or numbers: the target's columns
        from dlcli.commands.predict_targets import stream_target

        return stream_target(
            loaded,
            paths,
            skipped,
            out=out,
            fmt=fmt,
            errors=errors,
            errors_fmt=errors_fmt,
            batch_size=batch_size,
            workers=workers,
            strict=strict,
            console=console,
        )
    return _stream(
        loaded,
        paths,
        skipped,
        out=out,
        fmt=fmt,
        errors=errors,
        errors_fmt=errors_fmt,
        top_k=3 if top_k is None else top_k,
        batch_size=batch_size,
        workers=workers,
        strict=strict,
        sort_into=sort_into,
        link=link,
        console=console,
        table_console=stdout_console if is_interactive(stdout_console) and out is None else None,
    )


def _stream(
    loaded: LoadedModel,
    paths: list[str],
    skipped: list[SkippedFile],
    *,
    out: Path | None,
    fmt: str | None,
    errors: Path | None,
    errors_fmt: str,
    top_k: int,
    batch_size: int,
    workers: int | None,
    strict: bool,
    sort_into: Path | None,
    link: bool,
    console: Console,
    table_console: Console | None,
) -> int:
    import contextlib

    from dlcli import atomic
    from dlcli.data.listing import has_failures
    from dlcli.prediction.engine import iter_predictions, output_converter
    from dlcli.prediction.sorting import ImageSorter
    from dlcli.prediction.writers import (
        DEFAULT_FORMAT,
        ENCODING,
        ENCODING_ERRORS,
        make_writer,
        skipped_bytes,
    )
    from dlcli.render.predict_output import (
        PredictionTable,
        ProgressReporter,
        render_skipped,
        render_summary,
    )

    sorter = ImageSorter(sort_into, link=link) if sort_into is not None else None
    kind = loaded.kind  # its nouns name what is counted (images, documents, clips, rows)
    table = PredictionTable(noun=kind.item_noun) if table_console is not None else None
    predicted = 0
    start = time.perf_counter()
    broken_pipe = False
    model_name = str(loaded.source)
    with contextlib.ExitStack() as stack:
        writer = None
        if out is not None:
            tmp = stack.enter_context(atomic.atomic_path(out))
            fh = stack.enter_context(
                open(tmp, "w", encoding=ENCODING, errors=ENCODING_ERRORS, newline="")
            )
            writer = make_writer(fmt or DEFAULT_FORMAT, fh, model=model_name)
        # CSV on stdout starts with the first batch: a model or --labels problem found
        # when the prediction stream starts must not leave a header-only stdout behind.
        to_stdout = out is None and table is None
        progress = stack.enter_context(
            ProgressReporter(console, len(paths), noun=kind.input_noun, unit=kind.input_unit)
        )
        converter = output_converter(loaded)
        batches = iter_predictions(
            loaded,
            paths,
            top_k=top_k,
            batch_size=batch_size,
            workers=workers,
            converter=converter,
        )
        for batch in batches:
            skipped.extend(batch.errors)
            predicted += len(batch.predictions)
            if writer is not None or to_stdout:
                try:
                    if writer is None:
                        _names_as_bytes(sys.stdout)
                        writer = make_writer(DEFAULT_FORMAT, sys.stdout, model=model_name)
                    writer.write(batch.predictions)
                except BrokenPipeError:
                    broken_pipe = True
                    break
            if table is not None:
                table.add(batch.predictions)
            if sorter is not None:
                for p in batch.predictions:
                    sorter.place(p.path, p.label)
            progress.advance(batch.files_done)
    if broken_pipe:
        # The reader went away (`| head`): silence further writes to the closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    seconds = time.perf_counter() - start
    if table is not None:
        table.render(table_console)
    if errors is not None:
        atomic.write_bytes(errors, skipped_bytes(skipped, errors_fmt))
    render_skipped(
        console,
        skipped,
        errors_file=str(errors) if errors else None,
        input_noun=kind.input_noun,
    )
    n_ignored = sum(1 for s in skipped if s.ignored)
    render_summary(
        console,
        predicted=predicted,
        skipped=len(skipped) - n_ignored,
        ignored=n_ignored,
        seconds=seconds,
        out=str(out) if out else None,
        errors_file=str(errors) if errors else None,
        output_kind=converter.describe(),
        sorted_note=sorter.describe() if sorter is not None else None,
        item_noun=kind.item_noun,
        item_unit=kind.item_unit,
        input_noun=kind.input_noun,
    )
    if has_failures(skipped):
        return EXIT_STRICT if strict else EXIT_SKIPPED
    return 0


def _names_as_bytes(stream: object) -> None:
    """Let a text stream write file names that are not UTF-8 as their own bytes."""
    import contextlib

    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        with contextlib.suppress(ValueError, OSError):
            reconfigure(errors="surrogateescape")
