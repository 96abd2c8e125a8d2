"""``model.blocks``: block definitions, and the layers each use of a block stands for.

A block is a non-empty list of layer entries, or ``{params: ..., layers: [...]}`` whose
layers use the parameters as ``${name}`` (:mod:`dlcli.recipe.block_params`). A use in
``model.layers`` (``- res``, ``- res: {repeat: 2, name: stage, filters: 64}``) gets the
block's layers with its values in place, checked like any layer entry. A problem caused
by a value points at the use (the value given there) and names the place in the block
that received it; a problem of the block itself points at the block, once.

Inside a block, ``inputs`` name earlier layers of the block or ``block_input``; an input
that comes from a parameter (``inputs: [up, ${skip}]``) names a layer *outside* the
block instead, resolved where the block is used (``graph._wire``), so one block can be a
U-Net decoder stage that concatenates the encoder's skip layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dlcli.errors import Problem
from dlcli.recipe import catalog
from dlcli.recipe.block_params import (
    PARAM_NAME,
    REQUIRED,
    RESERVED_PARAMS,
    BadSpot,
    Param,
    Ref,
    covers,
    scan,
)
from dlcli.recipe.layers import (
    _NAME_RE,
    BLOCK_INPUT,
    RESERVED,
    LayerParser,
    _Entry,
    did_you_mean,
    local_names,
)
from dlcli.recipe.yamlread import KeyPath, format_path

BLOCK_KEYS = ("params", "layers")


@dataclass
class BlockDef:
    name: str
    path: KeyPath  # model.blocks.<name>
    layers_path: KeyPath  # where its layer entries are: the block itself, or its `layers`
    raw_layers: list[Any]
    params: dict[str, Param] | None  # None: the plain list form (no parameters)
    entries: list[_Entry]  # as defined (with a parameterised block's ${...} still in them)
    local: list[str]  # the layers' names inside the block

    @property
    def size(self) -> int:
        return len(self.raw_layers)


def where_text(parser: LayerParser, path: KeyPath) -> str:
    """``file:line:col`` of ``path`` (or the override that set it), for a second position."""
    pos, override = parser.positions.locate(path)
    if override is not None:
        return override
    where = parser.positions.file or "<recipe>"
    return f"{where}:{pos[0]}:{pos[1]}" if pos else where


def parse_blocks(parser: LayerParser, raw: Any, path: KeyPath) -> dict[str, BlockDef | None]:
    """``model.blocks``; a block with problems maps to None (its uses are not re-reported)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        parser.problem(path, "bad blocks", expected="a mapping of block name -> list of layers")
        return {}
    result: dict[str, BlockDef | None] = {}
    for name, body in raw.items():
        bpath = (*path, name)
        if catalog.get_layer(name) is not None or name in RESERVED or not _NAME_RE.match(name):
            parser.problem(
                bpath,
                f"block name {name!r} is not allowed (a Keras layer or a reserved name)",
                key=True,
                hint="choose another block name, e.g. 'res' or 'stage'",
            )
            continue
        result[name] = _parse_block(parser, name, body, bpath, set(raw))
    return result


def _parse_block(
    parser: LayerParser, name: str, body: Any, bpath: KeyPath, all_blocks: set[str]
) -> BlockDef | None:
    params: dict[str, Param] | None = None
    layers_path = bpath
    if isinstance(body, dict):
        ok = True
        for key in body:
            if key not in BLOCK_KEYS:
                parser.problem(
                    (*bpath, key),
                    f"unknown key {key!r} in block {name!r}",
                    key=True,
                    expected="'params' and 'layers'",
                    hint=did_you_mean(str(key), list(BLOCK_KEYS)),
                )
                ok = False
        params = _parse_params(parser, body.get("params"), (*bpath, "params"))
        layers_path = (*bpath, "layers")
        if "layers" not in body:
            parser.problem(bpath, f"block {name!r} has no 'layers'", hint="list them under it")
            return None
        if params is None or not ok:
            return None
        body = body["layers"]
    if not isinstance(body, list) or not body:
        parser.problem(
            layers_path,
            "a block is a non-empty list of layer entries, or {params: ..., layers: [...]}",
            received=body,
        )
        return None
    refs_ok, placeholders = _check_refs(parser, name, params, body, layers_path)
    entries = _definition_entries(parser, body, layers_path, placeholders, all_blocks)
    if entries is None or not _refs_ok(parser, entries) or not refs_ok:
        return None
    return BlockDef(name, bpath, layers_path, body, params, entries, local_names(entries))


