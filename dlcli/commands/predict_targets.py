"""``dlcli predict`` for multi-label and regression models (called by ``predict``).

Rows are the target's columns (``dlcli.prediction.target_rows``): tags with their
probabilities, or the predicted numbers, to ``--out`` (atomically) or stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dlcli.commands.predict import EXIT_SKIPPED, EXIT_STRICT

if TYPE_CHECKING:
    from rich.console import Console

    from dlcli.data.listing import SkippedFile
    from dlcli.modeling.loading import LoadedModel


def refuse_class_options(loaded: LoadedModel, *, top_k: int | None, sort_into: Path | None) -> None:
    """A usage error (exit 2) for the options that only a class model has: ``--top-k``
    and ``--sort-into``; called before any input is listed."""
    from dlcli.errors import UsageError
    from dlcli.targets import target_of

    name = target_of(loaded.target).name
    if top_k is not None:
        raise UsageError(
            f"--top-k lists classes; this model's target is {name}",
            field="--top-k",
            expected="a class model",
            hint="leave out --top-k: every tag above the threshold (or every number) is written",
        )
    if sort_into is not None:
        raise UsageError(
            f"--sort-into sorts by class; this model has a {name} target",
            field="--sort-into",
        )


def stream_target(
    loaded: LoadedModel,
    paths: list[str],
    skipped: list[SkippedFile],
    *,
    out: Path | None,
    fmt: str | None,
    errors: Path | None,
    errors_fmt: str,
    batch_size: int,
    workers: int | None,
    strict: bool,
    console: Console,
) -> int:
    """Write a target model's rows and the skipped files; the exit code (0, 1 or 3)."""
    from dlcli import atomic
    from dlcli.data.listing import has_failures
    from dlcli.prediction.target_rows import stream_target_rows
    from dlcli.prediction.writers import DEFAULT_FORMAT, skipped_bytes
    from dlcli.render.predict_output import render_skipped

    count, skipped = stream_target_rows(
        loaded,
        paths,
        skipped,
        out=out,
        fmt=fmt or DEFAULT_FORMAT,
        batch_size=batch_size,
        workers=workers,
    )
    if errors is not None:
        atomic.write_bytes(errors, skipped_bytes(skipped, errors_fmt))
    render_skipped(console, skipped, errors_file=str(errors) if errors else None)
    where = f" to {out}" if out is not None else ""
    console.print(f"predicted {count:,} row(s){where}", highlight=False)
    if has_failures(skipped):
        return EXIT_STRICT if strict else EXIT_SKIPPED
    return 0
