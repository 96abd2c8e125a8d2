"""Two parts of a layer entry beyond constructor arguments: nested layers and call options.

Wrapper layers (``Bidirectional``, ``TimeDistributed``, ``SpectralNormalization``) take a
layer as a constructor argument; in a recipe it is a nested layer entry, checked like any
entry (its type, arguments and their values), with no ``inputs`` of its own::

    - Bidirectional: {layer: {LSTM: {units: 64}}, merge_mode: concat}

``call:`` sets keyword options of the layer's ``call`` (the catalog lists each layer's
options and their defaults, from ``call``'s signature)::

    - MultiHeadAttention: {num_heads: 2, key_dim: 16, inputs: [x, x], call: {use_causal_mask: true}}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dlcli.recipe.catalog import LayerInfo

if TYPE_CHECKING:
    from dlcli.recipe.layers import LayerParser
    from dlcli.recipe.yamlread import KeyPath


def parse_call(
    parser: LayerParser, info: LayerInfo, raw: Any, path: KeyPath
) -> dict[str, Any] | None:
    """The ``call:`` mapping checked against the layer's call options; None on a problem."""
    from dlcli.recipe.layers import did_you_mean

    options = info.call_options
    if not isinstance(raw, dict):
        parser.problem(
            path,
            f"bad call options for {info.name}",
            expected="a mapping of call keyword -> value, e.g. {use_causal_mask: true}",
            received=raw,
        )
        return None
    ok = True
    for key, value in raw.items():
        if key not in options:
            listed = ", ".join(sorted(options)) if options else "none"
            parser.problem(
                (*path, key),
                f"unknown call argument {key!r} for {info.name}",
                key=True,
                expected=f"keyword options of {info.class_name}.call: {listed}",
                hint=did_you_mean(str(key), list(options)),
            )
            ok = False
            continue
        default = options[key]
        if not _same_kind(value, default):
            parser.problem(
                (*path, key),
                f"{info.name} call argument {key!r} has the wrong type",
                expected=f"a {_kind(default)} (default {default!r})",
                received=value,
            )
            ok = False
    return dict(raw) if ok else None


def parse_nested(
    parser: LayerParser, info: LayerInfo, args: dict[str, Any], args_path: KeyPath
) -> bool:
    """Check each wrapper argument's nested layer entry; in ``args`` it becomes the canonical
    ``{Type: {arg: value, ..., name?}}``. False when any nested entry has a problem."""
    from dlcli.recipe.layers import _Entry

    ok = True
    for arg in info.layer_args:
        if arg not in args or args[arg] is None:
            continue
        path = (*args_path, arg)
        entry = parser.entry(args[arg], path, allow_inputs=False)
        if not isinstance(entry, _Entry):
            ok = False
            continue
        if entry.call:
            parser.problem(
                (*path, entry.type, "call"),
                "call options of a wrapped layer cannot be set",
                hint=f"set them on the {info.name} entry, if its call takes them",
            )
            ok = False
            continue
        body = dict(entry.args)
        if entry.name:
            body["name"] = entry.name
        args[arg] = {entry.type: body}
    return ok


def nested_entry(value: Any) -> tuple[str, dict[str, Any]] | None:
    """A canonical nested entry ``{Type: {args}}`` as (type, args); None if not one."""
    if isinstance(value, dict) and len(value) == 1:
        layer_type, body = next(iter(value.items()))
        if isinstance(layer_type, str) and isinstance(body, dict):
            return layer_type, dict(body)
    return None


def _same_kind(value: Any, default: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def _kind(default: Any) -> str:
    if isinstance(default, bool):
        return "true/false switch"
    if isinstance(default, (int, float)):
        return "number"
    return "string"