def _parse_params(parser: LayerParser, raw: Any, path: KeyPath) -> dict[str, Param] | None:
    """``params``: {name: default} or [name (required), {name: default}]; None on a problem."""
    items: list[tuple[Any, Any, KeyPath, bool]] = []
    if raw is None:
        return {}
    if isinstance(raw, dict):
        items = [(k, v, (*path, k), True) for k, v in raw.items()]
    elif isinstance(raw, list):
        for i, item in enumerate(raw):
            if isinstance(item, dict) and len(item) == 1:
                key, value = next(iter(item.items()))
                items.append((key, value, (*path, i, key), True))
            else:
                items.append((item, REQUIRED, (*path, i), False))
    else:
        parser.problem(
            path,
            "bad block parameters",
            expected="a mapping of name -> default, e.g. {filters: 64, strides: 1}, or a list "
            "whose bare names have no default: [skip, {filters: 64}]",
            received=raw,
        )
        return None
    params: dict[str, Param] = {}
    ok = True
    for key, default, ppath, is_key in items:
        why = None
        if not isinstance(key, str) or not PARAM_NAME.match(key):
            why = "bad parameter name; expected letters, digits and '_', not starting with a digit"
        elif key in RESERVED_PARAMS:
            why = f"{key!r} cannot name a parameter: every block entry takes it"
        elif key in params:
            why = f"parameter {key!r} is declared twice"
        elif any(isinstance(s, (Ref, BadSpot)) for s in scan(default, ppath)):
            why = "a parameter's default cannot use parameters"
        if why:
            parser.problem(ppath, why, key=is_key, received=key)
            ok = False
            continue
        params[key] = Param(key, default, ppath, is_key)
    return params if ok else None


def _check_refs(
    parser: LayerParser,
    block: str,
    params: dict[str, Param] | None,
    body: list[Any],
    layers_path: KeyPath,
) -> tuple[bool, set[str]]:
    """Every ``${x}`` names a declared parameter and every parameter is used (the bool);
    the field paths holding a ``${...}``, whose value checks wait for a use."""
    ok = True
    used: set[str] = set()
    spots: set[str] = set()
    for i, raw_entry in enumerate(body):
        for spot in _fixed_parts(raw_entry, (*layers_path, i)):
            parser.problem(spot.path, spot.why, key=spot.key, received=spot.received)
            ok = False
        for found in scan(raw_entry, (*layers_path, i)):
            spots.add(format_path(found.path))
            if isinstance(found, BadSpot):
                parser.problem(found.path, found.why, key=found.key, received=found.received)
                ok = False
                continue
            used.add(found.name)
            if params is None or found.name not in params:
                ok = False
                _unknown_ref(parser, block, params, found)
    for param in (params or {}).values():
        if param.name not in used:
            parser.problem(
                param.path,
                f"parameter {param.name!r} of block {block!r} is never used in its layers",
                key=param.key,
                hint=f"use it as ${{{param.name}}} in a layer's arguments, or remove it",
            )
            ok = False
    return ok, spots


def _unknown_ref(
    parser: LayerParser, block: str, params: dict[str, Param] | None, found: Ref
) -> None:
    if params is None:
        hint = "it declares none: write the block as {params: {name: default}, layers: [...]}"
    else:
        hint = did_you_mean(found.name, list(params)) or (
            f"its parameters: {', '.join(params)}" if params else "it declares none"
        )
    parser.problem(
        found.path, f"'${{{found.name}}}' names no parameter of block {block!r}", hint=hint
    )


