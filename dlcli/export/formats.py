"""Write a Keras model as a SavedModel directory, a ``.tflite`` file or an ``.onnx`` file.

SavedModel and TFLite go through Keras 3's own ``model.export`` (``tf_saved_model``;
``litert``, which is an ``ExportArchive`` SavedModel fed to ``tf.lite.TFLiteConverter``).
ONNX does not: Keras' ``format="onnx"`` hands ``tf2onnx`` the live concrete function, and
tf2onnx turns captured tensors that are not variables (an adapted ``Normalization`` layer's
mean and variance) into extra graph *inputs*. So dlcli freezes the function first (every
capture becomes a constant) and converts the frozen GraphDef, naming the graph's tensors
``input`` and ``output``. Every export takes float32 NHWC (or feature rows) with a free
batch dimension and serves ``model(x, training=False)``. Checked on TF 2.21, Keras 3.15,
tf2onnx 1.17, onnx 1.23, onnxruntime 1.32, ai-edge-litert 2.3.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dlcli.errors import RunFailure, UsageError

FORMATS = ("saved_model", "tflite", "onnx")
QUANTIZE = ("none", "float16", "dynamic")
SUFFIX = {"saved_model": "", "tflite": ".tflite", "onnx": ".onnx"}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence converter chatter (tf2onnx INFO logs, NumPy FutureWarnings, absl, and the
    grappler/CUDA lines TensorFlow's C++ side prints straight to stderr)."""
    from dlcli.backend import quiet_native_stderr

    loggers = [logging.getLogger(n) for n in ("tf2onnx", "absl", "tensorflow")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), quiet_native_stderr():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def check_requirements(fmt: str) -> None:
    """Fail before any work when the optional packages a format needs are missing."""
    missing: list[str] = []
    if fmt == "onnx":
        import dlcli.backend  # noqa: F401  (tf2onnx imports TensorFlow: let ours be first, quiet)

        packages = (("tf2onnx", "tf2onnx"), ("onnx", "onnx"), ("onnxruntime", "onnxruntime"))
        for module, package in packages:
            try:
                __import__(module)
            except ImportError:
                missing.append(package)
    if missing:
        raise UsageError(
            f"exporting to {fmt} needs {', '.join(missing)}",
            hint="pip install 'dlcli[export]'",
        )


def check_quantize(fmt: str, quantize: str) -> None:
    """Quantisation is a TFLite converter option; refuse it for the other formats."""
    if quantize != "none" and fmt != "tflite":
        raise UsageError(
            f"--quantize {quantize} applies to tflite only",
            field="--quantize",
            received=fmt,
            hint="leave --quantize out for saved_model and onnx",
        )


def write_model(model: Any, fmt: str, path: Path, *, quantize: str = "none") -> None:
    """Write ``model`` in ``fmt`` at ``path`` (a directory for ``saved_model``)."""
    check_quantize(fmt, quantize)
    try:
        with _quiet():
            if fmt == "saved_model":
                model.export(str(path), format="tf_saved_model", verbose=False)
            elif fmt == "onnx":
                _write_onnx(model, path)
            elif fmt == "tflite":
                model.export(str(path), format="litert", verbose=False, **_tflite_options(quantize))
            else:
                raise UsageError(f"unknown format {fmt!r}", expected=" | ".join(FORMATS))
    except UsageError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise RunFailure(
            f"converting the model to {fmt} failed ({type(exc).__name__}: {first})",
            hint="run with DLCLI_DEBUG=1 for the converter's traceback",
        ) from exc
    if fmt == "onnx":
        _check_onnx(path)


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


def _write_onnx(model: Any, path: Path) -> None:
    import tf2onnx
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    from dlcli.backend import tf

    try:  # tf2onnx 1.17 still uses NumPy 1 aliases; Keras ships the shim it uses itself
        from keras.src.export.tf2onnx_lib import patch_tf2onnx

        patch_tf2onnx()
    except ImportError:
        pass
    shape = [None, *model.inputs[0].shape[1:]]
    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec(shape, tf.float32, name="input")
    )
    frozen = convert_variables_to_constants_v2(fn)
    if len(frozen.outputs) != 1:
        raise UsageError(
            f"ONNX export supports models with one output; this one has {len(frozen.outputs)}"
        )
    proto, _ = tf2onnx.convert.from_graph_def(
        frozen.graph.as_graph_def(),
        input_names=[t.name for t in frozen.inputs],
        output_names=[t.name for t in frozen.outputs],
    )
    _rename_io(proto, frozen.inputs[0].name, "input", batch="batch")
    _rename_io(proto, frozen.outputs[0].name, "output", batch="batch")
    import onnx

    onnx.save(proto, str(path))


def _rename_io(proto: Any, old: str, new: str, *, batch: str) -> None:
    """Rename a graph input/output everywhere it is used; name its free first dimension."""
    graph = proto.graph
    for value in (*graph.input, *graph.output):
        if value.name == old:
            value.name = new
            dims = value.type.tensor_type.shape.dim
            if dims and not dims[0].HasField("dim_value"):
                dims[0].dim_param = batch
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new


def _check_onnx(path: Path) -> None:
    """Validate the graph with ``onnx.checker`` when the ``onnx`` package is present."""
    try:
        import onnx
    except ImportError:
        return
    try:
        onnx.checker.check_model(str(path))
    except Exception as exc:
        raise RunFailure(f"the exported ONNX graph is invalid ({exc})", file=path) from exc


def embed_metadata(path: Path, fmt: str, text: str) -> None:
    """Store the metadata JSON inside the exported file where the format has room for it.

    ``.onnx`` and ``.tflite`` files carry it (a file copied without its ``.json`` sidecar
    still knows its class names); a SavedModel holds it in ``assets/`` already.
    """
    from dlcli.modeling.tflite_metadata import embed_tflite_metadata

    embed = {"onnx": embed_onnx_metadata, "tflite": embed_tflite_metadata}.get(fmt)
    if embed is not None:
        embed(path, text)


def embed_onnx_metadata(path: Path, text: str) -> None:
    """Also store the metadata JSON in the ONNX file's ``metadata_props`` (key ``dlcli``).

    Servers that only ship the ``.onnx`` file can still read the class names from it
    (``onnxruntime.InferenceSession(...).get_modelmeta().custom_metadata_map``).
    """
    try:
        import onnx
    except ImportError:
        return
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key = "dlcli"
    entry.value = text
    onnx.save(proto, str(path))
