"""What the builder needs beyond ``cls(**args)``: the class of a catalog entry (Keras or
dlcli's own) and wrapper arguments turned from nested entries into layer objects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dlcli.recipe.catalog import LayerInfo
from dlcli.recipe.layer_options import nested_entry
from dlcli.recipe.layers import snake_case
from dlcli.recipe.spec import LayerSpec


def layer_class(info: LayerInfo) -> Any:
    """The class a catalog entry names: ``keras.layers.X``, or one of dlcli's own layers."""
    if info.module is not None:
        from dlcli.modeling.custom_layers import LAYERS

        return LAYERS[info.class_name]
    from dlcli.backend import keras

    return getattr(keras.layers, info.name)


def constructor_args(
    spec: LayerSpec, info: LayerInfo, instantiate: Callable[[LayerSpec], Any]
) -> dict[str, Any]:
    """``spec.args`` with each wrapper argument's nested entry created as a layer (named
    ``<wrapper>_<layer>`` unless the entry names it)."""
    args = dict(spec.args)
    for arg in info.layer_args:
        nested = nested_entry(args.get(arg))
        if nested is None:
            continue
        layer_type, body = nested
        name = body.pop("name", None) or f"{spec.name}_{snake_case(layer_type)}"
        args[arg] = instantiate(LayerSpec(type=layer_type, args=body, name=name, where=spec.where))
    return args
