"""TFLite (LiteRT): one ``.tflite`` flatbuffer, written by Keras 3's ``model.export(format=
"litert")`` (an ``ExportArchive`` SavedModel fed to ``tf.lite.TFLiteConverter``, with
optional post-training quantisation of the weights) and run by the LiteRT interpreter.
The metadata JSON is also embedded in the flatbuffer (entry ``dlcli``)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.errors import ModelLoadError
from dlcli.modeling.formats import NO_QUANTIZATION, ExportFormat
from dlcli.modeling.runtimes import Runner, as_batch, dims, pack_outputs, packed_units, units
from dlcli.modeling.tflite_metadata import embed_tflite_metadata, read_tflite_metadata


class TfliteFormat(ExportFormat):
    name = "tflite"
    title = "TFLite"
    suffix = ".tflite"
    aliases = ("litert",)
    quantizations = (NO_QUANTIZATION, "float16", "dynamic")
    several_inputs = True  # run through the serving signature, each input by its name

    def write(self, model: Any, path: Path, *, quantize: str) -> None:
        model.export(str(path), format="litert", verbose=False, **_tflite_options(quantize))

    def runner(self, path: Path) -> Runner:
        return tflite_runner(path)

    def embed_metadata(self, path: Path, text: str) -> None:
        embed_tflite_metadata(path, text)


def _tflite_options(quantize: str) -> dict[str, Any]:
    """TFLiteConverter settings for post-training quantisation (weights only)."""
    from dlcli.backend import tf

    if quantize == "float16":
        return {
            "optimizations": [tf.lite.Optimize.DEFAULT],
            "target_spec": {"supported_types": [tf.float16]},
        }
    if quantize == "dynamic":  # int8 weights, float activations: no calibration data needed
        return {"optimizations": [tf.lite.Optimize.DEFAULT]}
    return {}


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
    if len(inputs) > 1 or len(outputs) > 1:
        return _signature_runner(interp, path)
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
        x = as_batch(x)
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
    return Runner(predict, dims(signature[1:]), units(out_shape), embedded)


def _signature_runner(interp: Any, path: Path) -> Runner:
    """A model with several named inputs or outputs, run through its ``serving_default``
    signature (inputs fed by name, resized to each batch; several outputs packed in name
    order, as every runner returns them)."""
    signatures = interp.get_signature_list()
    if "serving_default" not in signatures:
        raise ModelLoadError(
            "the TFLite model has several inputs but no serving signature", file=path
        )
    names = list(signatures["serving_default"]["inputs"])
    runner = interp.get_signature_runner("serving_default")
    details = runner.get_input_details()

    def predict(x: Any) -> np.ndarray:
        batch = as_batch(x)
        if len(names) == 1 and not isinstance(batch, dict):
            batch = {names[0]: batch}
        if not isinstance(batch, dict) or sorted(batch) != sorted(names):
            raise ModelLoadError(
                "the TFLite model takes several named inputs",
                file=path,
                expected=f"a value for each of {sorted(names)}",
            )
        feed = {k: batch[k].astype(details[k]["dtype"], copy=False) for k in names}
        result = runner(**feed)
        if len(result) > 1:
            return pack_outputs(result)
        (out,) = result.values()
        return np.array(out, dtype=np.float32)

    first = details[names[0]]
    signature = list(first.get("shape_signature", first["shape"]))
    out_details = runner.get_output_details()
    shapes = [list(d.get("shape_signature", d["shape"])) for d in out_details.values()]
    out_units = units(shapes[0]) if len(shapes) == 1 else packed_units(shapes)
    return Runner(predict, dims(signature[1:]), out_units, read_tflite_metadata(path))
