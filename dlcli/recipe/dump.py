"""The resolved recipe as YAML: what every run directory keeps as ``recipe.yaml``.

Everything is explicit: defaults filled in, blocks expanded, each layer written as
``{Type: {args..., name: ..., inputs: [...]}}``, data paths absolute. Loading the text
again gives an equal :class:`Recipe`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from dlcli.recipe.spec import LayerSpec, Recipe


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _layer(spec: LayerSpec, *, with_inputs: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {**_plain(spec.args), "name": spec.name}
    if with_inputs:
        body["inputs"] = list(spec.inputs)
    if spec.call:
        body["call"] = dict(spec.call)
    return {spec.type: body}


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    out: dict[str, Any] = {"name": recipe.name, "seed": recipe.seed}
    if recipe.data is not None:
        several = recipe.model.outputs is not None  # labels and targets are model.outputs'
        data = recipe.data.model_dump(
            exclude={"augment", "label", "target"} if several else {"augment"}
        )
        data["augment"] = [_layer(s, with_inputs=False) for s in recipe.data.augment]
        out["data"] = _plain(data)
    model: dict[str, Any] = {}
    if recipe.model.input is not None:
        model["input"] = list(recipe.model.input)
    if recipe.model.inputs is not None:
        model["inputs"] = {
            name: _plain(each.model_dump(exclude_none=True))
            for name, each in recipe.model.inputs.items()
        }
    if recipe.model.outputs is not None and recipe.data is not None:
        from dlcli.recipe.model_outputs import outputs_to_dict

        spec = getattr(recipe.data, "target", None)
        model["outputs"] = outputs_to_dict(spec.outputs)  # type: ignore[union-attr]
    if recipe.model.input_dtype is not None:
        model["input_dtype"] = recipe.model.input_dtype
    if recipe.model.init_from is not None:
        model["init_from"] = str(recipe.model.init_from)
    model["layers"] = [_layer(s) for s in recipe.model.layers]
    out["model"] = model
    train = recipe.train.model_dump(exclude={"optimizer", "stages", "loss_args"})
    if recipe.train.loss_args:
        train["loss"] = {"name": recipe.train.loss, **_plain(recipe.train.loss_args)}
    if recipe.train.class_weight is None:
        train.pop("class_weight")
    if recipe.model.outputs is not None:  # each output has its own (model.outputs)
        train.pop("loss")
        train.pop("metrics")
    if recipe.train.stages is not None:
        from dlcli.recipe.stages import stage_to_dict

        train["stages"] = [stage_to_dict(stage) for stage in recipe.train.stages]
    train = {
        "epochs": train.pop("epochs"),
        "optimizer": {"name": recipe.train.optimizer.name, **_plain(recipe.train.optimizer.args)},
        **train,
    }
    out["train"] = _plain(train)
    return out


def recipe_to_yaml(recipe: Recipe) -> str:
    from dlcli import __version__

    header = f"# resolved recipe, written by dlcli {__version__}"
    if recipe.source is not None:
        header += f" from {recipe.source}"
    body = yaml.safe_dump(
        recipe_to_dict(recipe),
        sort_keys=False,
        default_flow_style=None,
        allow_unicode=True,
        width=100,
    )
    return header + "\n" + body
