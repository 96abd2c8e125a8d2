"""``--set key.path=value`` and named flags, applied to the raw recipe before validation.

Values are YAML scalars or flow collections, read by the same safe reader as recipe files
(never evaluated). Paths use dots for keys and ``[i]`` (0-based) for list items, e.g.
``model.layers[2].Dense.units=64`` or ``train.devices=[/cpu:0,/cpu:1]``. Layer-entry
shorthands on the way (``- Flatten``, ``- Dropout: 0.25``, ``optimizer: sgd``) are widened
to their mapping form so a single argument can be set.
"""

from __future__ import annotations

import re
from typing import Any

from dlcli.errors import RecipeError
from dlcli.recipe.yamlread import KeyPath, Positions, format_path, read_yaml_text

_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_.\-]*?)((?:\[\d+\])*)(?:\.|$)")
_LAYER_LISTS = (("model", "layers"), ("data", "augment"))


def parse_path(text: str, label: str) -> KeyPath:
    """``model.layers[2].Dense.units`` -> ``("model", "layers", 2, "Dense", "units")``."""
    path: list[str | int] = []
    pos = 0
    while pos < len(text):
        match = _PART.match(text, pos)
        if match is None or match.end() == pos:
            raise RecipeError(
                f"bad key path {text!r} in {label}",
                expected="keys joined by dots, list items as [i], e.g. model.layers[2].Dense.units",
            )
        path.append(match.group(1))
        path.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
        pos = match.end()
        if text.endswith(".") and pos == len(text):
            raise RecipeError(f"bad key path {text!r} in {label}: it ends with a dot")
    if not path:
        raise RecipeError(f"empty key path in {label}")
    return tuple(path)


def parse_override(text: str) -> tuple[KeyPath, Any]:
    """``"train.epochs=3"`` -> ``(("train", "epochs"), 3)``; the value is read as YAML."""
    label = f"--set {text}"
    key, sep, value_text = text.partition("=")
    if not sep or not key.strip():
        raise RecipeError(
            f"bad override {text!r}",
            expected="key.path=value, e.g. --set train.epochs=3",
            hint=f"from {label}",
        )
    path = parse_path(key.strip(), label)
    try:
        value, _ = read_yaml_text(value_text, None)
    except RecipeError as exc:
        raise RecipeError(
            f"bad value in {label}: {exc.problem.message}",
            hint="values are YAML: 3, 0.5, true, text, [a, b], {k: v}",
        ) from None
    return path, value


def apply_value(
    tree: dict[str, Any], path: KeyPath, value: Any, label: str, positions: Positions
) -> None:
    """Set ``path`` to ``value`` inside ``tree``, creating mappings on the way."""
    node: Any = tree
    for depth, part in enumerate(path[:-1]):
        if _is_entry_path(path[:depth]) and isinstance(node, dict) and node and part not in node:
            here = format_path(path[:depth])
            raise _bad(path, label, f"{here} is a {next(iter(node))!r} entry, not {part!r}")
        child = _child(node, part, path, label)
        child = _widen(child, path, depth + 1, label)
        _put(node, part, child)
        node = child
    last = path[-1]
    if _is_entry_path(path[:-1]) and isinstance(node, dict) and node and last not in node:
        here = format_path(path[:-1])
        raise _bad(path, label, f"{here} is a {next(iter(node))!r} entry, not {last!r}")
    if isinstance(last, int):
        _check_index(node, last, path, label)
    elif not isinstance(node, dict):
        raise _bad(path, label, f"{format_path(path[:-1])} is not a mapping")
    positions.forget(path)
    _put(node, last, value)
    positions.overridden[path] = label


def _child(node: Any, part: str | int, path: KeyPath, label: str) -> Any:
    if isinstance(part, int):
        _check_index(node, part, path, label)
        return node[part]
    if not isinstance(node, dict):
        raise _bad(path, label, f"cannot go into {type(node).__name__} value with {part!r}")
    return node.get(part)


def _put(node: Any, part: str | int, value: Any) -> None:
    node[part] = value


def _check_index(node: Any, index: int, path: KeyPath, label: str) -> None:
    if not isinstance(node, list):
        raise _bad(path, label, f"[{index}] needs a list here")
    if index >= len(node):
        raise _bad(path, label, f"index [{index}] is out of range (the list has {len(node)} items)")


def _widen(child: Any, path: KeyPath, depth: int, label: str) -> Any:
    """Shorthand -> mapping so that ``path[depth]`` can be set inside it."""
    if isinstance(child, (dict, list)):
        return child
    if child is None:
        return {}
    nxt = path[depth]
    parent = path[: depth - 1] if depth >= 1 else ()
    is_entry = isinstance(path[depth - 1], int) and _is_layer_list(parent)
    if is_entry:
        if isinstance(child, str) and child == nxt:
            return {child: {}}
        raise _bad(path, label, f"{format_path(path[:depth])} is {child!r}, not {nxt!r}")
    if isinstance(path[depth - 1], str) and depth >= 2 and _is_entry_path(path[: depth - 1]):
        from dlcli.recipe import catalog

        info = catalog.get_layer(str(path[depth - 1]))
        if info is not None and info.first_arg:
            return {info.first_arg: child}
    if path[:depth] == ("train", "optimizer") and isinstance(child, str):
        return {"name": child}
    raise _bad(
        path, label, f"{format_path(path[:depth])} holds {child!r}, which has no key {nxt!r}"
    )


def _is_layer_list(path: KeyPath) -> bool:
    """``model.layers``, ``data.augment``, a block (``model.blocks.b``) or a parameterised
    block's ``layers`` (``model.blocks.b.layers``)."""
    in_blocks = path[:2] == ("model", "blocks")
    return (
        path in _LAYER_LISTS
        or (in_blocks and len(path) == 3)
        or (in_blocks and len(path) == 4 and path[3] == "layers")
    )


def _is_entry_path(path: KeyPath) -> bool:
    return bool(path) and isinstance(path[-1], int) and _is_layer_list(path[:-1])


def _bad(path: KeyPath, label: str, why: str) -> RecipeError:
    return RecipeError(f"cannot apply {label}: {why}", field=format_path(path))
