"""``dlcli train RECIPE``: train a recipe into a run directory (docs/training.md)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

HELP = """Train the model a recipe describes and save everything in a run folder.

The run folder (--out, default runs/NAME/YYYYmmdd-HHMMSS) gets recipe.yaml,
model.keras, best.keras, labels.json, history.csv, metrics.json, curves.png,
checkpoints/ (for --resume), logs/ (TensorBoard) and skipped.txt when images were
unreadable.

Settings merge as: recipe file < --set key=value < --epochs/--batch-size/--device.
Ctrl-C or SIGTERM at any moment saves state, exits 130 and prints the command that
continues the run (--out DIR --resume; a larger --epochs extends it). A run folder is
locked while a run uses it: a second dlcli train into it exits 2 naming the first's PID.
A NaN loss stops with exit 1 and keeps the last checkpoint.

Several machines: run the same command on each with --workers host:port,... and
--worker-index 0..N-1 (worker 0 writes the run folder; see docs/scaling.md).
"""


def register(app: typer.Typer) -> None:
    @app.command("train", help=HELP)
    def train_cmd(
        recipe: Path = typer.Argument(..., help="Recipe YAML file."),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Run folder (default runs/NAME/TIMESTAMP)."
        ),
        set_: list[str] = typer.Option(
            [], "--set", "-s", help="Override a recipe value: key.path=value (repeatable)."
        ),
        epochs: int | None = typer.Option(None, "--epochs", "-e", min=1, help="Epochs to train."),
        batch_size: int | None = typer.Option(
            None, "--batch-size", "-b", min=1, help="Examples per batch (per replica)."
        ),
        resume: bool = typer.Option(
            False, "--resume", help="Continue the run in --out from its last checkpoint."
        ),
        overwrite: bool = typer.Option(
            False, "--overwrite", help="Start again in a non-empty --out (replaces its run files)."
        ),
        device: str | None = typer.Option(
            None, "--device", help="auto, cpu, gpu or gpu:N (overrides train.device)."
        ),
        workers: str | None = typer.Option(
            None, "--workers", help="Multi-machine: host:port of every worker, comma-separated."
        ),
        worker_index: int | None = typer.Option(
            None, "--worker-index", min=0, help="Multi-machine: this worker's place in --workers."
        ),
        strict: bool = typer.Option(
            False, "--strict", help="Fail before training if any image is unreadable."
        ),
        quiet: bool = typer.Option(
            False, "--quiet", "-q", help="No progress; print only the run folder at the end."
        ),
    ) -> int:
        return run_train(
            recipe=recipe,
            out=out,
            overrides=set_,
            epochs=epochs,
            batch_size=batch_size,
            resume=resume,
            overwrite=overwrite,
            device=device,
            workers=workers,
            worker_index=worker_index,
            strict=strict,
            quiet=quiet,
        )


def run_train(
    *,
    recipe: Path,
    out: Path | None = None,
    overrides: list[str] | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    device: str | None = None,
    workers: str | None = None,
    worker_index: int | None = None,
    strict: bool = False,
    quiet: bool = False,
) -> int:
    from dlcli.errors import UsageError
    from dlcli.recipe import load_recipe

    if resume and overwrite:
        raise UsageError("--resume and --overwrite contradict each other", field="--resume")
    if resume and out is None:
        raise UsageError("--resume needs --out DIR (the run to continue)", field="--resume")
    if worker_index is not None and not workers:
        raise UsageError("--worker-index needs --workers", field="--worker-index")
    flags = {"train.epochs": epochs, "data.batch_size": batch_size, "train.device": device}
    spec = load_recipe(recipe, overrides=overrides or (), flags=flags)
    if workers:
        from dlcli.devices import install_tf_config

        install_tf_config(workers, worker_index or 0)  # before TensorFlow starts
    if out is None:
        out = Path("runs") / spec.name / datetime.now().strftime("%Y%m%d-%H%M%S")

    from dlcli.console import make_console
    from dlcli.render.train_output import TrainRenderer
    from dlcli.training import TrainOptions, train

    renderer = TrainRenderer(make_console(), quiet=quiet)
    command = resume_command(
        recipe=recipe,
        out=out,
        overrides=overrides or [],
        epochs=epochs,
        batch_size=batch_size,
        device=device,
        workers=workers,
        worker_index=worker_index,
        strict=strict,
        quiet=quiet,
    )
    options = TrainOptions(
        out=out,
        resume=resume,
        overwrite=overwrite,
        strict=strict,
        device=device,
        resume_command=command,
        epochs_option=epochs,
    )
    try:
        train(spec, options, on_event=renderer)
    finally:
        renderer.close()
    return 0


def resume_command(
    *,
    recipe: Path,
    out: Path,
    overrides: list[str],
    epochs: int | None,
    batch_size: int | None,
    device: str | None,
    workers: str | None,
    worker_index: int | None,
    strict: bool,
    quiet: bool,
) -> str:
    """The command that continues this run: the same arguments, with ``--resume``.

    Shell-quoted, ready to paste; ``--overwrite`` is left out (it would start again).
    """
    import shlex

    args = ["dlcli", "train", str(recipe), "--out", str(out), "--resume"]
    for override in overrides:
        args += ["--set", override]
    for flag, value in (
        ("--epochs", epochs),
        ("--batch-size", batch_size),
        ("--device", device),
        ("--workers", workers),
        ("--worker-index", worker_index),
    ):
        if value is not None:
            args += [flag, str(value)]
    args += ["--strict"] * strict + ["--quiet"] * quiet
    return shlex.join(args)
