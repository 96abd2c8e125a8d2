"""Block parameters: ``params:`` declarations and ``${name}`` substitution (text only).

A parameterised block is ``{params: ..., layers: [...]}``. ``params`` is a mapping of name
-> default, or a list whose items are a bare name (required: every use must give it) or
``{name: default}``. Inside the block's layers, a value that is exactly ``${name}`` becomes
the parameter's value with its type (a number, a list, a mapping, a layer name...); a
``${name}`` inside a longer text is replaced by the value's text. Nothing is evaluated:
``${a * 2}`` is an error, not arithmetic. Layer types, mapping keys and layer names cannot
use parameters (a block's shape is fixed where it is defined).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dlcli.recipe.yamlread import KeyPath

PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_PARAMS = ("repeat", "name")  # what every block entry takes besides parameters
REQUIRED: Any = object()  # the default of a parameter every use must give


@dataclass(frozen=True)
class Param:
    name: str
    default: Any  # REQUIRED when the use must give it
    path: KeyPath  # where it is declared (its key in ``params``, or its list item)
    key: bool  # ``path`` names a mapping key (its position is the key's)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Ref:
    """One ``${...}`` found in a block's layers (``name`` is what is between the braces)."""

    name: str
    path: KeyPath
    whole: bool  # the value is exactly ``${name}``


@dataclass(frozen=True)
class BadSpot:
    """A place in a block's layers that cannot hold ``${...}`` or holds a malformed one."""

    path: KeyPath
    why: str
    key: bool = False
    received: Any = None


def refs_in_text(text: str) -> list[str] | None:
    """The names in ``${...}`` of ``text`` (no check of the names); None if a ``${`` is
    never closed or holds nested braces."""
    names = []
    at = text.find("${")
    while at >= 0:
        end = text.find("}", at + 2)
        inner = text[at + 2 : end] if end >= 0 else None
        if inner is None or "{" in inner:
            return None
        names.append(inner)
        at = text.find("${", end + 1)
    return names


def scan(value: Any, path: KeyPath) -> Iterator[Ref | BadSpot]:
    """Every ``${...}`` in the values under ``value``; keys holding one are BadSpots."""
    if isinstance(value, dict):
        for key, sub in value.items():
            if isinstance(key, str) and "${" in key:
                yield BadSpot((*path, key), "a mapping key cannot use a parameter", key=True)
            yield from scan(sub, (*path, key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from scan(sub, (*path, i))
    elif isinstance(value, str) and "${" in value:
        names = refs_in_text(value)
        if names is None:
            yield BadSpot(path, "bad parameter reference", received=value)
            return
        whole = len(names) == 1 and value == "${" + names[0] + "}"
        for name in names:
            if not PARAM_NAME.match(name):
                yield BadSpot(path, f"bad parameter reference '${{{name}}}'", received=value)
            else:
                yield Ref(name, path, whole)


@dataclass
class Substituted:
    """A block's layers with one use's values in place, and where each value went."""

    value: Any
    # path in the block's layers -> the parameters whose values are there
    sources: dict[KeyPath, list[str]]
    # (path, parameter, why): a value that cannot be written into text there
    bad_text: list[tuple[KeyPath, str, str]]


def substitute(value: Any, values: dict[str, Any], path: KeyPath) -> Substituted:
    """``value`` with every ``${name}`` replaced from ``values`` (all names must be there)."""
    out = Substituted(None, {}, [])
    out.value = _walk(value, values, path, out)
    return out


def _walk(value: Any, values: dict[str, Any], path: KeyPath, out: Substituted) -> Any:
    if isinstance(value, dict):
        return {k: _walk(v, values, (*path, k), out) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, values, (*path, i), out) for i, v in enumerate(value)]
    if not (isinstance(value, str) and "${" in value):
        return value
    names = refs_in_text(value) or []
    out.sources[path] = list(dict.fromkeys(names))
    if len(names) == 1 and value == "${" + names[0] + "}":
        return copy.deepcopy(values[names[0]])
    text = value
    for name in dict.fromkeys(names):
        given = values[name]
        if isinstance(given, bool) or not isinstance(given, (str, int, float)):
            why = f"'${{{name}}}' is inside a text here, so its value must be text or a number"
            out.bad_text.append((path, name, why))
            continue
        text = text.replace("${" + name + "}", str(given))
    return text


def covers(field: str | None, sources: dict[str, list[str]]) -> list[str] | None:
    """The parameters behind a problem's field path (the longest substituted path that is
    the field or contains it); None when no substituted value is there."""
    if not field:
        return None
    best: tuple[int, list[str]] | None = None
    for spot, names in sources.items():
        inside = field == spot or field.startswith((spot + ".", spot + "["))
        if inside and (best is None or len(spot) > best[0]):
            best = (len(spot), names)
    return best[1] if best else None


def blame(field: str | None, sources: dict[str, list[str]]) -> list[str]:
    """The parameters whose values a problem at ``field`` is about: those substituted at
    or above it, else those substituted inside it (``inputs: [a, ${skip}]``)."""
    above = covers(field, sources)
    if above is not None or not field:
        return above or []
    inner = [
        name
        for spot, names in sources.items()
        if spot.startswith((field + ".", field + "["))
        for name in names
    ]
    return list(dict.fromkeys(inner))
