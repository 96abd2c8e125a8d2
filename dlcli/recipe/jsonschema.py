"""The JSON Schema of the user-facing recipe format, for editors (``dlcli schema``).

It describes what a person writes (shorthands, blocks, flat optimizer arguments), not the
resolved types: ``data``/``train`` come from the pydantic models with those differences
patched in, and each catalog layer gets its own argument schema.
"""

from __future__ import annotations

from typing import Any, get_args

from dlcli.recipe import backbones, catalog
from dlcli.recipe.sections import OPTIMIZERS
from dlcli.recipe.spec import InputDtype, TrainSpec
from dlcli.recipe.stages import stages_json_schema

SCHEMA_ID = "https://dlcli.invalid/schema/recipe-v1.json"
_NAME = {"type": "string", "pattern": "^[A-Za-z0-9_][A-Za-z0-9_.\\-]*$"}
_STRINGS: dict[str, Any] = {
    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
}
_INPUTS = _STRINGS


def _layer_args(name: str) -> dict[str, Any]:
    info = catalog.get_layer(name)
    assert info is not None
    props: dict[str, Any] = {}
    for arg in info.args.values():
        if arg.name == "name":
            continue
        prop: dict[str, Any] = {}
        if not arg.required and arg.default_repr is None:
            prop["default"] = arg.default
        props[arg.name] = prop
    props["name"] = {**_NAME, "description": "layer name (default: generated, Keras-style)"}
    props["inputs"] = {**_INPUTS, "description": "earlier layer name(s); default: previous"}
    mapping: dict[str, Any] = {
        "type": "object",
        "properties": props,
        "additionalProperties": False,
    }
    required = [a for a in info.required_args if a != "name"]
    if required:
        mapping["required"] = required
    options: list[dict[str, Any]] = [mapping]
    if not required:
        options.append({"type": "null"})
    if info.first_arg:
        options.append({"not": {"type": ["object", "null"]}, "description": info.first_arg})
    return {"description": info.doc, "anyOf": options}


def _entry_schema(*, with_blocks: bool) -> dict[str, Any]:
    props = {n: {"$ref": f"#/$defs/layer.{n}"} for n in catalog.layer_names()}
    props[backbones.ENTRY] = backbones.entry_schema()
    repeat_name = {"repeat": {"type": "integer", "minimum": 1}, "name": _NAME}

    def block_use(params: bool) -> dict[str, Any]:
        use = {"type": "object", "properties": repeat_name, "additionalProperties": params}
        return {"anyOf": [{"type": "null"}, use]}

    entry: dict[str, Any] = {
        "type": "object",
        "minProperties": 1,
        "maxProperties": 1,
        "properties": props,
        # A schema cannot see which blocks a recipe defines: a key that is not a layer is a
        # block use. Layer names are CamelCase, so a lowercase key may pass parameter values
        # (`- bottleneck: {filters: 128}`) while `- Flaten: {x: 1}` is still a typo.
        "additionalProperties": block_use(False) if with_blocks else False,
    }
    if with_blocks:
        entry["patternProperties"] = {"^[a-z_]": block_use(True)}
    return {
        "anyOf": [
            {"type": "string", "description": "a layer (or block) name without arguments"},
            entry,
        ]
    }


def _parameterised_block(block_entry: dict[str, Any]) -> dict[str, Any]:
    """``{params: ..., layers: [...]}``: layers use the parameters as ``${name}``."""
    name = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}
    with_default = {"type": "object", "propertyNames": name, "minProperties": 1, "maxProperties": 1}
    return {
        "type": "object",
        "properties": {
            "params": {
                "description": "name: default, or a list of names (no default) and {name: default}",
                "anyOf": [
                    {"type": "object", "propertyNames": name},
                    {"type": "array", "items": {"anyOf": [name, with_default]}},
                    {"type": "null"},
                ],
            },
            "layers": {"type": "array", "items": block_entry, "minItems": 1},
        },
        "required": ["layers"],
        "additionalProperties": False,
    }


def _section(cls: Any) -> dict[str, Any]:
    schema = cls.model_json_schema(mode="validation")
    defs = schema.pop("$defs", {})
    return _inline(schema, defs)


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _registered_kinds() -> list[Any]:
    from dlcli.data.kinds import DEFAULT_KIND, get_kind, kind_names

    # The default kind first: a data section without `kind:` is one of it.
    return [get_kind(DEFAULT_KIND)] + [get_kind(n) for n in kind_names() if n != DEFAULT_KIND]


def _data_section(kind: Any, block_entry: dict[str, Any]) -> dict[str, Any]:
    """One kind's ``data:`` mapping; ``kind:`` may be left out for the default kind only."""
    from dlcli.data.kinds import DEFAULT_KIND

    data = _section(kind.section)
    data["properties"]["augment"] = {
        "type": "array",
        "items": block_entry,
        "default": [],
    }
    for key in ("train", "validation"):
        data["properties"][key] = {
            "anyOf": [{"type": "string"}, {"type": "null"}]
            if key == "validation"
            else [{"type": "string"}],
            "description": "path, relative to the recipe file",
        }
    if "target" in data["properties"]:  # a target's name alone, or a mapping with type
        from dlcli.targets import target_names

        data["properties"]["target"] = {
            "anyOf": [{"type": "string", "enum": target_names()}, data["properties"]["target"]],
            "default": "class",
        }
    if kind.name != DEFAULT_KIND:
        data["required"] = sorted({*data.get("required", []), "kind"})
    return data


