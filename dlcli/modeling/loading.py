"""Load models safely: every command that reads a model file goes through here.

A ``.keras`` file is a zip holding ``config.json`` (the architecture), ``metadata.json`` and
the weights. Deserialising the config can run code: a ``Lambda`` layer carries marshalled
Python bytecode, and a class or function from a module outside Keras is imported by name.
So before Keras sees the file we check the archive (a zip, bounded member count and size,
no decompression bomb, the expected members) and walk ``config.json`` ourselves, refusing
anything that is not a built-in Keras object. Then Keras loads it with ``safe_mode=True``
(a second, independent guard). ``--trust-model`` skips our walk and ``safe_mode``: only
for files whose author the user trusts, because arbitrary code may then run.

Legacy ``.h5`` files are refused unless trusted (their loader has no safe mode worth the
name). Exported models (SavedModel directories, ``.tflite``, ``.onnx``) hold graphs, not
Python, and are run through :mod:`dlcli.modeling.runtimes`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlcli.data.kinds import DataKind, Preprocessing, get_kind
from dlcli.data.kinds.labels import LABELS_FILE, model_preprocessing
from dlcli.errors import ModelLoadError, UnsafeModelError
from dlcli.modeling.formats import exported_suffixes, format_of_path
from dlcli.modeling.formats.saved_model import is_saved_model_dir
from dlcli.modeling.model_settings import (
    check_label_count,
    names_or_none,
    no_class_names_warning,
)
from dlcli.modeling.safety import TRUST_HINT, check_config_safety, check_keras_archive
from dlcli.targets import TARGET_KEY, TargetRecord, read_target

BEST_MODEL = "best.keras"
FINAL_MODEL = "model.keras"
RUN_MODEL_FILES = (BEST_MODEL, FINAL_MODEL)  # the order a run directory resolves in
LEGACY_SUFFIXES = (".h5", ".hdf5")
KERAS = "keras"  # LoadedModel.format of a Keras model; exported ones name their format


@dataclass
class LoadedModel:
    """A model ready to score batches, however it was stored.

    ``predict_batch`` takes float32 NHWC images in 0..255 (as :mod:`dlcli.data.decode`
    produces) or float32 feature rows, and returns the raw outputs as a NumPy array.
    ``model`` is the Keras model, or None for exported formats (``format`` says which).
    """

    model: Any
    class_names: list[str] | None
    preprocessing: Preprocessing | None  # None: nothing tells what data the model takes
    run_dir: Path | None
    source: Path
    format: str
    predict_batch: Callable[[Any], Any] = field(repr=False)
    output_units: int | None = None
    warnings: list[str] = field(default_factory=list)  # for the command to show on stderr
    target: TargetRecord | None = None  # what the outputs are (None: class scores)

    @property
    def kind(self) -> DataKind:
        """The data kind the model reads; an error when nothing tells (exit 2)."""
        if self.preprocessing is None:
            raise ModelLoadError(
                "cannot tell what data this model takes",
                file=self.source,
                expected="a run directory with labels.json, an export with its metadata, or "
                "a model whose input shape a data kind recognises",
                received=None,
                hint='pass --labels FILE with a JSON object such as {"class_names": [...], '
                '"kind": ...}',
            )
        return get_kind(self.preprocessing.kind, file=self.source, field="kind")


# --------------------------------------------------------------------------- loading


def model_file_in(directory: Path, *, final: bool = False) -> Path | None:
    """A run directory's model: ``best.keras`` (the best epoch), else ``model.keras``.

    ``final=True`` (``--final``) picks ``model.keras``, the model at the end of training,
    and only that. None when the chosen file is missing.
    """
    names = (FINAL_MODEL,) if final else RUN_MODEL_FILES
    for name in names:
        if (directory / name).is_file():
            return directory / name
    return None


def chosen_model_path(path: str | Path, *, final: bool = False) -> Path:
    """The file ``path`` resolves to, without loading anything (for output names).

    With ``final``, the ``--final`` errors (not a run directory, no ``model.keras``) are
    raised here, before anything slow happens.
    """
    p = Path(path)
    if final:
        return _keras_path(p, final=True)
    if p.is_dir():
        found = model_file_in(p, final=final)
        if found is not None:
            return found
    return p


def describe_choice(requested: str | Path, source: Path) -> str | None:
    """One line saying which of a run's model files a run directory resolved to.

    None when ``requested`` named a file itself: there was no choice to report.
    """
    run_dir = Path(requested)
    if not run_dir.is_dir() or source.parent != run_dir:
        return None
    if source.name == BEST_MODEL:
        other = run_dir / FINAL_MODEL
        tail = "; --final uses model.keras, the last epoch" if other.is_file() else ""
        return f"model: {source} (the best epoch{tail})"
    if source.name == FINAL_MODEL:
        best = (run_dir / BEST_MODEL).is_file()
        note = "the last epoch" + ("" if best else "; the run has no best.keras")
        return f"model: {source} ({note})"
    return None


def _keras_path(path: str | Path, *, final: bool = False) -> Path:
    p = Path(path)
    if final and not p.is_dir():
        raise ModelLoadError(
            "--final picks the last-epoch model of a run directory",
            file=p,
            field="--final",
            expected="a run directory (with model.keras)",
            received=str(p),
            hint="leave out --final when naming a model file",
        )
    if p.is_dir():
        found = model_file_in(p, final=final)
        if found is not None:
            return found
        if final and model_file_in(p) is not None:
            raise ModelLoadError(
                "this run has no model.keras (the last epoch) to use with --final",
                file=p,
                field="--final",
                hint="leave out --final to use its best.keras",
            )
        if is_saved_model_dir(p):
            raise ModelLoadError(
                "this is a TensorFlow SavedModel (an export format), not a Keras model",
                file=p,
                expected="a .keras file or a run directory",
                hint="`dlcli predict`/`evaluate` can run it; to inspect or export, use the "
                "run directory or .keras file it was exported from",
            )
        raise ModelLoadError(
            "no model in this directory",
            file=p,
            expected="a run directory containing model.keras or best.keras",
        )
    if not p.exists():
        raise ModelLoadError(
            "model file not found",
            file=p,
            expected="a .keras file, a run directory, or an exported .tflite/.onnx/SavedModel",
        )
    return p


def load_model_file(path: str | Path, *, trust: bool = False, final: bool = False) -> Any:
    """Load a Keras model (``.keras`` or a run directory) with every safety check.

    ``trust=True`` (``--trust-model``) skips the config walk and Keras' ``safe_mode``;
    ``final`` picks a run directory's ``model.keras`` instead of its ``best.keras``.
    """
    p = _keras_path(path, final=final)
    suffix = p.suffix.lower()
    if p.name.endswith(".weights.h5"):
        raise ModelLoadError(
            "this file holds weights only, not a model",
            file=p,
            expected="a .keras file or a run directory",
            hint="rebuild the model from its recipe and call model.load_weights()",
        )
    if suffix in LEGACY_SUFFIXES:
        if not trust:
            raise UnsafeModelError(
                "legacy HDF5 (.h5) models are refused by default: their loader has no "
                "safe mode and can deserialise code stored in the file",
                file=p,
                hint=f"re-save as .keras (model.save('model.keras')), or {TRUST_HINT}",
            )
        return _keras_load(p, safe_mode=False)
    if suffix in exported_suffixes():
        raise ModelLoadError(
            f"a {suffix} file is an exported model, not a Keras model",
            file=p,
            expected="a .keras file or a run directory",
            hint="`dlcli predict`/`evaluate` can run it; other commands need the .keras file",
        )
    if suffix != ".keras":
        raise ModelLoadError(
            f"unknown model format {suffix or '(no extension)'!r}",
            file=p,
            expected="a .keras file, a run directory, .h5 (with --trust-model), "
            ".tflite, .onnx or a SavedModel directory",
        )
    config = check_keras_archive(p)
    if not trust:
        check_config_safety(config, p)
    return _keras_load(p, safe_mode=not trust)


def _keras_load(path: Path, *, safe_mode: bool) -> Any:
    import dlcli.modeling.backbones  # (registers Backbone and its preprocessing with Keras)
    import dlcli.modeling.custom_layers  # noqa: F401  (registers dlcli's layers with Keras)
    from dlcli.backend import keras

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=safe_mode)
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}".splitlines()[0][:400]
        if safe_mode and "safe_mode" in str(exc):
            raise UnsafeModelError(
                f"Keras refused to load the model in safe mode ({text})",
                file=path,
                hint=TRUST_HINT,
            ) from exc
        hint = None
        if "Could not locate" in str(exc) or "custom" in str(exc).lower():
            hint = "the model uses custom classes that dlcli cannot import"
        raise ModelLoadError(
            f"Keras could not load the model ({text})", file=path, hint=hint
        ) from exc


# --------------------------------------------------------------------------- resolve


def resolve_model(
    path: str | Path, *, trust: bool = False, labels: Path | None = None, final: bool = False
) -> LoadedModel:
    """Find, check and load whatever ``path`` names, ready for ``predict_batch``.

    ``path``: a run directory (its ``best.keras``, else ``model.keras``; ``final=True`` for
    ``model.keras``; with its ``labels.json``), a ``.keras`` file (beside a run's
    ``labels.json`` it is treated as part of that run), an exported ``.tflite``/``.onnx``
    file or SavedModel directory (with the metadata ``dlcli export`` wrote, beside it or
    inside the file). ``labels`` (``--labels``) wins over stored class names: a JSON list, a
    JSON object with ``class_names`` (its other keys, such as ``image_size``, override the
    preprocessing), or a text file with one name per line.
    Without any, ``class_names`` is None and callers use class indices.
    """
    from dlcli.modeling import runtimes

    p = Path(path)
    if not p.exists() or final:
        _keras_path(p, final=final)  # raises the not-found and --final errors
    exported = None if p.is_dir() and model_file_in(p) is not None else format_of_path(p)
    fmt = KERAS if exported is None else exported.name
    metadata: dict[str, Any] | None
    if exported is None:
        model_path = _keras_path(p, final=final)
        run_dir = _run_dir_of(model_path)
        model = load_model_file(model_path, trust=trust)
        runner = runtimes.keras_runner(model)
        metadata = runtimes.read_json_object(run_dir / LABELS_FILE) if run_dir else None
    else:
        model_path, run_dir, model = p, None, None
        runner = exported.runner(p)
        metadata = runtimes.read_metadata(p, exported.metadata_path(p), runner.embedded_metadata)
    class_names: list[str] | None = None
    if metadata is not None:
        class_names = names_or_none(metadata.get("class_names"), model_path)
    overrides: dict[str, Any] = {}
    if labels is not None:
        class_names, overrides = runtimes.read_labels_file(Path(labels))
    stored_target = overrides.pop(TARGET_KEY, None) or (metadata or {}).get(TARGET_KEY)
    target = read_target(
        {TARGET_KEY: stored_target}, class_names, labels or (run_dir or model_path)
    )
    check_label_count(class_names, runner.output_units, labels or model_path)
    prep_source = labels or (run_dir / LABELS_FILE if run_dir and exported is None else p)
    # A run's labels.json is all preprocessing; an export's metadata also describes the
    # graph, the parity check and versions, which are not.
    preprocessing = model_preprocessing(
        tuple(runner.input_shape),
        metadata,
        overrides,
        prep_source,
        known_only=exported is not None,
        model=model,
    )
    warnings = [] if class_names is not None else [no_class_names_warning(model_path, fmt)]
    return LoadedModel(
        model=model,
        class_names=class_names,
        preprocessing=preprocessing,
        run_dir=run_dir,
        source=model_path,
        format=fmt,
        predict_batch=runner.predict,
        output_units=runner.output_units,
        warnings=warnings,
        target=target,
    )


def _run_dir_of(model_path: Path) -> Path | None:
    parent = model_path.parent
    if model_path.name in RUN_MODEL_FILES and (parent / LABELS_FILE).is_file():
        return parent
    return None
