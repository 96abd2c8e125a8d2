"""What ``dlcli export`` shows: where the model and its metadata went, and the parity result."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from dlcli.console import is_interactive
from dlcli.render.inspect_output import human_bytes


def render_export(console: Console, result) -> None:
    """Three plain lines (a pipe or log file gets the same text without styling)."""
    ok = "[green]ok[/green]" if is_interactive(console) else "ok"
    quant = "" if result.quantize == "none" else f", quantized {result.quantize}"
    console.print(
        f"exported {result.format}{quant}: {escape(str(result.path))} "
        f"({human_bytes(result.size_bytes)}, {result.seconds:.1f} s)",
        highlight=False,
    )
    console.print(f"metadata: {escape(str(result.metadata_path))}", highlight=False)
    if result.source is not None:  # a run directory resolves to best.keras, or model.keras
        console.print(f"from: {escape(str(result.source))}", highlight=False)
    console.print(
        f"parity: max abs diff {result.max_abs_diff:.3g} <= tolerance {result.tolerance:g} "
        f"on {escape(result.sample_source)} {ok}",
        highlight=False,
    )
    if result.per_output:
        each = ", ".join(f"{name} {diff:.3g}" for name, diff in result.per_output.items())
        console.print(f"parity per output (max abs diff): {escape(each)}", highlight=False)
