"""``dlcli explain MODEL INPUT...``: what the model looks at, as heat maps and token scores."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from dlcli.data.listing import SkippedFile
    from dlcli.explain.engine import ExplainSetup, Explanation
    from dlcli.modeling.loading import LoadedModel

EXIT_SKIPPED = 3
SUMMARY_FILE = "explanations.json"

HELP = "\n\n".join(
    [
        "Show why a model predicts what it does: a heat map over each input image "
        "(Grad-CAM, saliency or integrated gradients), over the spectrogram of a sound "
        "model (its own spectrogram layer's, or for a raw-waveform model one computed for "
        "the picture, heat over time), or a score per token of a text model.",
        "MODEL is a run directory (its best.keras; --final: model.keras) or a .keras file, as "
        "for `dlcli predict`. INPUT: files, folders and glob patterns, read as the model's "
        "data kind reads them (the run's image size and colour mode, sample rate, text "
        "columns).",
        "--class: the class to explain, by name or output index (default: each input's "
        "predicted class). --method: gradcam (default for images and sound: the last layer "
        "with feature maps, or --layer NAME; a layer inside a nested model or backbone is "
        "OUTER/INNER), saliency, or integrated_gradients (--steps, from an all-zero "
        "baseline: black, silence, blanked words; the default for text). Scores are the "
        "logits before a final softmax.",
        "Writes, under --out DIR (default: next to the model, MODEL_explain): per input "
        "NAME.png (the input, the heat map over it, the top-k classes with probabilities) "
        "and NAME.npy (the heat map at the input's size in 0..1, or the token scores), and "
        "explanations.json (every input's classes, method, layer and files). A terminal "
        "shows each heat map in truecolour and the top-k classes.",
        "Exit codes: 0 every input explained; 3 some inputs could not be read (listed with "
        "the reason); 2 a usage error (unknown class, layer or method, existing outputs "
        "without --overwrite, ...).",
    ]
)


def register(app: typer.Typer) -> None:
    @app.command("explain", help=HELP)
    def explain(
        model: Path = typer.Argument(..., help="Run directory or .keras model file."),
        sources: list[str] = typer.Argument(
            ..., metavar="INPUT...", help="Files, folders or glob patterns (quote globs)."
        ),
        class_: str | None = typer.Option(
            None, "--class", "-c", help="Class to explain, by name or index (default: predicted)."
        ),
        method: str | None = typer.Option(
            None,
            "--method",
            "-m",
            help="gradcam, saliency or integrated_gradients (default: gradcam; text: "
            "integrated_gradients).",
        ),
        layer: str | None = typer.Option(
            None, "--layer", help="Grad-CAM's layer (default: the last with feature maps)."
        ),
        out: Path | None = typer.Option(None, "--out", "-o", help="Folder for the pictures."),
        top_k: int = typer.Option(3, "--top-k", "-k", min=1, help="Classes shown per input."),
        steps: int = typer.Option(
            32, "--steps", min=1, help="Integrated gradients: points on the path."
        ),
        recursive: bool = typer.Option(
            False, "--recursive", "-r", help="Search folders recursively."
        ),
        labels: Path | None = typer.Option(
            None, "--labels", help="Class names, one per line (or labels.json) for a bare model."
        ),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing pictures."),
        trust_model: bool = typer.Option(
            False, "--trust-model", help="Allow models that run code when loaded (unsafe)."
        ),
        final: bool = typer.Option(
            False, "--final", help="With a run directory: model.keras (last epoch), not best."
        ),
        text_column: str | None = typer.Option(
            None,
            "--text-column",
            help="Text models: the column of a CSV/JSONL input that holds the text.",
        ),
    ) -> int:
        return run_explain(
            model,
            sources,
            class_spec=class_,
            method=method,
            layer=layer,
            out=out,
            top_k=top_k,
            steps=steps,
            recursive=recursive,
            labels=labels,
            overwrite=overwrite,
            trust_model=trust_model,
            final=final,
            text_column=text_column,
        )


class OutputNames:
    """A file name (no suffix) per input: its stem (a table row: ``FILE_LINE``), with its
    folder's name (then a number) in front where two inputs share one. Inputs met later (the
    rows of a table named as one file) get names as they come."""

    def __init__(self, paths: list[str]) -> None:
        self.used: set[str] = set()
        self.names: dict[str, str] = {}
        for path in paths:
            self.of(path)

    def of(self, path: str) -> str:
        if path not in self.names:
            self.names[path] = self._new(path)
        return self.names[path]

    def _new(self, path: str) -> str:
        p, row = _split_row(path)
        stem = f"{p.stem}_{row}" if row else p.stem
        candidates = [_safe(stem), _safe(f"{p.parent.name}_{stem}")]
        name = next((c for c in candidates if c not in self.used), None)
        k = 2
        while name is None or name in self.used:
            name = f"{candidates[-1]}_{k}"
            k += 1
        self.used.add(name)
        return name


def output_names(paths: list[str]) -> list[str]:
    names = OutputNames(paths)
    return [names.of(p) for p in paths]


def _split_row(path: str) -> tuple[Path, str]:
    """A table row's input name ``FILE:LINE`` (``-:LINE`` for standard input) as
    (file, line); any other path with no line."""
    head, sep, tail = path.rpartition(":")
    if sep and tail.isdigit() and head:
        return (Path("stdin") if head == "-" else Path(head)), tail
    return Path(path), ""


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "input"


def _default_out(model: Path, loaded: LoadedModel) -> Path:
    run_dir = loaded.run_dir
    stem = Path(run_dir) if run_dir else (model if model.is_dir() else model.with_suffix(""))
    stem = stem.resolve() if stem.name in ("", ".", "..") else stem
    return Path(f"{stem}_explain")


def run_explain(
    model: Path,
    sources: list[str],
    *,
    class_spec: str | None = None,
    method: str | None = None,
    layer: str | None = None,
    out: Path | None = None,
    top_k: int = 3,
    steps: int = 32,
    recursive: bool = False,
    labels: Path | None = None,
    overwrite: bool = False,
    trust_model: bool = False,
    final: bool = False,
    text_column: str | None = None,
) -> int:
    from dlcli.errors import UsageError
    from dlcli.explain.methods import check_method

    method = check_method(method)  # before TensorFlow starts
    if out is not None and out.exists() and not out.is_dir():
        raise UsageError("--out must be a folder", file=out, field="--out")

    from dlcli.console import make_console
    from dlcli.data.listing import no_inputs_error
    from dlcli.explain.engine import prepare
    from dlcli.modeling.loading import describe_choice, resolve_model
    from dlcli.render.predict_output import render_model_notes

    console = make_console()
    loaded = resolve_model(model, trust=trust_model, labels=labels, final=final)
    render_model_notes(console, describe_choice(model, loaded.source), loaded.warnings)
    setup = prepare(loaded, method=method, class_spec=class_spec, layer=layer, steps=steps)
    kind = loaded.kind
    if text_column is not None:
        loaded.preprocessing = kind.with_text_column(loaded.preprocessing, text_column)
    paths, skipped = kind.find_inputs(sources, recursive)
    if not paths:
        raise no_inputs_error(sources, skipped, recursive, kind.input_noun, kind.inputs)
    folder = out or _default_out(model, loaded)
    return _explain_all(setup, paths, skipped, folder, top_k, overwrite, console)


def _explain_all(
    setup: ExplainSetup,
    paths: list[str],
    skipped: list[SkippedFile],
    folder: Path,
    top_k: int,
    overwrite: bool,
    console: Console,
) -> int:
    import json
    import time

    from dlcli import interrupts
    from dlcli.atomic import check_writable, write_text
    from dlcli.data.listing import has_failures
    from dlcli.explain.engine import explain_files
    from dlcli.render.explain_output import render_done, render_explanation
    from dlcli.render.predict_output import render_skipped

    names = OutputNames(paths)
    summary = folder / SUMMARY_FILE
    for target in [summary, *(t for p in paths for t in _targets(folder, names.of(p)))]:
        check_writable(target, overwrite=overwrite)  # nothing written if one is refused
    start = time.perf_counter()
    records: list[dict[str, Any]] = []
    finished = False
    try:
        for batch in explain_files(setup, paths, top_k=top_k):
            skipped.extend(batch.errors)
            for exp in batch.explanations:
                known = exp.path in names.names
                targets = _targets(folder, names.of(exp.path))
                for target in [] if known else targets:  # a table's row: checked now
                    check_writable(target, overwrite=overwrite)
                files = _save(exp, *targets)
                records.append(_record(exp, files))
                render_explanation(console, exp, files)
        finished = True
    finally:  # also when stopped (held: a stop must not cancel it): what was written
        if finished or records:
            with interrupts.held():
                write_text(summary, json.dumps(records, indent=2, ensure_ascii=False) + "\n")
    render_skipped(console, skipped, errors_file=None)
    failures = [s for s in skipped if not s.ignored]
    render_done(
        console,
        explained=len(records),
        skipped=len(failures),
        folder=str(folder),
        seconds=time.perf_counter() - start,
    )
    return EXIT_SKIPPED if has_failures(skipped) else 0


def _targets(folder: Path, name: str) -> tuple[Path, Path]:
    return folder / f"{name}.png", folder / f"{name}.npy"


def _save(exp: Explanation, png: Path, npy: Path) -> list[str]:
    import numpy as np

    from dlcli.atomic import atomic_path
    from dlcli.explain.figure import save_png

    save_png(exp, png)
    with atomic_path(npy) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.asarray(exp.attribution.heat, dtype=np.float32))
    return [str(png), str(npy)]


def _record(exp: Explanation, files: list[str]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "path": exp.path,
        "predicted": exp.predicted_name,
        "explained": exp.explained_name,
        "probability": float(exp.probabilities[exp.explained]),
        "method": exp.method,
        "layer": exp.layer,
        "top_k": [{"label": name, "probability": p} for name, p in exp.top_k],
        "png": files[0],
        "npy": files[1],
    }
    if exp.attribution.tokens:
        record["tokens"] = [
            {"token": t, "score": float(s)}
            for t, s in zip(exp.attribution.tokens, exp.attribution.heat, strict=True)
        ]
    return record
