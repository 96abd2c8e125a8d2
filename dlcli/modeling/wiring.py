"""The ends of a model graph: every named input used, and the outputs the model returns
(the last layer, or ``model.outputs``' layers as a dict by output name)."""

from __future__ import annotations

from typing import Any

from dlcli.errors import ModelBuildError
from dlcli.recipe.spec import ModelSpec


def check_inputs_used(spec: ModelSpec, used: set[str]) -> None:
    """Each of ``model.inputs`` must feed some layer (else it takes data for nothing)."""
    for name in spec.inputs or {}:
        if name not in used:
            raise ModelBuildError(
                f"model input {name!r} is not used by any layer",
                field=f"model.inputs.{name}",
                hint=f"name it in a layer's inputs (inputs: [{name}]), or remove it",
            )


def model_outputs(spec: ModelSpec, final: Any, tensors: dict[str, Any]) -> Any:
    """The last layer's tensor, or a dict by output name (``model.outputs``, name order:
    Keras then returns the outputs as a dict)."""
    if not spec.outputs:
        return final
    from dlcli.backend import keras

    # Each output's tensor renamed after the output, so exported graphs (SavedModel,
    # TFLite signatures, ONNX) name their outputs as the recipe does.
    out = {}
    for name, layer in sorted(spec.outputs.items()):
        taken = name == layer or name in tensors
        out[name] = tensors[layer] if taken else keras.layers.Identity(name=name)(tensors[layer])
    return out