def _fixed_parts(raw_entry: Any, path: KeyPath) -> list[BadSpot]:
    """A layer's type and name are fixed where the block is defined."""
    if isinstance(raw_entry, str) and "${" in raw_entry:
        return [BadSpot(path, "a layer type cannot come from a parameter", received=raw_entry)]
    if not (isinstance(raw_entry, dict) and len(raw_entry) == 1):
        return []
    key, value = next(iter(raw_entry.items()))
    if isinstance(key, str) and "${" in key:
        return []  # reported by scan: a mapping key
    name = value.get("name") if isinstance(value, dict) else None
    if isinstance(name, str) and "${" in name:
        why = "a layer name inside a block cannot come from a parameter"
        return [BadSpot((*path, key, "name"), why, received=name)]
    return []


def _definition_entries(
    parser: LayerParser,
    body: list[Any],
    layers_path: KeyPath,
    placeholders: set[str],
    all_blocks: set[str],
) -> list[_Entry] | None:
    """The block's entries as written; checks of values that hold ``${...}`` wait for a use."""
    found: list[Problem] = []
    quiet = LayerParser(parser.positions, found)
    entries: list[_Entry] = []
    waiting: dict[str, list[str]] = {spot: [] for spot in placeholders}
    ok = True
    for i, raw_entry in enumerate(body):
        epath = (*layers_path, i)
        before = len(found)
        entry = quiet.entry(raw_entry, epath, other_blocks=all_blocks)
        kept = [p for p in found[before:] if covers(p.field, waiting) is None]
        parser.problems.extend(kept)
        if kept:
            ok = False
        elif isinstance(entry, _Entry):
            entries.append(entry)
        else:  # only values waiting for a use were refused: its type, name and inputs stand
            entries.append(_stand_in(raw_entry, epath))
    return entries if ok else None


def _stand_in(raw_entry: Any, path: KeyPath) -> _Entry:
    key, value = next(iter(raw_entry.items()))
    name = value.get("name") if isinstance(value, dict) else None
    inputs = value.get("inputs") if isinstance(value, dict) else None
    refs = [inputs] if isinstance(inputs, str) else inputs
    return _Entry(key, {}, name, list(refs) if isinstance(refs, list) else None, path)


def _refs_ok(parser: LayerParser, entries: list[_Entry]) -> bool:
    """Local names unique; inputs name earlier layers of the block or block_input (an input
    holding ``${...}`` names a layer outside the block, checked at each use)."""
    ok = True
    seen: dict[str, KeyPath] = {}
    local = local_names(entries)
    for entry, name in zip(entries, local, strict=True):
        ipath = (*entry.path, entry.type, "inputs")
        refs = entry.inputs or []
        for j, ref in enumerate(refs):
            rpath = ipath if len(refs) == 1 else (*ipath, j)
            if ref == BLOCK_INPUT or ref in seen or not isinstance(ref, str) or "${" in ref:
                continue
            ok = False
            if ref == name:
                parser.problem(rpath, f"layer {name!r} cannot take its own output as input")
            elif ref in local:
                parser.problem(
                    rpath, f"forward reference to {ref!r}: a layer may only use earlier layers"
                )
            else:
                hint = did_you_mean(ref, [*seen, BLOCK_INPUT])
                parser.problem(
                    rpath,
                    f"unknown input {ref!r}",
                    hint=hint
                    or "inside a block, inputs name earlier layers of the same block or "
                    "block_input (or a parameter: a layer outside the block)",
                )
        if name in seen:
            parser.problem(
                (*entry.path, entry.type, "name"),
                f"duplicate layer name {name!r} in this block (first at {format_path(seen[name])})",
            )
            ok = False
        seen[name] = entry.path
    return ok
