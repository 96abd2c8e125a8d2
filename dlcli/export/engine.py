"""``dlcli export``: write a deployable model, prove it computes what Keras computes.

Steps, each able to stop the export before anything appears at the destination:

1. resolve and safely load the Keras model (run directory or ``.keras``);
2. refuse an existing destination without ``--overwrite``;
3. decode real sample inputs (:mod:`.samples`) before the slow conversion;
4. convert into a hidden temporary directory *beside* the destination (same filesystem);
5. load the result with its own runtime (``tf.saved_model``, the LiteRT interpreter,
   onnxruntime) and compare it with the Keras model on the samples: the largest absolute
   difference must be within the tolerance, else :class:`RunFailure` (exit 1);
6. bundle the metadata, then rename into place. On any failure the temporary directory
   is removed and the destination is untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlcli import interrupts
from dlcli.errors import DlcliError, OutputExistsError, RunFailure, UsageError
from dlcli.export.formats import (
    check_requirements,
    embed_metadata,
    quantize_choices,
    write_model,
)
from dlcli.modeling.formats import get_format

DEFAULT_TOLERANCE = {"none": 1e-4, "float16": 1e-2, "dynamic": 5e-2}


@dataclass
class ExportResult:
    """What was written and how closely it matches the Keras model."""

    format: str
    path: Path
    metadata_path: Path
    max_abs_diff: float
    tolerance: float
    samples: int
    sample_source: str
    size_bytes: int
    seconds: float
    quantize: str = "none"
    source: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    per_output: dict[str, float] = field(default_factory=dict)  # model.outputs: each's diff

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "path": str(self.path),
            "metadata": str(self.metadata_path),
            "max_abs_diff": self.max_abs_diff,
            "tolerance": self.tolerance,
            "samples": self.samples,
            "sample_source": self.sample_source,
            "size_bytes": self.size_bytes,
            "seconds": round(self.seconds, 3),
            "quantize": self.quantize,
            "source": str(self.source) if self.source else None,
            **({"per_output": self.per_output} if self.per_output else {}),
        }


def default_output(source: Path, run_dir: Path | None, fmt: str) -> Path:
    """``<run>/export/model.tflite`` (``saved_model/``) for a run; else beside the file."""
    export_format = get_format(fmt)
    if run_dir is not None:
        return run_dir / "export" / export_format.default_name(source.stem, in_run=True)
    return source.with_name(export_format.default_name(source.stem, in_run=False))


def _metadata_target(out: Path, fmt: str) -> Path:
    return get_format(fmt).metadata_path(out)


def _check_destination(out: Path, fmt: str, overwrite: bool) -> None:
    export_format = get_format(fmt)
    suffix, folder = export_format.suffix, export_format.is_folder
    if not folder and out.suffix.lower() != suffix:
        raise UsageError(
            f"--out for {fmt} must end in {suffix}",
            file=out,
            field="--out",
            received=out.name,
        )
    if out.exists() and not folder and out.is_dir():
        raise UsageError("--out is a directory", file=out, expected=f"a {suffix} file path")
    if out.exists() and folder and not out.is_dir():
        raise UsageError("--out exists and is not a directory", file=out, field="--out")
    if folder and out.is_dir() and any(out.iterdir()) and not export_format.claims(out):
        # --overwrite replaces the whole folder: never a folder of other files.
        raise UsageError(
            f"--out is a folder that is not a {export_format.title}; it would be replaced entirely",
            file=out,
            field="--out",
            hint="name a new folder, e.g. --out "
            + str(out / export_format.default_name(out.name, in_run=True)),
        )
    for path in (out, _metadata_target(out, fmt)):
        if path.exists() and not overwrite:
            raise OutputExistsError(
                "output exists", file=path, hint="pass --overwrite to replace it, or choose --out"
            )


def output_diffs(target: Any, expected: np.ndarray, got: np.ndarray) -> dict[str, float]:
    """Each named output's maximum absolute difference (``model.outputs``), else {}."""
    from dlcli.targets import target_of

    parts = target_of(target).parts(target) if target is not None else None
    diffs = {}
    for p in parts or []:
        a, b = p.out_columns
        diffs[p.name] = max_abs_diff(np.asarray(expected)[:, a:b], np.asarray(got)[:, a:b])
    return diffs