def recipe_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a recipe file as a person writes it."""
    layer_entry = {"$ref": "#/$defs/layer_entry"}
    block_entry = {"$ref": "#/$defs/block_entry"}
    data_kinds = [_data_section(kind, block_entry) for kind in _registered_kinds()]
    train = _train_schema()
    model = _model_schema(layer_entry, block_entry, train["properties"]["loss"])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "dlcli recipe",
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "seed": {"type": "integer", "minimum": 0, "default": 42},
            "data": {"anyOf": [*data_kinds, {"type": "null"}]},
            "model": model,
            "train": train,
        },
        "required": ["name", "model"],
        "additionalProperties": False,
        "$defs": {
            "layer_entry": _entry_schema(with_blocks=True),
            "block_entry": _entry_schema(with_blocks=False),
            **{f"layer.{n}": _layer_args(n) for n in catalog.layer_names()},
        },
    }


def _train_schema() -> dict[str, Any]:
    """``train:``, with the optimizer and loss written as a name or a name plus arguments."""
    train = _section(TrainSpec)
    train["properties"]["optimizer"] = {
        "anyOf": [
            {"type": "string", "enum": list(OPTIMIZERS)},
            {
                "type": "object",
                "properties": {"name": {"type": "string", "enum": list(OPTIMIZERS)}},
                "additionalProperties": True,
                "description": "name plus the optimizer's arguments, e.g. learning_rate",
            },
        ],
        "default": "adam",
    }
    train["properties"].pop("loss_args", None)  # written beside the loss's name
    train["properties"]["loss"] = {
        "anyOf": [
            {"type": "string"},
            {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
                "additionalProperties": True,
                "description": "name plus the loss's Keras arguments, e.g. label_smoothing",
            },
        ],
        "default": "sparse_categorical_crossentropy",
    }
    train["properties"]["stages"] = stages_json_schema(
        train["properties"]["optimizer"], train["properties"]["lr_schedule"]
    )
    train["properties"]["metrics"] = _STRINGS | {"default": ["accuracy"]}
    return train


def _model_schema(
    layer_entry: dict[str, Any], block_entry: dict[str, Any], loss: dict[str, Any]
) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "input": {
                "type": "array",
                "items": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
                "description": "input shape without the batch axis; default: from the data",
            },
            "input_dtype": {"type": "string", "enum": list(get_args(InputDtype))},
            "inputs": _named(_model_input(), "named inputs, each fed by columns of the data"),
            "outputs": _named(_model_output(loss), "named outputs, each a layer with a target"),
            "blocks": {
                "type": "object",
                "additionalProperties": {
                    "anyOf": [
                        {"type": "array", "items": block_entry, "minItems": 1},
                        _parameterised_block(block_entry),
                    ]
                },
            },
            "layers": {"type": "array", "items": layer_entry, "minItems": 1},
            "init_from": {
                "type": "string",
                "description": "warm start: a run folder or .keras file whose weights are "
                "copied by layer name",
            },
        },
        "required": ["layers"],
        "additionalProperties": False,
    }


def _named(entry: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
        "additionalProperties": entry,
        "minProperties": 1,
        "description": description,
    }


def _model_input() -> dict[str, Any]:
    """``model.inputs.NAME``: a column, a list of columns, or {columns, shape, dtype}."""
    shape = {
        "type": "array",
        "items": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
    }
    mapping = {
        "type": "object",
        "properties": {
            "columns": _STRINGS,
            "shape": shape,
            "dtype": {"type": "string", "enum": list(get_args(InputDtype))},
        },
        "required": ["columns"],
        "additionalProperties": False,
    }
    return {"anyOf": [*_STRINGS["anyOf"], mapping]}


def _model_output(loss: dict[str, Any]) -> dict[str, Any]:
    """``model.outputs.NAME``: {layer, label, target, loss, loss_weight, metrics}."""
    from dlcli.targets import target_names

    names = {"type": "string", "enum": target_names()}
    target = {
        "anyOf": [
            names,
            {
                "type": "object",
                "properties": {"type": names},
                "required": ["type"],
                "additionalProperties": True,
            },
        ]
    }
    mapping = {
        "type": "object",
        "properties": {
            "layer": {"type": "string", "description": "default: the output's name"},
            "label": _STRINGS | {"description": "label column(s); default: the output's name"},
            "target": target,
            "loss": {k: v for k, v in loss.items() if k != "default"},
            "loss_weight": {"type": "number", "minimum": 0, "default": 1.0},
            "metrics": _STRINGS,
        },
        "additionalProperties": False,
    }
    return {"anyOf": [{"type": "null"}, mapping]}
