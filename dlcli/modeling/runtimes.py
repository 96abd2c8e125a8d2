"""Run a model of each stored format on a NumPy batch: Keras, SavedModel, TFLite, ONNX.

Every runner takes a float32 batch (NHWC images in 0..255, or feature rows) and returns
the first output as a NumPy array, so ``dlcli predict``/``evaluate`` and the export parity
check treat all formats alike. Exported models carry their class names and preprocessing
in a JSON file written by ``dlcli export`` (:func:`metadata_path`), so they can be served
without dlcli and read back here. The same JSON is embedded in ``.onnx`` files
(``metadata_props`` key ``dlcli``) and ``.tflite`` files (the flatbuffer's ``metadata``
entry named ``dlcli``), so a file copied without its sidecar still knows its classes.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.errors import ModelLoadError
from dlcli.modeling.tflite_metadata import EMBEDDED_METADATA_KEY, read_tflite_metadata

SAVED_MODEL_METADATA = Path("assets") / "labels.json"
MAX_METADATA_BYTES = 16 << 20

Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass
class Runner:
    """A way to score batches plus what the stored graph says about its tensors."""

    predict: Predictor
    input_shape: tuple[int | None, ...]  # without the batch dimension
    output_units: int | None
    embedded_metadata: str | None = None  # the JSON ``dlcli export`` put inside the file


def metadata_path(model_path: Path) -> Path:
    """Where ``dlcli export`` puts the metadata of an exported model.

    ``model.tflite`` -> ``model.tflite.json`` (one file per artifact, so several formats
    can share a folder); a SavedModel directory -> ``<dir>/assets/labels.json``.
    """
    if model_path.is_dir():
        return model_path / SAVED_MODEL_METADATA
    return model_path.with_name(model_path.name + ".json")


def read_metadata(model_path: Path, embedded: str | None = None) -> dict[str, Any] | None:
    """The bundled metadata of an exported model, or None when there is none.

    In order: the sidecar ``dlcli export`` wrote, the JSON embedded in the file itself
    (``embedded``, from its runner), a ``labels.json`` in the same folder.
    """
    sidecar = metadata_path(model_path)
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


def _as_batch(x: Any) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32))


def _units(shape: Sequence[Any]) -> int | None:
    last = shape[-1] if len(shape) else None
    return int(last) if isinstance(last, (int, np.integer)) and last > 0 else None


def _dims(shape: Sequence[Any]) -> tuple[int | None, ...]:
    return tuple(int(d) if isinstance(d, (int, np.integer)) and d > 0 else None for d in shape)


# --------------------------------------------------------------------------- Keras


def keras_runner(model: Any) -> Runner:
    """``model(x, training=False)`` in one cached ``tf.function`` (no ``predict`` overhead)."""
    from dlcli.backend import tf

    if len(model.inputs) != 1:
        raise ModelLoadError(
            f"the model has {len(model.inputs)} inputs", expected="a model with one input"
        )

    @tf.function(reduce_retracing=True)
    def call(x: Any) -> Any:
        return model(x, training=False)

    n_outputs = len(model.outputs)

    def predict(x: np.ndarray) -> np.ndarray:
        if n_outputs != 1:
            raise ModelLoadError(
                f"the model has {n_outputs} outputs", expected="a classifier with one output"
            )
        out = call(tf.convert_to_tensor(_as_batch(x)))
        return np.asarray(out)

    input_shape = tuple(model.inputs[0].shape[1:])
    output_units = _units(tuple(model.outputs[0].shape)) if n_outputs == 1 else None
    return Runner(predict, _dims(input_shape), output_units)


# --------------------------------------------------------------------------- SavedModel


def saved_model_runner(path: Path) -> Runner:
    """The ``serving_default`` signature of a SavedModel directory."""
    from dlcli.backend import tf

    try:
        loaded = tf.saved_model.load(str(path))
        fn = loaded.signatures["serving_default"]
    except KeyError:
        raise ModelLoadError("the SavedModel has no serving_default signature", file=path) from None
    except Exception as exc:
        raise ModelLoadError(f"cannot load the SavedModel ({exc})", file=path) from exc
    _, kwargs = fn.structured_input_signature
    if len(kwargs) != 1:
        raise ModelLoadError(
            f"the SavedModel signature has {len(kwargs)} inputs",
            file=path,
            expected="one input",
        )
    ((name, spec),) = kwargs.items()
    outputs = fn.structured_outputs
    if len(outputs) != 1:
        raise ModelLoadError(
            f"the SavedModel signature has {len(outputs)} outputs",
            file=path,
            expected="one output",
        )
    ((out_name, out_spec),) = outputs.items()

    def predict(x: np.ndarray) -> np.ndarray:
        result = fn(**{name: tf.constant(_as_batch(x))})
        return result[out_name].numpy()

    # Keep the loaded object alive as long as the signature is used.
    predict.__dict__["_saved_model"] = loaded
    return Runner(predict, _dims(spec.shape.as_list()[1:]), _units(out_spec.shape.as_list()))


# --------------------------------------------------------------------------- TFLite


def _tflite_interpreter_class() -> Any:
    """LiteRT's interpreter when installed (``tf.lite.Interpreter`` is deprecated in TF 2.20+)."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        from dlcli.backend import tf

        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
        return tf.lite.Interpreter


