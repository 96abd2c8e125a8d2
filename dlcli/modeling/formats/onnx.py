"""ONNX: one ``.onnx`` file, run by onnxruntime; needs the ``export`` extra.

Keras' own ``format="onnx"`` hands ``tf2onnx`` the live concrete function, and tf2onnx
turns captured tensors that are not variables (an adapted ``Normalization`` layer's mean
and variance) into extra graph *inputs*. So the function is frozen first (every capture
becomes a constant) and the frozen GraphDef converted, its tensors named ``input`` and
``output``. The metadata JSON is also stored in the file's ``metadata_props`` (key
``dlcli``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dlcli.errors import ModelLoadError, RunFailure, UsageError
from dlcli.modeling.formats import ExportFormat
from dlcli.modeling.runtimes import Runner, as_batch, dims, pack_outputs, packed_units, units
from dlcli.modeling.tflite_metadata import EMBEDDED_METADATA_KEY


class OnnxFormat(ExportFormat):
    name = "onnx"
    title = "ONNX"
    suffix = ".onnx"
    packages = (("tf2onnx", "tf2onnx"), ("onnx", "onnx"), ("onnxruntime", "onnxruntime"))
    several_inputs = True  # graph inputs named as the model's inputs

    def missing_packages(self) -> list[str]:
        import dlcli.backend  # noqa: F401  (tf2onnx imports TensorFlow: let ours be first, quiet)

        return super().missing_packages()

    def write(self, model: Any, path: Path, *, quantize: str) -> None:
        _refuse_fft_layers(model)
        _write_onnx(model, path)
        _check_onnx(path)

    def runner(self, path: Path) -> Runner:
        return onnx_runner(path)

    def embed_metadata(self, path: Path, text: str) -> None:
        embed_onnx_metadata(path, text)


# Layers computing an FFT (TensorFlow's RFFT op): tf2onnx has no conversion for it, at any
# opset, so an audio model with its spectrogram inside cannot become ONNX.
FFT_LAYERS = ("MelSpectrogram", "STFTSpectrogram")


def _refuse_fft_layers(model: Any) -> None:
    found = [layer for layer in model.layers if type(layer).__name__ in FFT_LAYERS]
    if not found:
        return
    layer = found[0]
    raise UsageError(
        f"ONNX cannot hold layer {layer.name!r} ({type(layer).__name__}): its FFT "
        "(TensorFlow's RFFT op) has no ONNX conversion in tf2onnx",
        expected="--format saved_model or --format tflite (both keep the spectrogram inside "
        "the model and are parity-checked)",
        hint="export --format tflite or saved_model; for ONNX, compute the spectrogram "
        "outside the model and export the layers after it (docs/audio.md, 'Exporting audio "
        "models')",
    )


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
    names = [t.name for t in model.inputs]
    specs = [
        tf.TensorSpec([None, *t.shape[1:]], tf.float32, name=n)
        for t, n in zip(model.inputs, names, strict=True)
    ]
    if len(names) == 1:
        fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(specs[0])
    else:  # several named inputs: graph inputs in model order, renamed to their names
        fn = tf.function(
            lambda *xs: model(dict(zip(names, xs, strict=True)), training=False)
        ).get_concrete_function(*specs)
    frozen = convert_variables_to_constants_v2(fn)
    # Several named outputs (model.outputs): flattened in name order, renamed to their names.
    named = getattr(model, "output", None)
    out_names = sorted(named) if isinstance(named, dict) else ["output"]
    if len(frozen.outputs) != len(out_names):
        raise UsageError(
            f"ONNX export supports a model with one output or named outputs; this one has "
            f"{len(frozen.outputs)}"
        )
    proto, _ = tf2onnx.convert.from_graph_def(
        frozen.graph.as_graph_def(),
        input_names=[t.name for t in frozen.inputs],
        output_names=[t.name for t in frozen.outputs],
    )
    if len(names) == 1:
        _rename_io(proto, frozen.inputs[0].name, "input", batch="batch")
    else:  # the placeholders carry their TensorSpec's name: "image:0" -> "image"
        for tensor in frozen.inputs:
            if tensor.name.split(":")[0] in names:
                _rename_io(proto, tensor.name, tensor.name.split(":")[0], batch="batch")
    for tensor, out_name in zip(frozen.outputs, out_names, strict=True):
        _rename_io(proto, tensor.name, out_name, batch="batch")
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
    name = inputs[0].name
    names = sorted(i.name for i in inputs)
    out_names = [o.name for o in outputs]

    def run(feed: dict[str, Any]) -> np.ndarray:
        results = session.run(None, feed)
        if len(results) > 1:  # several named outputs, packed in name order
            return pack_outputs(dict(zip(out_names, results, strict=True)))
        return np.asarray(results[0])

    def predict(x: Any) -> np.ndarray:
        batch = as_batch(x)
        if len(inputs) == 1 and not isinstance(batch, dict):
            return run({name: batch})
        if not isinstance(batch, dict) or sorted(batch) != names:
            raise ModelLoadError(
                f"the ONNX model takes {len(inputs)} named input(s)",
                file=path,
                expected=f"a value for each of {names}",
            )
        return run(batch)

    embedded = session.get_modelmeta().custom_metadata_map.get(EMBEDDED_METADATA_KEY)
    shapes = [o.shape for o in outputs]
    out_units = units(shapes[0]) if len(shapes) == 1 else packed_units(shapes)
    return Runner(predict, dims(inputs[0].shape[1:]), out_units, embedded)
