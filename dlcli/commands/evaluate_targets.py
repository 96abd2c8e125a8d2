"""``dlcli evaluate`` for multi-label and regression models (called by ``evaluate``).

Prints the target's scores (per-tag F1 with micro/macro averages at the run's threshold;
MAE, RMSE and R² per target column), writes ``MODEL_FILE.evaluation.json`` and, for
regression, ``MODEL_FILE.scatter.png`` (predicted against true) into ``--out`` or the run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from dlcli.evaluation.target_scores import TargetEvaluation
    from dlcli.modeling.loading import LoadedModel

SCATTER_SUFFIX = ".scatter.png"
SUMMARY_SUFFIX = ".evaluation.json"


def run_target_evaluation(
    loaded: LoadedModel,
    *,
    data: Path | None,
    as_json: bool,
    out: Path | None,
    batch_size: int,
    overwrite: bool = False,
) -> int:
    from dlcli import atomic
    from dlcli.console import make_console
    from dlcli.evaluation.target_scores import evaluate_target

    console = make_console()
    err_console = make_console(stderr=True)
    result = evaluate_target(loaded, data=data, batch_size=batch_size)
    payload = result.to_dict()
    folder = out if out is not None else getattr(loaded, "run_dir", None)
    written: list[str] = []
    if folder is not None:
        folder = Path(folder)
        name = Path(loaded.source).name
        pngs = _scatter_paths(folder, name, result)
        if out is not None:  # a user's folder: never replace a picture without --overwrite
            for png in pngs.values():
                atomic.check_writable(png, overwrite=overwrite)
        for output, (true, predicted) in result.output_pairs.items():
            from dlcli.viz.scatter import plot_scatter

            part = payload["outputs"][output]
            png = pngs[output]
            plot_scatter(
                true,
                predicted,
                list(part.get("per_column", {})),
                png,
                title=f"{name} {output} on {result.data} (R² {part['r2']:.3f})",
            )
            part["scatter_png"] = str(png)
            written.append(str(png))
        if result.true is not None and result.predicted is not None:
            from dlcli.viz.scatter import plot_scatter

            png = pngs[None]
            r2 = payload.get("r2")
            plot_scatter(
                result.true,
                result.predicted,
                list(payload.get("per_column", {})),
                png,
                title=f"{name} on {result.data} (R² {r2:.3f})",
            )
            payload["scatter_png"] = str(png)
            written.append(str(png))
        summary = folder / (name + SUMMARY_SUFFIX)
        atomic.write_text(summary, json.dumps(payload, indent=2) + "\n")
        written.append(str(summary))
    if as_json:
        typer.echo(json.dumps(payload, indent=2))
    else:
        for line in summary_lines(payload):
            console.print(line, markup=False, highlight=False)
    for path in written:
        err_console.print(f"wrote {path}", markup=False, highlight=False)
    return 0


def _scatter_paths(folder: Path, name: str, result: TargetEvaluation) -> dict[str | None, Path]:
    """The scatter pictures ``run_target_evaluation`` writes, by output (None: the one
    picture of a model with a single output)."""
    paths: dict[str | None, Path] = {
        output: folder / f"{name}.{output}{SCATTER_SUFFIX}" for output in result.output_pairs
    }
    if result.true is not None and result.predicted is not None:
        paths[None] = folder / (name + SCATTER_SUFFIX)
    return paths


def summary_lines(payload: dict[str, Any]) -> list[str]:
    lines = [
        f"model {payload['model']}",
        f"data  {payload['data']} ({payload['num_samples']:,} examples)",
    ]
    return lines + score_lines(payload)


def score_lines(payload: dict[str, Any]) -> list[str]:
    """One target's scores (several outputs: each output's, under its name)."""
    lines: list[str] = []
    if "outputs" in payload:
        for name, part in payload["outputs"].items():
            lines.append(f"output {name} ({part['target']})")
            lines.extend(f"  {line}" for line in score_lines(part))
        return lines
    if "confusion_matrix" in payload:
        lines.append(f"accuracy {payload['accuracy']:.4f}   loss {payload['loss']:.4f}")
        width = max([5, *(len(c) for c in payload["per_class"])])
        lines.append(f"  {'class'.ljust(width)}  precision  recall  f1      support")
        for cls, s in payload["per_class"].items():
            lines.append(
                f"  {cls.ljust(width)}  {s['precision']:.4f}     {s['recall']:.4f}  "
                f"{s['f1']:.4f}  {s['support']}"
            )
        return lines
    if "per_column" in payload:
        lines.append(
            f"MAE {payload['mae']:.4g}   RMSE {payload['rmse']:.4g}   R² {payload['r2']:.4f}"
        )
        for name, s in payload["per_column"].items():
            lines.append(f"  {name}: MAE {s['mae']:.4g}, RMSE {s['rmse']:.4g}, R² {s['r2']:.4f}")
        return lines
    lines.append(
        f"micro F1 {payload['micro_f1']:.4f}   macro F1 {payload['macro_f1']:.4f}   "
        f"exact match {payload['exact_match']:.4f}   threshold {payload['threshold']:g}"
    )
    width = max(len(t) for t in payload["per_label"]) if payload["per_label"] else 4
    lines.append(f"  {'tag'.ljust(width)}  precision  recall  f1      support")
    for tag, s in payload["per_label"].items():
        lines.append(
            f"  {tag.ljust(width)}  {s['precision']:.4f}     {s['recall']:.4f}  "
            f"{s['f1']:.4f}  {s['support']}"
        )
    return lines
