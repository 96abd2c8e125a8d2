"""The metadata bundled with every exported model, so it can be served without dlcli.

Written as JSON beside the model file (``model.tflite`` -> ``model.tflite.json``) or into a
SavedModel's ``assets/labels.json`` (each format says where: ``ExportFormat.metadata_path``).
It holds the ``labels.json`` keys of the run (class names, the preprocessing ``version``,
``kind`` and the kind's fields: image size, colour mode, ..., or the CSV feature columns)
plus what a server must know to feed
the graph: input name, shape, dtype and layout, the value range it expects (raw pixels,
0..255), the scaling the model does itself, the output activation, and the parity result.
"""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dlcli.data.kinds import Preprocessing

FORMAT_VERSION = 1


def model_preprocessing_layers(model: Any) -> list[dict[str, Any]]:
    """The value-scaling layers the model applies to its input itself, in order.

    Walks from the input while layers keep the input's meaning (scaling, normalisation,
    and augmentation layers, which are identity at inference), so a server knows not to
    scale pixels a second time.
    """
    from dlcli.backend import keras

    found: list[dict[str, Any]] = []
    passthrough = ("Random", "Resizing", "CenterCrop", "InputLayer")
    for layer in model.layers:
        cls = type(layer).__name__
        if isinstance(layer, keras.layers.Rescaling):
            found.append(
                {
                    "layer": layer.name,
                    "type": cls,
                    "scale": _plain(layer.scale),
                    "offset": _plain(layer.offset),
                }
            )
        elif isinstance(layer, keras.layers.Normalization):
            found.append(
                {
                    "layer": layer.name,
                    "type": cls,
                    "mean": _plain(getattr(layer, "mean", None)),
                    "variance": _plain(getattr(layer, "variance", None)),
                }
            )
        elif not cls.startswith(passthrough):
            break
    return found


def _plain(value: Any) -> Any:
    """JSON-friendly numbers from floats, NumPy arrays or Keras variables."""
    import numpy as np

    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float64)
    return float(arr) if arr.ndim == 0 else arr.reshape(-1).tolist()


def output_activation(model: Any) -> str | None:
    from dlcli.prediction.probabilities import final_activation

    return final_activation(model)


def named_outputs(model: Any, named: dict[str, Any], target: Any) -> dict[str, Any]:
    """``output`` of a model with several outputs: each one by name, in the order the
    runners put them side by side (``class_names`` follows it)."""
    from types import SimpleNamespace

    from dlcli.prediction.probabilities import final_activation
    from dlcli.targets import target_of

    layers = {p.name: p.layer for p in target_of(target).parts(target) or []}
    outputs = {}
    for name in sorted(named):
        layer = layers.get(name)
        keras_layer = model.get_layer(layer) if layer else None
        outputs[name] = {
            "shape": [d if d is None else int(d) for d in named[name].shape],
            "layer": layer,
            "activation": final_activation(SimpleNamespace(layers=[keras_layer]))
            if keras_layer is not None
            else None,
        }
    return {"outputs": outputs, "order": "side by side in name order"}


def build_metadata(
    *,
    fmt: str,
    model: Any,
    class_names: list[str] | None,
    preprocessing: Preprocessing,
    source: str,
    parity: dict[str, Any],
    quantize: str | None,
    extra: dict[str, Any] | None = None,
    target: Any = None,
) -> dict[str, Any]:
    from dlcli import __version__
    from dlcli.backend import keras, tf
    from dlcli.data.kinds import kind_of
    from dlcli.data.kinds.labels import labels_json

    shape = [d if d is None else int(d) for d in model.inputs[0].shape]
    meta: dict[str, Any] = labels_json(class_names or [], preprocessing, target)
    meta["class_names"] = class_names
    meta["format"] = fmt
    meta["format_version"] = FORMAT_VERSION
    meta["input"] = kind_of(preprocessing).serving_input(preprocessing, shape)
    if len(model.inputs) > 1:  # several named inputs: each one's name, shape and dtype
        meta["input"]["inputs"] = {
            t.name: {"shape": [d if d is None else int(d) for d in t.shape], "dtype": str(t.dtype)}
            for t in model.inputs
        }
    meta["model_preprocessing"] = model_preprocessing_layers(model)
    meta["output"] = {
        "shape": [d if d is None else int(d) for d in model.outputs[0].shape],
        "activation": output_activation(model),
    }
    named = getattr(model, "output", None)
    if isinstance(named, dict):  # model.outputs: each output's shape, layer and activation
        meta["output"] = named_outputs(model, named, target)
    meta["quantization"] = quantize or "none"
    meta["parity"] = parity
    meta["source_model"] = source
    meta["versions"] = {
        "dlcli": __version__,
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "python": platform.python_version(),
    }
    if extra:
        meta.update(extra)
    return meta
