"""What ``dlcli export`` shows: where the model and its metadata went, and the parity result."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from dlcli.console import is_interactive


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def render_export(console: Console, result) -> None:
    """Three plain lines (a pipe or log file gets the same text without styling)."""
    ok = "[green]ok[/green]" if is_interactive(console) else "ok"
    quant = "" if result.quantize == "none" else f", quantized {result.quantize}"
    console.print(
        f"exported {result.format}{quant}: {escape(str(result.path))} "
        f"({human_size(result.size_bytes)}, {result.seconds:.1f} s)",
        highlight=False,
    )
    console.print(f"metadata: {escape(str(result.metadata_path))}", highlight=False)
    console.print(
        f"parity: max abs diff {result.max_abs_diff:.3g} <= tolerance {result.tolerance:g} "
        f"on {escape(result.sample_source)} {ok}",
        highlight=False,
    )
