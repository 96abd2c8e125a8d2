"""What ``dlcli inspect`` shows: the layer table and the totals, or the same as JSON.

A terminal gets a Rich table; anything else gets aligned plain text (no colour codes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dlcli.console import is_interactive

HEADER = ("#", "name", "type", "output shape", "params", "FLOPs")


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def human_count(n: int | None) -> str:
    """3 significant-ish digits with K/M/G (powers of 1000), as FLOPs are usually quoted."""
    if n is None:
        return "?"
    for unit, scale in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(n)


def shape_text(shape: Any) -> str:
    if not shape:
        return "-"
    if isinstance(shape[0], list):
        return ", ".join(shape_text(s) for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _rows(summary: Any) -> list[tuple[str, ...]]:
    return [
        (
            str(r.index),
            r.name,
            r.type,
            shape_text(r.output_shape),
            f"{r.params:,}" + (" (frozen)" if r.frozen else ""),
            human_count(r.flops),
        )
        for r in summary.layers
    ]


def _totals(summary: Any) -> list[tuple[str, str]]:
    flops = f"{summary.total_flops:,} per sample ({human_count(summary.total_flops)})"
    if summary.flops_unknown:
        flops += f"; unknown for: {', '.join(summary.flops_unknown)}"
    named = getattr(summary, "outputs", None) or {}
    outputs = ", ".join(f"{name} {shape_text(shape)}" for name, shape in named.items())
    return [
        *([("outputs", outputs)] if outputs else []),
        ("total params", f"{summary.total_params:,}"),
        ("trainable", f"{summary.trainable_params:,}"),
        ("non-trainable", f"{summary.non_trainable_params:,}"),
        ("FLOPs", flops),
        ("weight memory", human_bytes(summary.weight_bytes)),
    ]


def _plain_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    right = {0, 4, 5}
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _stage_lines(stages: list[dict[str, Any]] | None) -> list[str]:
    """One line per ``train.stages`` entry: its epochs, layers and trainable parameters."""
    lines = []
    for i, stage in enumerate(stages or [], start=1):
        first, last = stage["first_epoch"], stage["last_epoch"]
        epochs = f"epoch {first}" if first == last else f"epochs {first}-{last}"
        lines.append(
            f"stage {i} {stage['name']} ({epochs}): trainable {stage['trainable']}, "
            f"{stage['trainable_params']:,} of {stage['total_params']:,} parameters"
        )
    return lines


def render_summary(
    console: Console, summary: Any, source: str, stages: list[dict[str, Any]] | None = None
) -> None:
    title = f"{summary.name} ({source})"
    rows = _rows(summary)
    if is_interactive(console):
        table = Table(title=escape(title))
        for i, col in enumerate(HEADER):
            table.add_column(col, justify="right" if i in (0, 4, 5) else "left")
        for row in rows:
            table.add_row(*(escape(c) for c in row))
        console.print(table)
        for label, value in _totals(summary):
            console.print(f"[bold]{label}:[/bold] {escape(value)}", highlight=False)
        for line in _stage_lines(stages):
            console.print(escape(line), highlight=False)
        return
    console.print(title, markup=False, highlight=False)
    for line in _plain_table(HEADER, rows):
        console.print(line, markup=False, highlight=False)
    for label, value in _totals(summary):
        console.print(f"{label}: {value}", markup=False, highlight=False)
    for line in _stage_lines(stages):
        console.print(line, markup=False, highlight=False)


def summary_json(
    summary: Any, source: str, stages: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    data = summary.to_dict()
    extra = {"stages": stages} if stages is not None else {}
    return {"source": source, **data, **extra}
