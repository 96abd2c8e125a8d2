"""Run a stored model on a NumPy batch: the :class:`Runner` every format returns.

Every runner takes a float32 batch (NHWC images in 0..255, or feature rows) and returns
the first output as a NumPy array, so ``dlcli predict``/``evaluate`` and the export parity
check treat all formats alike: Keras models here, exported ones by their format's module
(:mod:`dlcli.modeling.formats`). Exported models carry their class names and
preprocessing in a JSON file written by ``dlcli export`` (where the format keeps it), so
they can be served without dlcli and read back here. The same JSON is embedded in ``.onnx`` files
(``metadata_props`` key ``dlcli``) and ``.tflite`` files (the flatbuffer's ``metadata``
entry named ``dlcli``), so a file copied without its sidecar still knows its classes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.errors import ModelLoadError
from dlcli.modeling.tflite_metadata import EMBEDDED_METADATA_KEY

MAX_METADATA_BYTES = 16 << 20

Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass
class Runner:
    """A way to score batches plus what the stored graph says about its tensors."""

    predict: Predictor
    input_shape: tuple[int | None, ...]  # without the batch dimension
    output_units: int | None
    embedded_metadata: str | None = None  # the JSON ``dlcli export`` put inside the file


def read_metadata(
    model_path: Path, sidecar: Path, embedded: str | None = None
) -> dict[str, Any] | None:
    """The bundled metadata of an exported model, or None when there is none.

    In order: the ``sidecar`` ``dlcli export`` wrote (where the model's format keeps it,
    :meth:`dlcli.modeling.formats.ExportFormat.metadata_path`), the JSON embedded in the
    file itself (``embedded``, from its runner), a ``labels.json`` in the same folder.
    """
    if sidecar.is_file():
        return read_json_object(sidecar)
    if embedded is not None:
        return parse_embedded_metadata(embedded, model_path)
    labels = model_path.parent / "labels.json"
    if not model_path.is_dir() and labels.is_file():
        return read_json_object(labels)
    return None


def parse_embedded_metadata(text: str, model_path: Path) -> dict[str, Any]:
    if len(text) > MAX_METADATA_BYTES:
        raise ModelLoadError("embedded metadata is implausibly large", file=model_path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelLoadError(
            f"the metadata embedded in the model is not valid JSON ({exc.msg})",
            file=model_path,
            field=EMBEDDED_METADATA_KEY,
        ) from exc
    if not isinstance(data, dict):
        raise ModelLoadError(
            "the metadata embedded in the model is not a JSON object",
            file=model_path,
            field=EMBEDDED_METADATA_KEY,
            received=type(data).__name__,
        )
    return data


def read_json_object(path: Path) -> dict[str, Any]:
    if path.stat().st_size > MAX_METADATA_BYTES:
        raise ModelLoadError("metadata file is implausibly large", file=path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"not valid JSON ({exc})", file=path) from exc
    if not isinstance(data, dict):
        raise ModelLoadError("expected a JSON object", file=path, received=type(data).__name__)
    return data


def read_labels_file(path: Path) -> tuple[list[str], dict[str, Any]]:
    """Class names (and optional preprocessing keys) from a ``--labels`` file."""
    if not path.is_file():
        raise ModelLoadError("labels file not found", file=path, field="--labels")
    if path.stat().st_size > MAX_METADATA_BYTES:
        raise ModelLoadError("labels file is implausibly large", file=path, field="--labels")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ModelLoadError(f"labels file is not UTF-8 text ({exc})", file=path) from exc
    stripped = text.lstrip()
    prep: dict[str, Any] = {}
    if path.suffix.lower() == ".json" or stripped.startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelLoadError(
                f"labels file is not valid JSON ({exc.msg})",
                file=path,
                line=exc.lineno,
                column=exc.colno,
            ) from exc
        if isinstance(data, dict):
            prep = {k: v for k, v in data.items() if k != "class_names"}
            data = data.get("class_names")
        if not isinstance(data, list) or not all(isinstance(n, (str, int)) for n in data):
            raise ModelLoadError(
                "labels JSON must be a list of class names or an object with class_names",
                file=path,
                expected='["cat", "dog"] or {"class_names": ["cat", "dog"]}',
                received=data,
            )
        names = [str(n) for n in data]
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise ModelLoadError("labels file has no class names", file=path, field="--labels")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ModelLoadError(
            "labels file repeats class names", file=path, field="--labels", received=dupes
        )
    return names, prep


def as_batch(x: Any) -> Any:
    """A float32 batch; raw text (a batch of strings) is passed on as it is; a dict (a
    model with several named inputs) has each of its values made so."""
    if isinstance(x, dict):
        return {name: as_batch(value) for name, value in x.items()}
    array = np.asarray(x)
    if array.dtype.kind in "OSU":
        return array
    return np.ascontiguousarray(array, dtype=np.float32)


def units(shape: Sequence[Any]) -> int | None:
    last = shape[-1] if len(shape) else None
    return int(last) if isinstance(last, (int, np.integer)) and last > 0 else None


def dims(shape: Sequence[Any]) -> tuple[int | None, ...]:
    return tuple(int(d) if isinstance(d, (int, np.integer)) and d > 0 else None for d in shape)


# --------------------------------------------------------------------------- Keras


def keras_runner(model: Any) -> Runner:
    """``model(x, training=False)`` in one cached ``tf.function`` (no ``predict`` overhead)."""
    from dlcli.backend import tf

    named = len(model.inputs) > 1  # several inputs: x is a dict by input name

    @tf.function(reduce_retracing=True)
    def call(x: Any) -> Any:
        return model(x, training=False)

    n_outputs = len(model.outputs)
    named_outputs = _named_outputs(model)  # model.outputs: packed in name order
    several = named_outputs is not None
    if n_outputs != 1 and not several:
        raise ModelLoadError(
            f"the model has {n_outputs} unnamed outputs",
            expected="one output, or a dict of named outputs (model.outputs)",
        )

    def predict(x: np.ndarray) -> np.ndarray:
        batch = as_batch(x)
        if named:
            out = call({name: tf.convert_to_tensor(v) for name, v in batch.items()})
        else:
            out = call(tf.convert_to_tensor(batch))
        return pack_outputs(out) if several else np.asarray(out)

    input_shape = tuple(model.inputs[0].shape[1:])
    if several:
        output_units = packed_units([tuple(t.shape) for t in named_outputs.values()])
    else:
        output_units = units(tuple(model.outputs[0].shape))
    return Runner(predict, dims(input_shape), output_units)


def _named_outputs(model: Any) -> dict[str, Any] | None:
    """A functional model's dict of named outputs (None: one output, or never called)."""
    try:
        output = model.output
    except (AttributeError, ValueError):
        return None
    return output if isinstance(output, dict) else None


def pack_outputs(outputs: dict[str, Any]) -> np.ndarray:
    """A model's named outputs side by side in name order, each as (batch, width): what
    ``predict``/``evaluate`` and the export parity check read (``targets.outputs``)."""
    arrays = [np.asarray(outputs[k], dtype=np.float32) for k in sorted(outputs)]
    return np.concatenate([a.reshape(len(a), -1) for a in arrays], axis=1)


def packed_units(shapes: Sequence[Sequence[Any]]) -> int | None:
    widths = [units(s) for s in shapes]
    return None if any(w is None for w in widths) else sum(w for w in widths if w)
