"""Writing a Keras model in an export format, through the format registry.

Each format (SavedModel, TFLite, ONNX, ...) is one module of :mod:`dlcli.modeling.formats`;
this module holds what ``dlcli export`` does around any of them: refuse a quantisation the
format does not take or missing optional packages before any work, wrap converter failures
in one clear :class:`RunFailure`, and embed the metadata. Checked on TF 2.21, Keras 3.15,
tf2onnx 1.17, onnx 1.23, onnxruntime 1.32, ai-edge-litert 2.3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlcli.errors import RunFailure, UsageError
from dlcli.modeling.formats import NO_QUANTIZATION, format_names, get_format, quiet


def quantize_choices() -> tuple[str, ...]:
    """Every quantisation some registered format takes, ``none`` first."""
    seen: dict[str, None] = {NO_QUANTIZATION: None}
    for name in format_names():
        seen.update(dict.fromkeys(get_format(name).quantizations))
    return tuple(seen)


def check_requirements(fmt: str) -> None:
    """Fail before any work when the optional packages a format needs are missing."""
    missing = get_format(fmt).missing_packages()
    if missing:
        raise UsageError(
            f"exporting to {fmt} needs {', '.join(missing)}",
            hint="pip install 'dlcli[export]'",
        )


def check_quantize(fmt: str, quantize: str) -> None:
    """Quantisation is a converter option of some formats; refuse it for the others."""
    if quantize in get_format(fmt).quantizations:
        return
    takers = [n for n in format_names() if quantize in get_format(n).quantizations]
    raise UsageError(
        f"--quantize {quantize} applies to {' and '.join(takers) or 'no format'} only",
        field="--quantize",
        received=fmt,
        hint=f"leave --quantize out for {fmt}",
    )


def write_model(model: Any, fmt: str, path: Path, *, quantize: str = NO_QUANTIZATION) -> None:
    """Write ``model`` in ``fmt`` at ``path`` (a folder for folder formats)."""
    check_quantize(fmt, quantize)
    export_format = get_format(fmt)
    try:
        with quiet():
            export_format.write(model, path, quantize=quantize)
    except (UsageError, RunFailure):
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise RunFailure(
            f"converting the model to {fmt} failed ({type(exc).__name__}: {first})",
            hint="run with DLCLI_DEBUG=1 for the converter's traceback",
        ) from exc


def embed_metadata(path: Path, fmt: str, text: str) -> None:
    """Store the metadata JSON inside the exported file where the format has room for it
    (a file copied without its sidecar still knows its class names)."""
    get_format(fmt).embed_metadata(path, text)
