"""Layer entries -> resolved :class:`LayerSpec` lists: shorthands, blocks, names, graph checks.

A layer entry is ``LayerName``, ``{LayerName: scalar}`` (the first constructor argument),
``{LayerName: null}`` or ``{LayerName: {args..., name:, inputs:}}``. In ``model.layers`` an
entry may instead use a block from ``model.blocks`` (``- res`` or ``- res: {repeat: 2}``),
which is expanded inline. Every layer ends up with a unique name and explicit inputs that
name only earlier layers, so a recipe graph can never contain a cycle.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from dlcli.errors import Problem
from dlcli.recipe import backbones, catalog
from dlcli.recipe.layer_options import parse_call, parse_nested
from dlcli.recipe.spec import INPUT
from dlcli.recipe.yamlread import KeyPath, Positions, make_problem

BLOCK_INPUT = "block_input"
RESERVED = (INPUT, BLOCK_INPUT)
BLOCK_ARGS = ("repeat", "name")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def snake_case(class_name: str) -> str:
    """Keras' automatic layer-name base: ``MaxPooling2D`` -> ``max_pooling2d``."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _close(word: str, candidates: Any) -> list[str]:
    return difflib.get_close_matches(word, sorted(candidates), n=3, cutoff=0.6)


def did_you_mean(word: str, candidates: list[str] | set[str]) -> str | None:
    close = _close(word, candidates)
    return f"did you mean {' or '.join(repr(c) for c in close)}?" if close else None


@dataclass
class _Entry:
    type: str
    args: dict[str, Any]
    name: str | None
    inputs: list[str] | None
    path: KeyPath  # the entry, e.g. ("model", "layers", 3)
    call: dict[str, Any] = field(default_factory=dict)  # ``call:`` options (layer_options)
    # inputs (by index) that a block parameter named: layers outside the block
    outer: dict[int, Origin] = field(default_factory=dict)


@dataclass(frozen=True)
class Origin:
    """Where a block parameter's value came from: the use's path, and where it went."""

    path: KeyPath
    note: str


@dataclass
class _BlockUse:
    block: str
    repeat: int
    name: str | None
    path: KeyPath
    values: dict[str, Any] = field(default_factory=dict)  # parameters given at the use


@dataclass
class _Instance:
    prefix: str
    block: str
    path: KeyPath
    local_names: list[str] = field(default_factory=list)
    origin: str | None = None  # a parameterised block's use: "block use ... at file:l:c"


@dataclass
class _Placed:
    entry: _Entry
    instance: _Instance | None
    local: str = ""
    full: str = ""


