"""The layers a recipe may name, and their constructor arguments (no TensorFlow here).

Data comes from ``catalog.json`` (generated from Keras by ``python -m
dlcli.recipe.gen_catalog``; see that module for what is excluded and why), read once on
first use. ``dlcli layers`` and recipe validation run on this alone, so neither pays for
importing TensorFlow.

Each layer's ``args`` holds its own constructor arguments (``kind`` ``"positional"`` or
``"keyword"``) and, when the constructor forwards ``**kwargs`` to ``keras.layers.Layer``,
the arguments every layer accepts there (``kind`` ``"common"``: ``name``, ``dtype``,
``trainable``, ``autocast``, ``activity_regularizer``). An argument not in ``args`` is
not accepted. ``default`` is the JSON value of the default; when the Python default has no
JSON form, ``default`` is None and ``default_repr`` holds its ``repr``.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

CATALOG_PATH = Path(__file__).with_name("catalog.json")
# Layer categories whose ``call`` takes its tensors as one list (Add, Concatenate, Attention).
LIST_INPUT_CATEGORIES = ("merging", "attention")


@dataclass(frozen=True)
class ArgInfo:
    name: str
    default: Any = None
    required: bool = False
    kind: str = "positional"  # positional | keyword | common
    default_repr: str | None = None

    @property
    def default_text(self) -> str:
        """How the default reads in a recipe (YAML-ish), for listings."""
        if self.required:
            return "required"
        if self.default_repr is not None:
            return self.default_repr
        return json.dumps(self.default)


@dataclass(frozen=True)
class LayerInfo:
    name: str
    args: dict[str, ArgInfo]
    first_arg: str | None
    accepts_kwargs: bool
    doc: str
    category: str = "other"
    alias_of: str | None = None  # canonical class name when ``name`` is an alias
    call_args: tuple[str, ...] = field(default=("inputs",))  # data tensors ``call`` takes
    required_call_args: int = 1
    layer_args: tuple[str, ...] = ()  # wrapper arguments that take a nested layer entry
    call_options: dict[str, Any] = field(default_factory=dict)  # ``call:`` keyword -> default
    module: str | None = None  # set for dlcli's own layers; None: ``keras.layers``

    @property
    def class_name(self) -> str:
        return self.alias_of or self.name

    @property
    def required_args(self) -> list[str]:
        return [a.name for a in self.args.values() if a.required]

    @property
    def multi_input_call(self) -> bool:
        """True when ``call`` takes several tensors as separate arguments (attention)."""
        return len(self.call_args) > 1

    def input_count_problem(self, count: int) -> str | None:
        """Why ``count`` inputs cannot be passed to this layer's ``call``, or None if they can.

        A layer whose ``call`` takes several tensors as separate arguments gets no more than
        those (``MultiHeadAttention``'s 4th would land in ``query_mask``) and no fewer than
        it needs; merging and attention layers take a list; every other layer takes one.
        """
        if self.multi_input_call:
            low, high = self.required_call_args, len(self.call_args)
            if low <= count <= high:
                return None
            wanted = f"{low} to {high}" if low < high else str(high)
            return (
                f"{self.class_name} takes {wanted} inputs ({', '.join(self.call_args)}); "
                f"received {count}"
            )
        if count <= 1 or self.category in LIST_INPUT_CATEGORIES:
            return None
        return f"{self.class_name} takes one input, received {count}"

    def input_count_hint(self, count: int) -> str:
        """The fix for :meth:`input_count_problem`."""
        if not self.multi_input_call:
            return "merge them first with Add or Concatenate"
        if count < self.required_call_args:
            same = ", ".join(["x"] * self.required_call_args)
            return f"to use one tensor for all of them (e.g. self-attention): inputs: [{same}]"
        return "more inputs would be passed on as masks; list only the data tensors"


@lru_cache(maxsize=1)
def _raw() -> dict[str, Any]:
    with open(CATALOG_PATH, encoding="utf-8") as fh:
        return json.load(fh)


def _arg(entry: dict[str, Any]) -> ArgInfo:
    return ArgInfo(
        name=entry["name"],
        default=entry.get("default"),
        required=bool(entry["required"]),
        kind=entry["kind"],
        default_repr=entry.get("default_repr"),
    )


@lru_cache(maxsize=1024)
def get_layer(name: str) -> LayerInfo | None:
    """The catalog entry for a layer class name (exact, case-sensitive), or None."""
    entry = _raw()["layers"].get(name)
    if entry is None:
        return None
    return LayerInfo(
        name=name,
        args={a["name"]: _arg(a) for a in entry["args"]},
        first_arg=entry["first_arg"],
        accepts_kwargs=bool(entry["accepts_kwargs"]),
        doc=entry["doc"],
        category=entry["category"],
        alias_of=entry["alias_of"],
        call_args=tuple(entry["call_args"]),
        required_call_args=int(entry["required_call_args"]),
        layer_args=tuple(entry.get("layer_args", ())),
        call_options=dict(entry.get("call_options", {})),
        module=entry.get("module"),
    )


def dlcli_layer_modules() -> dict[str, str]:
    """dlcli's own layer classes (registered as ``dlcli>Name``) and the module of each."""
    return {
        name: entry["module"] for name, entry in _raw()["layers"].items() if entry.get("module")
    }


def layer_names() -> list[str]:
    """Every usable layer name (aliases included), sorted."""
    return sorted(_raw()["layers"])


def common_args() -> dict[str, ArgInfo]:
    """Arguments every layer whose constructor takes ``**kwargs`` accepts."""
    return {a["name"]: _arg(a) for a in _raw()["common_args"]}


def excluded() -> dict[str, str]:
    """Keras layer names a recipe may not use, with the reason."""
    return dict(_raw()["excluded"])


def optimizer_args(name: str) -> tuple[str, ...] | None:
    """The constructor arguments of a recipe optimizer name (``adam``), or None if unknown."""
    entry = _raw().get("optimizers", {}).get(name)
    return None if entry is None else tuple(entry["args"])


def keras_version() -> str:
    return str(_raw()["keras_version"])


def suggest(name: str, n: int = 3) -> list[str]:
    """Up to ``n`` layer names close to ``name`` (case-insensitive), best first."""
    names = layer_names()
    by_lower: dict[str, str] = {}
    for candidate in names:
        by_lower.setdefault(candidate.lower(), candidate)
    exact = by_lower.get(name.lower())
    if exact is not None and exact != name:
        return [exact]
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.6)
    return [by_lower[c] for c in close]


def suggest_arg(layer: str, arg: str, n: int = 3) -> list[str]:
    """Up to ``n`` argument names of ``layer`` close to ``arg``."""
    info = get_layer(layer)
    if info is None:
        return []
    return difflib.get_close_matches(arg, list(info.args), n=n, cutoff=0.6)
