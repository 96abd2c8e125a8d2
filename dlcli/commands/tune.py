"""``dlcli tune RECIPE --space SPACE.yaml``: hyper-parameter search on Optuna (docs/tuning.md)."""

from __future__ import annotations

import re
from pathlib import Path

import typer

HELP = """Search hyper-parameters: train a recipe many times with values from a search space.

The space is YAML keyed by recipe paths as --set writes them:
`train.optimizer.learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}`,
`model.layers[1].Conv2D.filters: {choice: [16, 32, 64]}`, `{int: [1, 4], step: 1}`,
`{uniform: [0.1, 0.5]}`. Every key and edge value is checked against the recipe first.

Each trial is an ordinary run folder (OUT/trials/trial-NNNN). The monitored value is the
recipe's train.checkpoint.monitor; --pruner median or hyperband stops bad trials early.
The first trial trains the recipe's own values (when the space holds them), so the best
trial is at least as good as the recipe as it stands.

The study lives in --storage (default sqlite:///OUT/study.db): the same command again
continues it up to --trials (also after Ctrl-C or kill -9), and several processes or
machines with the same --storage and --study share it (PostgreSQL for many machines).
At the end: best.yaml (the best trial's complete recipe), history.png, importances.png
and parallel.png in OUT. `dlcli tune --show STUDY` prints a study again.
"""


def register(app: typer.Typer) -> None:
    @app.command("tune", help=HELP)
    def tune_cmd(
        recipe: Path | None = typer.Argument(None, help="Recipe YAML file."),
        space: Path | None = typer.Option(None, "--space", help="Search space YAML file."),
        trials: int = typer.Option(20, "--trials", "-n", min=1, help="Trials in the study."),
        timeout: str | None = typer.Option(
            None, "--timeout", help="Start no trial after this long: 90s, 30m, 2h."
        ),
        study: str | None = typer.Option(
            None, "--study", help="Study name (default: recipe name)."
        ),
        storage: str | None = typer.Option(
            None, "--storage", help="Study storage URL (default sqlite:///OUT/study.db)."
        ),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Study folder (default tunes/STUDY)."
        ),
        pruner: str = typer.Option("median", "--pruner", help="median, hyperband or none."),
        set_: list[str] = typer.Option(
            [], "--set", "-s", help="Override a recipe value in every trial (repeatable)."
        ),
        epochs: int | None = typer.Option(None, "--epochs", "-e", min=1, help="Epochs per trial."),
        device: str | None = typer.Option(None, "--device", help="auto, cpu, gpu or gpu:N."),
        baseline: bool = typer.Option(
            True,
            "--baseline/--no-baseline",
            help="First trial: the recipe's own values (when the space holds them).",
        ),
        show: str | None = typer.Option(
            None, "--show", help="Print study STUDY from storage (and redraw its pictures)."
        ),
    ) -> int:
        if show is not None:
            return run_show(show, storage=storage, out=out)
        return run_tune(
            recipe=recipe,
            space=space,
            trials=trials,
            timeout=timeout,
            study=study,
            storage=storage,
            out=out,
            pruner=pruner,
            overrides=set_,
            epochs=epochs,
            device=device,
            baseline=baseline,
        )


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_timeout(text: str) -> float:
    from dlcli.errors import UsageError

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if match is None or float(match.group(1)) <= 0:
        raise UsageError(
            "bad --timeout", field="--timeout", expected="e.g. 90s, 30m, 2h", received=text
        )
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def run_tune(
    *,
    recipe: Path | None,
    space: Path | None,
    trials: int = 20,
    timeout: str | None = None,
    study: str | None = None,
    storage: str | None = None,
    out: Path | None = None,
    pruner: str = "median",
    overrides: list[str] | None = None,
    epochs: int | None = None,
    device: str | None = None,
    baseline: bool = True,
) -> int:
    from dlcli.errors import UsageError
    from dlcli.recipe import load_recipe
    from dlcli.tuning.engine import PRUNERS
    from dlcli.tuning.space import check_against_recipe, read_space, recipe_values

    if recipe is None or space is None:
        raise UsageError("tune needs RECIPE and --space SPACE.yaml (or --show STUDY)")
    if pruner not in PRUNERS:
        raise UsageError(
            "unknown pruner", field="--pruner", expected=", ".join(PRUNERS), received=pruner
        )
    timeout_s = parse_timeout(timeout) if timeout else None
    flags = {"train.epochs": epochs, "train.device": device}
    base = load_recipe(recipe, overrides=overrides or (), flags=flags)
    searched = read_space(space)
    check_against_recipe(searched, recipe, [*(overrides or []), *_flag_overrides(flags)])
    study = study or base.name
    out = out or Path("tunes") / study

    from dlcli.console import make_console
    from dlcli.render.tune_output import TuneRenderer, show_summary
    from dlcli.tuning.engine import TuneOptions, tune

    options = TuneOptions(
        recipe=recipe,
        space=searched,
        trials=trials,
        out=out,
        study=study,
        storage=storage,
        timeout_s=timeout_s,
        pruner=pruner,
        overrides=list(overrides or []),
        flags={k: v for k, v in flags.items() if v is not None},
        monitor=base.train.checkpoint.monitor,
        baseline=recipe_values(searched, base.to_yaml()) if baseline else None,
    )
    console = make_console()
    renderer = TuneRenderer(console)
    try:
        summary = tune(options, base.train.epochs, on_event=renderer)
    finally:
        renderer.close()
    show_summary(console, summary, table=not renderer.live_mode)
    return 0


def _flag_overrides(flags: dict[str, object]) -> list[str]:
    return [f"{k}={v}" for k, v in flags.items() if v is not None]


def run_show(name: str, *, storage: str | None, out: Path | None) -> int:
    from dlcli.console import make_console
    from dlcli.render.tune_output import show_summary
    from dlcli.tuning.storage import default_url
    from dlcli.tuning.summary import load_study, summarize

    out = out or Path("tunes") / name
    url = storage or default_url(out)
    if storage is None and not (out / "study.db").is_file():
        from dlcli.errors import UsageError

        raise UsageError(
            f"no study database at {out / 'study.db'}",
            field="--show",
            hint="give --out STUDY_FOLDER or --storage URL",
        )
    study, shown = load_study(name, url)
    summary = summarize(study, shown, out, ())
    show_summary(make_console(), summary)
    return 0
