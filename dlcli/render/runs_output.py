"""What ``dlcli runs`` shows: the list of past runs and the comparison of several.

A terminal gets Rich tables that keep every cell whole: columns that do not fit the width
are dropped by priority (the list) or continued in a second table (the comparison), and
a line says so. Pipes get tab-separated rows with every column (``cut -f`` works).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from dlcli.render.columns import (
    Column,
    fit_columns,
    make_table,
    pack_columns,
    shorten_path,
    widest_fit,
)
from dlcli.viz.compare import Comparison
from dlcli.viz.runs import KeyDifference, RunInfo

_STATUS_STYLE = {"broken": "red", "incomplete": "yellow"}
_SHORT_METRIC = {"accuracy": "acc", "val_accuracy": "val acc"}
MIN_PATH = 20  # narrowest path cell worth showing ("…/" and the run's last two folders)


def fmt_number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def fmt_epochs(run_epochs: int | None, planned: int | None) -> str:
    if run_epochs is None and planned is None:
        return "-"
    return f"{'-' if run_epochs is None else run_epochs}/{'?' if planned is None else planned}"


def _shared_monitor(runs: Sequence[RunInfo]) -> str | None:
    monitors = {r.best_monitor for r in runs if r.best_value is not None}
    return monitors.pop() if len(monitors) == 1 else None


def fmt_best(info: RunInfo, *, with_monitor: bool = True) -> str:
    if info.best_value is None:
        return "-"
    epoch = f" @{info.best_epoch}" if info.best_epoch is not None else ""
    if not with_monitor:
        return f"{info.best_value:.4g}{epoch}"
    return f"{info.best_monitor or 'best'}={info.best_value:.4g}{epoch}"


def _best_column(runs: Sequence[RunInfo]) -> Column:
    shared = _shared_monitor(runs)
    header = f"best\n{shared}" if shared else "best"
    cells: list[str | Text] = [fmt_best(r, with_monitor=shared is None) for r in runs]
    return Column(header, cells)


def tsv_lines(header: Sequence[str], rows: Sequence[Sequence[str]]) -> Iterator[str]:
    """Tab-separated lines; tabs and newlines inside cells become spaces."""
    for row in (header, *rows):
        yield "\t".join(" ".join(cell.split("\t")).replace("\n", " ") for cell in row)


# -- the list -------------------------------------------------------------------------------


def _name_cell(name: str) -> Text:
    """``parent/folder`` with the folder (what tells runs apart) in bold."""
    parent, _, folder = name.rpartition("/")
    text = Text()
    if parent:
        text.append(parent + "/", style="dim")
    text.append(folder, style="bold")
    return text


def list_rows(runs: Sequence[RunInfo]) -> tuple[list[str], list[list[str]]]:
    """The plain listing: every column, the best monitor spelled out."""
    header = ["name", "date", "epochs", "best", "val acc", "samples/s", "status", "path"]
    rows = [
        [
            r.name,
            (r.date or "-")[:16].replace("T", " "),
            fmt_epochs(r.epochs_run, r.epochs_planned),
            fmt_best(r),
            fmt_number(r.final_val_accuracy),
            "-" if r.samples_per_s is None else f"{r.samples_per_s:.0f}",
            r.status,
            r.path,
        ]
        for r in runs
    ]
    return header, rows


def _short_path(path: str) -> str:
    """The path as given, or relative to the working directory when that is shorter."""
    import os

    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return relative if len(relative) < len(path) else path


def show_run_list(console: Console, runs: Sequence[RunInfo], directory: Path) -> None:
    """The runs as a table as wide as the terminal: names whole, less important columns
    dropped first (names are paths relative to ``directory``, shown in the title), and the
    path to pass to other commands last, shortened from the left to what is left."""
    best = _best_column(runs)
    columns = [
        Column("name", [_name_cell(r.name) for r in runs]),
        Column("date", [(r.date or "-")[:16].replace("T", " ") for r in runs]),
        Column("epochs", [fmt_epochs(r.epochs_run, r.epochs_planned) for r in runs]),
        best,
        Column("val acc", [fmt_number(r.final_val_accuracy) for r in runs], "right"),
        Column(
            "samples/s",
            ["-" if r.samples_per_s is None else f"{r.samples_per_s:.0f}" for r in runs],
            "right",
        ),
        Column("status", [r.status for r in runs]),
    ]
    core = ["name", "status", "epochs", best.header]
    priority = [*core, "val acc", "date", "samples/s"]
    paths = [_short_path(r.path) for r in runs]
    longest = max(len(p) for p in paths)

    def path_column(width: int) -> Column:
        cells: list[str | Text] = [Text(shorten_path(p, width), style="dim") for p in paths]
        return Column("path", cells)

    # Whole paths when they fit after name, status, epochs and best; else shortened paths
    # in what the other columns leave, never less than MIN_PATH characters while a column
    # after name, status, epochs and best could make room for them.
    whole = [*columns, path_column(longest)]
    shown, hidden = fit_columns(console, whole, [*core, "path", *priority[len(core) :]])
    if not any(c.header == "path" for c in shown):
        reserve = min(longest, MIN_PATH) + 2
        shown, hidden = fit_columns(console, columns, priority, width=console.width - reserve)
        if not {c.header for c in shown} >= set(core):  # too narrow for the path: core first
            shown, hidden = fit_columns(console, columns, core)
        path = widest_fit(console, shown, path_column, longest, min(longest, MIN_PATH))
        if path is None:
            hidden.append(Column("path", []))
        else:
            shown.append(path)
    styles = [_STATUS_STYLE.get(r.status) for r in runs]
    console.print(make_table(shown, title=f"runs under {directory}", row_styles=styles))
    if hidden:
        names = ", ".join(c.header.replace("\n", " ") for c in hidden)
        note = f"not shown at {console.width} columns: {names} (widen the terminal, or --json)"
        console.print(Text(note, style="dim"))


# -- the comparison ---------------------------------------------------------------------------


def _value(value: Any, present: bool) -> str:
    if not present:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, separators=(",", ":"))


def short_keys(keys: Sequence[str], taken: Sequence[str] = ()) -> dict[str, str]:
    """Each dotted key as its shortest trailing part that no other key (or ``taken``
    header) shares: ``train.optimizer.args.learning_rate`` -> ``learning_rate``."""
    parts = {k: k.split(".") for k in keys}
    depth = dict.fromkeys(keys, 1)
    while True:
        short = {k: ".".join(parts[k][-depth[k] :]) for k in keys}
        counts: dict[str, int] = {}
        for s in [*short.values(), *taken]:
            counts[s] = counts.get(s, 0) + 1
        grow = [k for k in keys if counts[short[k]] > 1 and depth[k] < len(parts[k])]
        if not grow:
            return short
        for k in grow:
            depth[k] += 1


def _metric_header(key: str) -> str:
    return _SHORT_METRIC.get(key, key)


def _comparison_columns(c: Comparison) -> tuple[Column, list[Column], dict[str, str]]:
    infos = [r.info for r in c.runs]
    best = _best_column(infos)
    metrics = [
        Column(
            _metric_header(key),
            [fmt_number(r.final.get(key)) for r in c.runs],
            "right",
        )
        for key in c.metric_keys
    ]
    fixed = [
        Column("epochs", [fmt_epochs(i.epochs_run, i.epochs_planned) for i in infos]),
        best,
        *metrics,
    ]
    short = short_keys([d.key for d in c.differences], taken=["run", *(f.header for f in fixed)])
    recipe = [_diff_column(d, short[d.key]) for d in c.differences]
    first = Column("run", [Text(r.label, style="bold") for r in c.runs])
    return first, recipe + fixed, short


def _diff_column(d: KeyDifference, header: str) -> Column:
    cells: list[str | Text] = [_value(v, p) for v, p in zip(d.values, d.present, strict=True)]
    return Column(header, cells)


def show_comparison(console: Console, c: Comparison) -> None:
    """One row per run: the recipe keys that differ, then what each run measured. Columns
    that do not fit the width continue in a second table (the run column repeated)."""
    first, columns, short = _comparison_columns(c)
    groups = pack_columns(console, first, columns)
    styles = [_STATUS_STYLE.get(r.info.status) for r in c.runs]
    for i, group in enumerate(groups):
        title = f"{len(c.runs)} runs compared" if i == 0 else f"continued ({i + 1}/{len(groups)})"
        console.print(make_table(group, title=title, row_styles=styles))
    if not c.differences:
        console.print("recipes: identical (the resolved recipe.yaml of every run is the same)")
    for key, header in short.items():
        if header != key:
            console.print(Text(f"{header} = {key}", style="dim"))
    parents = {r.path.resolve().parent for r in c.runs}
    if len(parents) == 1:
        console.print(Text(f"runs in {parents.pop()}", style="dim"))
    else:
        for r in c.runs:
            console.print(Text(f"{r.label}: {r.path}", style="dim"))


def difference_notes(c: Comparison, *, limit: int = 60) -> tuple[dict[str, str], str]:
    """What sets each run apart, for a picture: ``{label: "learning_rate=0.001, epochs=3"}``
    (keys shortened as in the table, each note cut at ``limit`` characters), and a line
    naming the keys in full (or saying that the recipes are the same)."""
    if not c.differences:
        same = "recipes identical: the runs differ only by chance (data order, initial weights)"
        return {r.label: "" for r in c.runs}, same
    short = short_keys([d.key for d in c.differences])
    notes: dict[str, str] = {}
    for i, r in enumerate(c.runs):
        note = ", ".join(
            f"{short[d.key]}={_value(d.values[i], True) if d.present[i] else '(unset)'}"
            for d in c.differences
        )
        notes[r.label] = note if len(note) <= limit else note[: limit - 1] + "…"
    return notes, "recipes differ in: " + ", ".join(d.key for d in c.differences)


def comparison_rows(c: Comparison) -> tuple[list[str], list[list[str]]]:
    """The plain comparison: full key names as headers, every column, the run's path last."""
    keys = c.metric_keys
    header = ["run", *(d.key for d in c.differences), "epochs", "best", *keys, "path"]
    rows = []
    for i, r in enumerate(c.runs):
        rows.append(
            [
                r.label,
                *(_value(d.values[i], d.present[i]) for d in c.differences),
                fmt_epochs(r.info.epochs_run, r.info.epochs_planned),
                fmt_best(r.info),
                *(fmt_number(r.final.get(k)) for k in keys),
                str(r.path),
            ]
        )
    return header, rows