def tflite_runner(path: Path) -> Runner:
    """A TFLite interpreter; the input tensor is resized to each batch's size."""
    from dlcli.backend import quiet_native_stderr

    interpreter_class = _tflite_interpreter_class()
    try:
        with quiet_native_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
            interp = interpreter_class(model_path=str(path), num_threads=os.cpu_count() or 1)
            interp.allocate_tensors()
    except Exception as exc:
        raise ModelLoadError(f"cannot load the TFLite model ({exc})", file=path) from exc
    inputs = interp.get_input_details()
    outputs = interp.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelLoadError(
            f"the TFLite model has {len(inputs)} inputs and {len(outputs)} outputs",
            file=path,
            expected="one input and one output",
        )
    in_index = inputs[0]["index"]
    in_dtype = inputs[0]["dtype"]
    in_scale, in_zero = inputs[0].get("quantization", (0.0, 0))
    signature = list(inputs[0].get("shape_signature", inputs[0]["shape"]))
    state = {"batch": int(inputs[0]["shape"][0])}

    def predict(x: np.ndarray) -> np.ndarray:
        x = _as_batch(x)
        n = x.shape[0]
        if n != state["batch"]:
            interp.resize_tensor_input(in_index, [n, *x.shape[1:]], strict=False)
            interp.allocate_tensors()
            state["batch"] = n
        if np.issubdtype(in_dtype, np.integer) and in_scale:
            info = np.iinfo(in_dtype)
            x = np.clip(np.round(x / in_scale + in_zero), info.min, info.max)
        interp.set_tensor(in_index, x.astype(in_dtype, copy=False))
        interp.invoke()
        out_detail = interp.get_output_details()[0]
        out = interp.get_tensor(out_detail["index"])
        scale, zero = out_detail.get("quantization", (0.0, 0))
        if np.issubdtype(out.dtype, np.integer) and scale:
            return (out.astype(np.float32) - zero) * scale
        return np.array(out, dtype=np.float32)

    out_shape = list(outputs[0].get("shape_signature", outputs[0]["shape"]))
    embedded = read_tflite_metadata(path)
    return Runner(predict, _dims(signature[1:]), _units(out_shape), embedded)


# --------------------------------------------------------------------------- ONNX


def onnx_runner(path: Path) -> Runner:
    """An onnxruntime CPU session."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelLoadError(
            "running .onnx models needs onnxruntime",
            file=path,
            hint="pip install 'dlcli[export]' (or: pip install onnxruntime)",
        ) from None
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        raise ModelLoadError(f"cannot load the ONNX model ({exc})", file=path) from exc
    inputs = session.get_inputs()
    outputs = session.get_outputs()
    if len(inputs) != 1:
        raise ModelLoadError(
            f"the ONNX model has {len(inputs)} inputs", file=path, expected="one input"
        )
    name = inputs[0].name

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {name: _as_batch(x)})[0])

    embedded = session.get_modelmeta().custom_metadata_map.get(EMBEDDED_METADATA_KEY)
    return Runner(predict, _dims(inputs[0].shape[1:]), _units(outputs[0].shape), embedded)


def exported_runner(path: Path, fmt: str) -> Runner:
    if fmt == "saved_model":
        return saved_model_runner(path)
    if fmt == "tflite":
        return tflite_runner(path)
    if fmt == "onnx":
        return onnx_runner(path)
    raise ValueError(f"unknown exported format {fmt!r}")