class LayerParser:
    """Parses layer entries, collecting every problem instead of stopping at the first."""

    def __init__(self, positions: Positions, problems: list[Problem]) -> None:
        self.positions = positions
        self.problems = problems

    def problem(self, path: KeyPath, message: str, **kw: Any) -> None:
        self.problems.append(make_problem(self.positions, path, message, **kw))

    # ----- single entries -------------------------------------------------------------
    def entry(
        self,
        raw: Any,
        path: KeyPath,
        *,
        blocks: set[str] | frozenset[str] = frozenset(),
        allow_inputs: bool = True,
        other_blocks: set[str] | frozenset[str] = frozenset(),
    ) -> _Entry | _BlockUse | None:
        if isinstance(raw, str):
            key, value = raw, None
        elif isinstance(raw, dict) and len(raw) == 1:
            key, value = next(iter(raw.items()))
        elif isinstance(raw, dict) and raw:
            keys = list(raw)
            self.problem(
                path,
                f"a layer entry has one key, the layer name; received keys {keys}",
                expected="{LayerName: {arg: value, ...}}",
                hint=f"indent the arguments of {keys[0]!r} under it, further than its name",
            )
            return None
        else:
            self.problem(
                path, "bad layer entry", expected="LayerName or {LayerName: args}", received=raw
            )
            return None
        if key in blocks:
            return self._block_use(key, value, path)
        if key in other_blocks:
            self.problem(
                path,
                f"block {key!r} used inside a block; blocks cannot use other blocks",
                hint="list its layers here, or use both blocks one after another in model.layers",
            )
            return None
        if backbones.is_backbone_entry(key):
            return backbones.backbone_entry(self, value, (*path, key), allow_inputs)
        info = catalog.get_layer(key)
        if info is None:
            return self._unknown_layer(key, path, blocks)
        args_path = (*path, key)
        if value is None:
            args: dict[str, Any] = {}
        elif isinstance(value, dict):
            args = dict(value)
        elif info.first_arg is None:
            self.problem(
                args_path,
                f"{key} takes no positional argument, so a bare value cannot be given",
                received=value,
                hint=f"write `- {key}` or `- {key}: {{argument: value}}`",
            )
            return None
        else:
            args = {info.first_arg: value}
        name = self._name(args.pop("name", None), (*args_path, "name"))
        inputs = None
        if "inputs" in args:
            raw_inputs = args.pop("inputs")
            if not allow_inputs:
                self.problem(
                    (*args_path, "inputs"),
                    "augmentation layers run one after another; 'inputs' is not allowed here",
                )
            else:
                inputs = self._inputs(raw_inputs, (*args_path, "inputs"))
        call: dict[str, Any] | None = {}
        if "call" in args:
            call = parse_call(self, info, args.pop("call"), (*args_path, "call"))
        ok = name is not False and inputs is not False and call is not None
        if info.layer_args and not parse_nested(self, info, args, args_path):
            ok = False
        if ok and allow_inputs:  # reported, but the entry is still wired (more problems)
            self._check_input_count(info, inputs, args_path)
        for arg in args:
            if arg not in info.args:
                hint = did_you_mean(arg, list(info.args))
                if arg == "repeat":
                    hint = "`repeat` applies to blocks (model.blocks), not to single layers"
                self.problem(
                    (*args_path, arg),
                    f"unknown argument {arg!r} for {key}",
                    key=True,
                    hint=hint or f"see `dlcli layers {key}` for its arguments",
                )
                ok = False
        for arg, given in args.items():
            # Python (and Keras' checks) take True as 1: `Dense: {units: true}` would build
            # a 1-unit layer and `Dropout: true` drop everything. Numbers must be numbers.
            arg_info = info.args.get(arg)
            if arg_info is None or not isinstance(given, bool):
                continue
            default = arg_info.default
            numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
            if numeric or arg_info.required:
                self.problem(
                    (*args_path, arg) if isinstance(value, dict) else args_path,
                    f"{key} argument {arg!r} is not a true/false switch",
                    expected="a number" if numeric else None,
                    received=given,
                    hint=f"see `dlcli layers {key}`",
                )
                ok = False
        misspelt = {m for arg in args if arg not in info.args for m in _close(arg, info.args)}
        missing = [
            a for a in info.required_args if a not in args and a != "name" and a not in misspelt
        ]
        for arg in missing:
            self.problem(
                args_path,
                f"{key} needs the argument {arg!r}",
                hint=f"e.g. `- {key}: {{{arg}: ...}}`",
            )
            ok = False
        for arg in [a for a in info.required_args if a in args and args[a] is None]:
            self.problem(
                (*args_path, arg) if isinstance(value, dict) else args_path,
                f"{key} argument {arg!r} is required and cannot be null",
                hint=f"see `dlcli layers {key}`",
            )
            ok = False
        if not ok:
            return None
        return _Entry(key, args, name or None, inputs or None, path, call or {})

    def _check_input_count(
        self, info: catalog.LayerInfo, inputs: list[str] | None, args_path: KeyPath
    ) -> None:
        """As many inputs as the layer's ``call`` takes (see LayerInfo.input_count_problem)."""
        count = len(inputs) if inputs else 1
        why = info.input_count_problem(count)
        if why is not None:
            hint = info.input_count_hint(count)
            self.problem((*args_path, "inputs") if inputs else args_path, why, hint=hint)

    def _unknown_layer(self, key: Any, path: KeyPath, blocks: set[str]) -> None:
        if not isinstance(key, str):
            self.problem(path, "bad layer entry", expected="a layer name", received=key)
            return None
        excluded = catalog.excluded().get(key)
        if excluded:
            self.problem(path, f"layer {key!r} cannot be used in a recipe: {excluded}")
            return None
        suggestions = catalog.suggest(key)
        close_blocks = difflib.get_close_matches(key, sorted(blocks), n=2, cutoff=0.6)
        names = suggestions + close_blocks
        hint = (
            f"did you mean {' or '.join(repr(n) for n in names)}?"
            if names
            else "`dlcli layers` lists the layer names"
        )
        self.problem(path, f"unknown layer {key!r}", hint=hint)
        return None

    def _name(self, raw: Any, path: KeyPath) -> str | bool | None:
        if raw is None:
            return None
        if not isinstance(raw, str) or not _NAME_RE.match(raw):
            self.problem(
                path,
                "bad layer name",
                expected="letters, digits, '_', '.', '-' (no '/')",
                received=raw,
            )
            return False
        if raw in RESERVED:
            self.problem(path, f"{raw!r} is reserved and cannot name a layer")
            return False
        return raw

    def _inputs(self, raw: Any, path: KeyPath) -> list[str] | bool:
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
            self.problem(
                path, "bad inputs", expected="a layer name or a list of layer names", received=raw
            )
            return False
        return list(items)

    def _block_use(self, block: str, value: Any, path: KeyPath) -> _BlockUse | None:
        """``repeat`` and ``name`` here; parameter values are checked against the block
        (``block_uses.instantiate``)."""
        args_path = (*path, block)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.problem(
                args_path,
                "bad block entry",
                expected="{repeat: N, name: prefix, parameter: value, ...}",
                received=value,
            )
            return None
        ok = True
        repeat = value.get("repeat", 1)
        if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= 1000:
            self.problem(
                (*args_path, "repeat"), "bad repeat", expected="an integer >= 1", received=repeat
            )
            ok = False
        name = self._name(value.get("name"), (*args_path, "name"))
        if not ok or name is False:
            return None
        values = {k: v for k, v in value.items() if k not in BLOCK_ARGS}
        return _BlockUse(block, repeat, name or None, path, values)


def local_names(entries: list[_Entry]) -> list[str]:
    """Names inside one scope: given ones, the rest generated Keras-style around them."""
    taken = {e.name for e in entries if e.name}
    counts: dict[str, int] = {}
    names = []
    for entry in entries:
        if entry.name:
            names.append(entry.name)
            continue
        info = catalog.get_layer(entry.type)
        base = snake_case(info.class_name if info else entry.type)
        while True:
            n = counts.get(base, 0)
            counts[base] = n + 1
            candidate = base if n == 0 else f"{base}_{n}"
            if candidate not in taken:
                break
        taken.add(candidate)
        names.append(candidate)
    return names
