"""What ``dlcli evaluate`` shows: headline numbers, per-class scores, the confusion matrix.

A terminal gets Rich tables, the confusion matrix with cells shaded by the fraction of the
true class (green on the diagonal, red off it); anything else gets aligned plain text.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dlcli.console import is_interactive
from dlcli.render.predict_output import shown_path


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_headline(console: Console, result) -> None:
    console.print(f"model: {escape(shown_path(result.model))}", highlight=False)
    data = escape(shown_path(result.data))
    console.print(f"data:  {data} ({result.num_samples:,} examples)", highlight=False)
    console.print(
        f"accuracy {_num(result.accuracy)}   loss {_num(result.loss)} "
        "(sparse categorical crossentropy)",
        highlight=False,
        style="bold" if is_interactive(console) else None,
    )
    for name, value in result.metrics.items():
        console.print(f"{name} {_num(value)}", highlight=False)
    if result.recorded:
        recorded = "  ".join(f"{k} {_num(v)}" for k, v in result.recorded.items())
        when = result.recorded_when or "the end of training"
        console.print(f"recorded in training ({when}): {recorded}", highlight=False)
    for note in result.notes:
        console.print(f"note: metric {note}", highlight=False)


def _class_rows(result) -> list[tuple[str, ...]]:
    rows = [
        (name, _num(s.precision), _num(s.recall), _num(s.f1), f"{s.support:,}")
        for name, s in zip(result.class_names, result.per_class, strict=True)
    ]
    for key in ("macro", "weighted"):
        avg = result.averages.get(key)
        if avg:
            rows.append(
                (
                    f"{key} avg",
                    _num(avg["precision"]),
                    _num(avg["recall"]),
                    _num(avg["f1"]),
                    f"{avg['support']:,}",
                )
            )
    return rows


def _plain_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            str(c).ljust(widths[0]) if i == 0 else str(c).rjust(widths[i])
            for i, c in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def render_per_class(console: Console, result) -> None:
    header = ("class", "precision", "recall", "f1", "support")
    rows = _class_rows(result)
    if not is_interactive(console):
        for line in _plain_table(header, rows):
            console.print(line, highlight=False)
        return
    table = Table(title="per-class scores")
    for i, col in enumerate(header):
        table.add_column(col, justify="left" if i == 0 else "right")
    n = len(result.class_names)
    for i, row in enumerate(rows):
        table.add_row(
            *(escape(c) for c in row), end_section=i == n - 1, style="bold" if i >= n else None
        )
    console.print(table)


def _shade(fraction: float, diagonal: bool, color_system: str | None) -> str:
    """Cell style by the fraction of the true class: green on the diagonal, red off it.

    Terminals with 256+ colours get a gradient; 8/16-colour terminals get three steps, since
    Rich would map every dark RGB shade to black there.
    """
    fraction = max(0.0, min(1.0, fraction))
    if color_system in ("truecolor", "256"):
        base = 40
        level = int(base + (200 - base) * fraction)
        colour = f"rgb({base},{level},{base})" if diagonal else f"rgb({level},{base},{base})"
        return f"white on {colour}"
    if diagonal:
        return "black on green" if fraction >= 0.5 else "green"
    if fraction >= 0.2:
        return "white on red"
    return "bold red" if fraction >= 0.05 else "red"


def render_confusion(console: Console, result) -> None:
    names = list(result.class_names)
    matrix = result.confusion_matrix
    totals = matrix.sum(axis=1)
    if not is_interactive(console):
        console.print("confusion matrix (rows: true class, columns: predicted):", highlight=False)
        header = ("true \\ pred", *names)
        rows = [(names[i], *(str(int(v)) for v in matrix[i])) for i in range(len(names))]
        for line in _plain_table(header, rows):
            console.print(line, highlight=False)
        return
    table = Table(title="confusion matrix (rows: true, columns: predicted)")
    table.add_column("true \\ pred", style="bold", no_wrap=True)
    for name in names:
        table.add_column(escape(name), justify="right")
    for i, name in enumerate(names):
        cells = []
        for j in range(len(names)):
            count = int(matrix[i, j])
            if count == 0:
                cells.append("[dim]·[/dim]")
                continue
            fraction = count / totals[i] if totals[i] else 0.0
            cells.append(f"[{_shade(fraction, i == j, console.color_system)}] {count} [/]")
        table.add_row(escape(name), *cells)
    console.print(table)


def render_skipped_files(console: Console, skipped: Sequence, limit: int = 50) -> None:
    if not skipped:
        return
    console.print(f"skipped {len(skipped):,} file(s):", highlight=False)
    _list_files(console, skipped, limit)


def render_ignored_files(console: Console, ignored: Sequence, limit: int = 50) -> None:
    if not ignored:
        return
    console.print(f"ignored {len(ignored):,} file(s) that are not images:", highlight=False)
    _list_files(console, ignored, limit)


def _list_files(console: Console, files: Sequence, limit: int) -> None:
    for s in files[:limit]:
        line = f"  {escape(shown_path(s.path))}: {escape(s.reason)}"
        console.print(line, highlight=False, soft_wrap=True)
    if len(files) > limit:
        console.print(f"  ... and {len(files) - limit:,} more (all in --json)", highlight=False)


def render_evaluation(console: Console, result, *, written: Sequence[str] = ()) -> None:
    render_headline(console, result)
    render_per_class(console, result)
    render_confusion(console, result)
    render_ignored_files(console, result.ignored)
    render_skipped_files(console, result.skipped)
    for path in written:
        console.print(f"wrote {escape(shown_path(path))}", highlight=False)
