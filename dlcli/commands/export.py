"""``dlcli export MODEL --format FMT``: a deployable model plus its metadata, parity-checked."""

from __future__ import annotations

import json
from pathlib import Path

import typer

HELP = """Export a trained model as a TensorFlow SavedModel, a TFLite file or an
ONNX file, with its metadata, after checking it computes what Keras computes.

MODEL is a run directory (its best.keras, the best epoch, else model.keras;
--final picks model.keras, the last epoch; with labels.json) or a .keras file.
The metadata's source_model names the file exported. Default output:
RUN/export/saved_model/, model.tflite or model.onnx for a run;
NAME_saved_model/, NAME.tflite or NAME.onnx beside a bare .keras file.

Metadata JSON goes beside the export (model.tflite.json, model.onnx.json; also
inside the file: the ONNX metadata_props entry "dlcli", the TFLite
flatbuffer's metadata entry "dlcli"; saved_model/assets/labels.json): class
names, image size, colour mode, channels, interpolation, the scaling the model
does itself, input shape and layout, output activation and the parity result.
Exports take raw pixels (float32 0..255, NHWC) like the Keras model, so they
can be served without dlcli.

Parity check: the export and the Keras model run on the same real images (the
run's validation data from recipe.yaml, else its training data, or --sample)
and the largest absolute difference is printed. Above --tolerance (default
1e-4; 1e-2 for --quantize float16, 5e-2 for dynamic) the export fails with
exit 1. It is built in a hidden folder beside the destination and moved into
place only after the check, so a failed export leaves nothing behind.

`dlcli predict` runs exported .tflite/.onnx files and SavedModel folders.
ONNX needs the optional packages: pip install 'dlcli\\[export]'.

Exit codes: 0 exported; 1 conversion or parity check failed; 2 a usage error
(unknown format, existing output without --overwrite, unsafe model, ...).
"""


def register(app: typer.Typer) -> None:
    @app.command("export", help=HELP)
    def export(
        model: Path = typer.Argument(..., help="Run directory or .keras model file."),
        fmt: str = typer.Option(
            ..., "--format", "-f", help="saved_model, tflite or onnx.", show_default=False
        ),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Output path (.tflite/.onnx file, or SavedModel folder)."
        ),
        sample: Path | None = typer.Option(
            None,
            "--sample",
            help="Images (folder, file or glob) or a CSV for the parity check.",
        ),
        tolerance: float | None = typer.Option(
            None,
            "--tolerance",
            help="Largest allowed absolute difference from the Keras model [default: 1e-4].",
            show_default=False,
        ),
        quantize: str = typer.Option(
            "none", "--quantize", help="TFLite only: none, float16 or dynamic (int8 weights)."
        ),
        labels: Path | None = typer.Option(
            None, "--labels", help="Class names, one per line (or labels.json) for a bare model."
        ),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing export."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
        trust_model: bool = typer.Option(
            False, "--trust-model", help="Allow models that run code when loaded (unsafe)."
        ),
        final: bool = typer.Option(
            False, "--final", help="With a run directory: model.keras (last epoch), not best."
        ),
    ) -> int:
        return run_export(
            model=model,
            fmt=fmt,
            out=out,
            sample=sample,
            tolerance=tolerance,
            quantize=quantize,
            labels=labels,
            overwrite=overwrite,
            as_json=as_json,
            trust_model=trust_model,
            final=final,
        )


def _check_options(fmt: str, quantize: str, tolerance: float | None) -> str:
    """Everything that can be refused before TensorFlow loads."""
    import math

    from dlcli.errors import UsageError
    from dlcli.export.formats import check_quantize, quantize_choices
    from dlcli.modeling.formats import get_format  # light: TensorFlow loads inside formats

    name = get_format(fmt).name
    if quantize not in quantize_choices():
        raise UsageError(
            "unknown quantization",
            field="--quantize",
            expected=" | ".join(quantize_choices()),
            received=quantize,
        )
    check_quantize(name, quantize)
    if tolerance is not None and (not math.isfinite(tolerance) or tolerance < 0):
        raise UsageError(
            "--tolerance must be a number >= 0", field="--tolerance", received=tolerance
        )
    return name


def run_export(
    *,
    model: Path,
    fmt: str,
    out: Path | None = None,
    sample: Path | None = None,
    tolerance: float | None = None,
    quantize: str = "none",
    labels: Path | None = None,
    overwrite: bool = False,
    as_json: bool = False,
    trust_model: bool = False,
    final: bool = False,
) -> int:
    fmt = _check_options(fmt, quantize, tolerance)

    from dlcli.console import make_console
    from dlcli.export import export_model
    from dlcli.render.export_output import render_export

    err_console = make_console(stderr=True)
    if not as_json:
        err_console.print(f"exporting {model} to {fmt} ...", highlight=False)
    result = export_model(
        model,
        fmt,
        out=out,
        sample=sample,
        tolerance=tolerance,
        quantize=quantize,
        labels=labels,
        overwrite=overwrite,
        trust=trust_model,
        final=final,
    )
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        render_export(make_console(), result)
    return 0