def max_abs_diff(expected: np.ndarray, got: np.ndarray) -> float:
    expected = np.asarray(expected, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    if expected.shape != got.shape:
        raise RunFailure(
            "the exported model's output has another shape than the Keras model's",
            expected=str(expected.shape),
            received=str(got.shape),
        )
    if not np.all(np.isfinite(got)) and np.all(np.isfinite(expected)):
        return float("inf")
    return float(np.max(np.abs(expected - got))) if expected.size else 0.0


def export_model(
    model: Path,
    fmt: str,
    *,
    out: Path | None = None,
    sample: Path | None = None,
    tolerance: float | None = None,
    quantize: str = "none",
    labels: Path | None = None,
    overwrite: bool = False,
    trust: bool = False,
    final: bool = False,
) -> ExportResult:
    from dlcli.export.metadata import build_metadata
    from dlcli.export.samples import parity_samples
    from dlcli.modeling.loading import resolve_model

    export_format = get_format(fmt)
    fmt = export_format.name
    if quantize not in quantize_choices():
        raise UsageError(
            f"unknown quantization {quantize!r}",
            field="--quantize",
            expected=" | ".join(quantize_choices()),
        )
    if tolerance is not None and (not np.isfinite(tolerance) or tolerance < 0):
        raise UsageError("--tolerance must be >= 0", field="--tolerance", received=tolerance)
    check_requirements(fmt)
    start = time.perf_counter()
    loaded = resolve_model(model, trust=trust, labels=labels, final=final)
    if loaded.model is None:
        raise UsageError(
            f"{loaded.source} is already an exported {loaded.format} model",
            file=loaded.source,
            expected="a run directory or a .keras file",
        )
    _check_string_input(loaded, export_format)
    _check_input_count(loaded, export_format)
    out = Path(out) if out is not None else default_output(loaded.source, loaded.run_dir, fmt)
    _check_destination(out, fmt, overwrite)
    tol = DEFAULT_TOLERANCE[quantize] if tolerance is None else float(tolerance)
    batch = parity_samples(loaded, sample)
    expected = loaded.predict_batch(batch.x)

    created: list[Path] = []
    staging: Path | None = None
    done = False
    try:
        with interrupts.held():  # Ctrl-C/SIGTERM must not leave a folder nobody removes
            created = _make_parents(out.parent)
            staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        staged = staging / out.name
        write_model(loaded.model, fmt, staged, quantize=quantize)
        try:
            runner = export_format.runner(staged)
        except DlcliError as exc:  # our converter wrote something its runtime rejects
            raise RunFailure(
                f"the exported {fmt} model cannot be run: {exc.problem.message}",
                hint="nothing was written; please report this with DLCLI_DEBUG=1 output",
            ) from exc
        got = runner.predict(batch.x)
        diff = max_abs_diff(expected, got)
        per_output = output_diffs(loaded.target, expected, got)
        del runner  # release the interpreter/session before files move
        parity = {
            "max_abs_diff": diff,
            "tolerance": tol,
            "samples": batch.count,
            "sample_source": batch.description,
            "reference": "keras model(x, training=False)",
            **({"per_output": per_output} if per_output else {}),
        }
        if not diff <= tol:
            scale = float(np.max(np.abs(expected))) if np.size(expected) else 0.0
            relative = f", {diff / scale:.2g} of the largest output {scale:.3g}" if scale else ""
            raise RunFailure(
                f"parity check failed: the exported {fmt} model differs from the Keras model "
                f"by up to {diff:.3g}{relative} on {batch.description}",
                expected=f"a maximum absolute difference <= {tol:g}",
                hint="nothing was written; raise --tolerance if the difference is acceptable "
                "(quantised exports differ by design; large unscaled outputs such as logits "
                "differ by float32 rounding)",
            )
        meta = build_metadata(
            fmt=fmt,
            model=loaded.model,
            class_names=loaded.class_names,
            preprocessing=loaded.preprocessing,
            source=str(loaded.source),
            parity=parity,
            quantize=quantize,
            target=loaded.target,
        )
        text = json.dumps(meta, indent=2) + "\n"
        embed_metadata(staged, fmt, json.dumps(meta))  # where the format has room: inside too
        staged_meta = _metadata_target(staged, fmt)
        staged_meta.parent.mkdir(parents=True, exist_ok=True)
        staged_meta.write_text(text, encoding="utf-8")
        _fsync_tree(staging)
        interrupts.check()  # a stop whose exception the converter swallowed: nothing moves
        _move_into_place(staged, staged_meta, out, fmt)
        done = True
    finally:
        with interrupts.held():  # a second signal must not stop the clean-up half way
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            for folder in created if not done else ():  # deepest first; only ours
                with contextlib.suppress(OSError):
                    folder.rmdir()
    return ExportResult(
        format=fmt,
        path=out,
        metadata_path=_metadata_target(out, fmt),
        max_abs_diff=diff,
        tolerance=tol,
        samples=batch.count,
        sample_source=batch.description,
        size_bytes=_size(out),
        seconds=time.perf_counter() - start,
        quantize=quantize,
        source=loaded.source,
        per_output=per_output,
    )


def _check_string_input(loaded: Any, export_format: Any) -> None:
    """A model that takes raw text cannot go to a format without string ops: say so, and
    what works instead, before anything is converted."""
    dtypes = [str(getattr(t, "dtype", "")) for t in loaded.model.inputs]
    if not any("string" in d for d in dtypes) or export_format.takes_strings:
        return
    raise UsageError(
        f"{export_format.title} cannot take raw text: this model's input is a string and "
        f"its tokeniser (TextVectorization) uses TensorFlow string ops {export_format.title} "
        "does not have",
        file=loaded.source,
        expected="--format saved_model (serves raw strings), or a token-id model",
        hint="export --format saved_model; or, for TFLite/ONNX, tokenise outside the model "
        "with the run's vocabulary.txt and export the layers after TextVectorization as a "
        "model taking int32 token ids (docs/text.md, 'Exporting text models')",
    )


def _check_input_count(loaded: Any, export_format: Any) -> None:
    """A model with several named inputs goes only to a format that serves them by name."""
    names = [t.name for t in loaded.model.inputs]
    if len(names) < 2 or export_format.several_inputs:
        return
    from dlcli.modeling.formats import format_names, get_format

    able = [n for n in format_names() if get_format(n).several_inputs]
    raise UsageError(
        f"{export_format.title} export takes models with one input; this model has "
        f"{len(names)} ({', '.join(names)})",
        file=loaded.source,
        expected=" or ".join(f"--format {n}" for n in able) + " (each input fed by its name)",
        received=f"--format {export_format.name}",
    )


def _make_parents(folder: Path) -> list[Path]:
    """``mkdir -p``, returning the folders it created, deepest first."""
    missing: list[Path] = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
    return missing


def _fsync_tree(root: Path) -> None:
    for dirpath, _, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError), open(os.path.join(dirpath, name), "rb") as fh:
                os.fsync(fh.fileno())


def _move_into_place(staged: Path, staged_meta: Path, out: Path, fmt: str) -> None:
    """Rename the checked export onto the destination (``--overwrite`` already checked)."""
    if get_format(fmt).is_folder:
        old = None
        with interrupts.held():  # both renames or neither: never a hidden old folder alone
            if out.exists():  # rename aside first, so a failure never leaves a mix of both
                old = out.with_name(f".{out.name}.old-{os.getpid()}")
                os.replace(out, old)
            os.replace(staged, out)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        return
    # The sidecar first: a model file never appears without its metadata.
    os.replace(staged_meta, get_format(fmt).metadata_path(out))
    os.replace(staged, out)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
