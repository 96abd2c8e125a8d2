"""The ``model`` section and ``data.augment``: entries -> flat, named, fully wired LayerSpecs.

Blocks are expanded inline (instance ``k`` of block ``res`` is prefixed ``res_k``), every
layer gets its final name, and each ``inputs`` reference is resolved against the layers
*before* it, so forward references, self references and typos are reported by name.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dlcli.errors import Problem
from dlcli.recipe.block_params import scan
from dlcli.recipe.block_uses import instantiate
from dlcli.recipe.blocks import BlockDef, parse_blocks, where_text
from dlcli.recipe.layers import (
    BLOCK_INPUT,
    LayerParser,
    _BlockUse,
    _Entry,
    _Instance,
    _Placed,
    did_you_mean,
    local_names,
    snake_case,
)
from dlcli.recipe.spec import INPUT, LayerSpec, SourceRef
from dlcli.recipe.yamlread import KeyPath, Positions, format_path, make_problem

MODEL_KEYS = ("input", "inputs", "outputs", "input_dtype", "init_from", "blocks", "layers")
# Blocks times `repeat` can turn a few lines into millions of layers (a recipe "billion
# laughs"); validation must fail fast instead. The largest Keras application (NASNetLarge)
# has about 1,040 layers. The cap is what builds, saves and loads in tens of seconds on two
# cores (tests/test_deep_models.py builds one at the cap); dlcli.backend sizes Python's
# recursion limit from it, because Keras walks a functional graph one frame per layer.
MAX_LAYERS = 2_000


def _where(positions: Positions, path: KeyPath, origin: str | None = None) -> SourceRef:
    pos, override = positions.locate(path)
    field = format_path(path) + (f" ({origin})" if origin else "")
    # An override of one argument (``--set model.layers[1].Conv2D.filters=0``) leaves the
    # entry's file line in place; name the override too, or a build error would point at
    # a line that does not hold the value it complains about.
    below = [label for sub, label in positions.overridden.items() if sub[: len(path)] == path]
    if override is None and below:
        field += f" (with {', '.join(dict.fromkeys(below))})"
    return SourceRef(
        file=positions.file if override is None else override,
        line=pos[0] if pos else None,
        column=pos[1] if pos else None,
        field=field,
    )


def parse_input(raw: Any, path: KeyPath, problems: list[Problem], positions: Positions) -> Any:
    """``[32, 32, 1]`` (None allowed for variable sizes), one integer for 1-D input, or
    ``[]``: one value per example (a raw-text model with ``input_dtype: string``)."""
    if raw is None:
        return None
    dims = [raw] if isinstance(raw, int) and not isinstance(raw, bool) else raw
    if not isinstance(dims, list) or not all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in dims
    ):
        problems.append(
            make_problem(
                positions,
                path,
                "bad input shape",
                expected="a list of positive integers (null for a variable size), e.g. [32, 32, 1]",
                received=raw,
            )
        )
        return None
    return tuple(dims)


INPUT_DTYPES = ("float32", "int32", "string")


def parse_input_dtype(raw: Any, positions: Positions, problems: list[Problem]) -> str | None:
    """``model.input_dtype``: float32, int32 (token ids) or string (raw text); None if unset."""
    value = raw.get("input_dtype") if isinstance(raw, dict) else None
    if value is None or value in INPUT_DTYPES:
        return value
    problems.append(
        make_problem(
            positions,
            ("model", "input_dtype"),
            "bad input dtype",
            expected=" or ".join(INPUT_DTYPES),
            received=value,
            hint=did_you_mean(str(value), list(INPUT_DTYPES)),
        )
    )
    return None


def parse_model(
    raw: Any, positions: Positions, problems: list[Problem]
) -> tuple[Any, list[LayerSpec]] | None:
    """Returns (input shape, layers) or None when the section has problems."""
    before = len(problems)
    parser = LayerParser(positions, problems)
    path: KeyPath = ("model",)
    if not isinstance(raw, dict):
        parser.problem(path, "bad model section", expected="a mapping with 'layers'", received=raw)
        return None
    for key in raw:
        if key not in MODEL_KEYS:
            hint = did_you_mean(key, list(MODEL_KEYS)) or "allowed: " + ", ".join(MODEL_KEYS)
            parser.problem((*path, key), f"unknown key {key!r}", key=True, hint=hint)
    input_shape = parse_input(raw.get("input"), (*path, "input"), problems, positions)
    blocks = parse_blocks(parser, raw.get("blocks"), (*path, "blocks"))
    raw_layers = raw.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        parser.problem(
            (*path, "layers") if "layers" in raw else path,
            "the model needs a non-empty list of layers" if "layers" in raw else "missing 'layers'",
            expected="model.layers: a list of layer entries",
            **({"received": raw_layers} if "layers" in raw else {}),
        )
        return None
    items: list[_Entry | _BlockUse] = []
    tolerated: set[str] = set()  # names of entries that failed: don't report them as unknown
    for i, raw_entry in enumerate(raw_layers):
        item = parser.entry(raw_entry, (*path, "layers", i), blocks=set(blocks))
        if item is None:
            tolerated |= _raw_name(raw_entry)
        else:
            items.append(item)
        if isinstance(item, _Entry) and next(scan(raw_entry, item.path), None) is not None:
            parser.problem(
                item.path,
                "'${...}' is substituted only inside a block's layers (model.blocks)",
                hint="give the value here, or make these layers a block with `params:`",
            )
    placed = _expand(items, blocks, parser)
    if placed is None:
        return None
    _name_model_layers(placed, parser)
    layers = _wire(placed, parser, tolerated, positions, input_names(raw.get("inputs")))
    if len(problems) > before:
        return None
    return input_shape, layers


def _raw_name(raw: Any) -> set[str]:
    if isinstance(raw, dict) and len(raw) == 1:
        value = next(iter(raw.values()))
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            return {value["name"]}
    return set()


def _expand(
    items: list[_Entry | _BlockUse],
    blocks: dict[str, BlockDef | None],
    parser: LayerParser,
) -> list[_Placed] | None:
    total = 0
    for item in items:
        defn = blocks.get(item.block) if isinstance(item, _BlockUse) else None
        total += defn.size * item.repeat if isinstance(item, _BlockUse) and defn else 1
        if total > MAX_LAYERS:
            parser.problem(
                item.path,
                f"the model expands to more than {MAX_LAYERS:,} layers",
                hint="lower `repeat` or split the model",
            )
            return None
    placed: list[_Placed] = []
    counters: dict[str, int] = {}
    prefixes: dict[str, KeyPath] = {}
    broken = False
    for item in items:
        if isinstance(item, _Entry):
            placed.append(_Placed(item, None))
            continue
        defn = blocks.get(item.block)
        body = instantiate(parser, defn, item) if defn is not None else None
        if defn is None or body is None:
            broken = True  # its definition (or this use) was already reported
            continue
        local = defn.local
        origin = None
        if defn.params is not None:
            origin = f"block use {format_path(item.path)} at {where_text(parser, item.path)}"
        for r in range(1, item.repeat + 1):
            counters[item.block] = counters.get(item.block, 0) + 1
            if item.name:
                prefix = item.name if item.repeat == 1 else f"{item.name}_{r}"
            else:
                prefix = f"{item.block}_{counters[item.block]}"
            if prefix in prefixes:
                parser.problem(
                    (*item.path, item.block),
                    f"block instance name {prefix!r} is used twice "
                    f"(first at {format_path(prefixes[prefix])})",
                    hint="give this block entry another `name:`",
                )
                broken = True
            prefixes[prefix] = item.path
            instance = _Instance(prefix, item.block, item.path, local, origin)
            for entry, name in zip(body, local, strict=True):
                placed.append(_Placed(entry, instance, local=name, full=f"{prefix}_{name}"))
    return None if broken else placed


def _name_model_layers(placed: list[_Placed], parser: LayerParser) -> None:
    """Final names: block layers are ``prefix_local``; model-level ones given or generated."""
    taken: dict[str, KeyPath] = {}
    prefixes = {p.instance.prefix for p in placed if p.instance}
    for p in placed:
        name = p.full if p.instance else p.entry.name
        if not name:
            continue
        where = p.entry.path if not p.instance else p.instance.path
        if name in taken or name in prefixes:
            first = format_path(taken[name]) if name in taken else "a block instance"
            parser.problem(
                (*p.entry.path, p.entry.type, "name") if not p.instance else where,
                f"duplicate layer name {name!r} (also used by {first})",
                hint="layer names must be unique",
            )
        taken.setdefault(name, where)
        if not p.instance:
            p.full = p.local = name
    counts: dict[str, int] = {}
    for p in placed:
        if p.full:
            continue
        info_base = snake_case(_class_name(p.entry.type))
        while True:
            n = counts.get(info_base, 0)
            counts[info_base] = n + 1
            candidate = info_base if n == 0 else f"{info_base}_{n}"
            if candidate not in taken and candidate not in prefixes:
                break
        taken[candidate] = p.entry.path
        p.full = p.local = candidate


def _class_name(layer_type: str) -> str:
    from dlcli.recipe import catalog

    info = catalog.get_layer(layer_type)
    return info.class_name if info else layer_type


def _wire(
    placed: list[_Placed],
    parser: LayerParser,
    tolerated: set[str],
    positions: Positions,
    model_inputs: tuple[str, ...] = (INPUT,),
) -> list[LayerSpec]:
    """Resolve every reference to an earlier layer's final name (or a model input's:
    ``model_inputs``, the first one feeding a first layer that names none)."""
    all_names = {p.full: p for p in placed}
    earlier: set[str] = set(model_inputs)
    outputs: dict[str, str] = {}  # finished block instance prefix -> its last layer
    layers: list[LayerSpec] = []
    previous = model_inputs[0]
    block_input = previous
    local_seen: dict[str, str] = {}
    for i, p in enumerate(placed):
        inst = p.instance
        if inst and (i == 0 or placed[i - 1].instance is not inst):
            block_input, local_seen = previous, {}
        refs = p.entry.inputs
        ipath = (*p.entry.path, p.entry.type, "inputs")
        if refs is None:
            inputs = [previous]
        elif inst:  # local names: checked once per block definition (blocks._refs_ok)
            inputs = []
            for j, ref in enumerate(refs):
                origin = p.entry.outer.get(j)
                if ref == BLOCK_INPUT:
                    inputs.append(block_input)
                elif origin is None:
                    inputs.append(local_seen[ref])
                else:  # a parameter named a layer outside the block
                    found: list[Problem] = []
                    outside = LayerParser(positions, found)
                    args = (earlier, outputs, all_names, tolerated, outside, origin.path)
                    inputs.append(_resolve(ref, p, *args) or INPUT)
                    for problem in found:
                        hint = f"{problem.hint}; " if problem.hint else ""
                        parser.problems.append(replace(problem, hint=hint + origin.note))
        else:
            inputs = []
            for j, ref in enumerate(refs):
                rpath = ipath if len(refs) == 1 else (*ipath, j)
                resolved = _resolve(ref, p, earlier, outputs, all_names, tolerated, parser, rpath)
                inputs.append(resolved or INPUT)
        layers.append(
            LayerSpec(
                type=p.entry.type,
                args=p.entry.args,
                name=p.full,
                inputs=inputs,
                call=p.entry.call,
                where=_where(positions, p.entry.path, inst.origin if inst else None),
            )
        )
        earlier.add(p.full)
        if inst:
            local_seen[p.local] = p.full
            if i + 1 == len(placed) or placed[i + 1].instance is not inst:
                outputs[inst.prefix] = p.full
        previous = p.full
    return layers


def _resolve(
    ref: str,
    p: _Placed,
    earlier: set[str],
    outputs: dict[str, str],
    all_names: dict[str, _Placed],
    tolerated: set[str],
    parser: LayerParser,
    rpath: KeyPath,
) -> str | None:
    if ref in earlier:
        return ref
    if ref in outputs:
        return outputs[ref]
    if ref in tolerated:
        return None
    if ref == BLOCK_INPUT:
        parser.problem(rpath, "'block_input' can only be used inside a block (model.blocks)")
    elif ref == p.full:
        parser.problem(rpath, f"layer {ref!r} cannot take its own output as input")
    elif ref in all_names:
        later = format_path(all_names[ref].entry.path)
        parser.problem(
            rpath,
            f"forward reference to {ref!r} (defined later, at {later}); "
            "a layer may only use earlier layers",
        )
    else:
        hint = did_you_mean(ref, [*earlier, *outputs])
        parser.problem(rpath, f"unknown input {ref!r}", hint=hint or "name an earlier layer")
    return None


def input_names(raw: Any) -> tuple[str, ...]:
    """The names layers may use for model inputs: ``model.inputs``' keys, else ``input``
    (``model.inputs`` itself is checked by :mod:`dlcli.recipe.model_inputs`)."""
    if isinstance(raw, dict) and raw and all(isinstance(k, str) for k in raw):
        return tuple(raw)
    return (INPUT,)


def parse_augment(raw: Any, positions: Positions, problems: list[Problem]) -> list[LayerSpec]:
    """``data.augment``: layer entries applied one after another (no blocks, no inputs)."""
    path: KeyPath = ("data", "augment")
    parser = LayerParser(positions, problems)
    if raw is None:
        return []
    if not isinstance(raw, list):
        parser.problem(path, "bad augment", expected="a list of layer entries", received=raw)
        return []
    entries = []
    for i, raw_entry in enumerate(raw):
        entry = parser.entry(raw_entry, (*path, i), allow_inputs=False)
        if isinstance(entry, _Entry):
            entries.append(entry)
    if len(entries) != len(raw):
        return []
    names = local_names(entries)
    if len(set(names)) != len(names):
        parser.problem(path, "augmentation layer names must be unique", received=names)
        return []
    return [
        LayerSpec(
            type=e.type,
            args=e.args,
            name=name,
            inputs=[INPUT if i == 0 else names[i - 1]],
            call=e.call,
            where=_where(positions, e.path),
        )
        for i, (e, name) in enumerate(zip(entries, names, strict=True))
    ]
