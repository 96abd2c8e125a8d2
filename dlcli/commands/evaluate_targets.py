"""``dlcli evaluate`` for multi-label and regression models (called by ``evaluate``).

Prints the target's scores (per-tag F1 with micro/macro averages at the run's threshold;
MAE, RMSE and R² per target column), writes ``MODEL_FILE.evaluation.json`` and, for
regression, ``MODEL_FILE.scatter.png`` (predicted against true) into ``--out`` or the run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

SCATTER_SUFFIX = ".scatter.png"
SUMMARY_SUFFIX = ".evaluation.json"


def run_target_evaluation(
    loaded: Any, *, data: Path | None, as_json: bool, out: Path | None, batch_size: int
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
        if result.true is not None and result.predicted is not None:
            from dlcli.viz.scatter import plot_scatter

            png = folder / (name + SCATTER_SUFFIX)
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


def summary_lines(payload: dict[str, Any]) -> list[str]:
    lines = [
        f"model {payload['model']}",
        f"data  {payload['data']} ({payload['num_samples']:,} examples)",
    ]
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
