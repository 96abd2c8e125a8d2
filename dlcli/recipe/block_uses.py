"""One use of a block in ``model.layers`` -> the layer entries it stands for.

A plain block's entries are the same for every use. A parameterised block's layers are
written out again with the use's values (``block_params.substitute``) and checked like any
layer entry; a problem caused by a value is reported at the use, naming the place in the
block that received it (both ``file:line:col``), so a wrong value given at one of sixteen
uses points at that use.
"""

from __future__ import annotations

from typing import Any

from dlcli.errors import Problem
from dlcli.recipe.block_params import BadSpot, Ref, blame, scan, substitute
from dlcli.recipe.blocks import BlockDef, where_text
from dlcli.recipe.layers import BLOCK_ARGS, LayerParser, Origin, _BlockUse, _Entry, did_you_mean
from dlcli.recipe.yamlread import KeyPath, format_path, make_problem


def instantiate(parser: LayerParser, defn: BlockDef, use: _BlockUse) -> list[_Entry] | None:
    """The entries of ``defn`` for ``use``; None when the use has problems (reported)."""
    if defn.params is None:
        for key in use.values:
            parser.problem(
                (*use.path, use.block, key),
                f"unknown block argument {key!r}",
                key=True,
                expected="'repeat' or 'name'",
                hint=did_you_mean(key, list(BLOCK_ARGS))
                or f"block {use.block!r} takes no parameters (declare them with "
                f"`params:` at {where_text(parser, defn.path)})",
            )
        return None if use.values else defn.entries
    if not _values_ok(parser, defn, use):
        return None
    values = {n: use.values.get(n, p.default) for n, p in defn.params.items()}
    done = substitute(defn.raw_layers, values, defn.layers_path)
    sources = {format_path(path): names for path, names in done.sources.items()}
    ok = True
    for path, name, why in done.bad_text:
        _report_at_use(parser, defn, use, [name], path, why, received=values[name])
        ok = False
    found: list[Problem] = []
    quiet = LayerParser(parser.positions, found)
    entries: list[_Entry] = []
    for i, raw_entry in enumerate(done.value):
        entry = quiet.entry(raw_entry, (*defn.layers_path, i))
        if isinstance(entry, _Entry):
            entries.append(entry)
    # The block as written passed these checks, so each problem comes from a value.
    for problem in found:
        names = blame(problem.field, sources)
        parser.problems.append(_moved_to_use(parser, defn, use, names, problem))
    if found or not ok or len(entries) != defn.size:
        return None
    for entry in entries:
        _mark_outer_inputs(parser, defn, use, entry, sources)
    return entries


def _values_ok(parser: LayerParser, defn: BlockDef, use: _BlockUse) -> bool:
    params = defn.params or {}
    ok = True
    declared = where_text(parser, (*defn.path, "params"))
    for key, value in use.values.items():
        vpath = (*use.path, use.block, key)
        if key not in params:
            close = did_you_mean(key, [*params, *BLOCK_ARGS])
            parser.problem(
                vpath,
                f"unknown parameter {key!r} for block {use.block!r}",
                key=True,
                expected=f"one of its parameters ({', '.join(params) or 'none'}), "
                "'repeat' or 'name'",
                hint=f"{close + '; ' if close else ''}its parameters are declared at {declared}",
            )
            ok = False
        elif any(isinstance(s, (Ref, BadSpot)) for s in scan(value, vpath)):
            parser.problem(
                vpath,
                "a value given to a block cannot use '${...}': parameters are substituted "
                "only inside the block's layers",
                received=value,
            )
            ok = False
    for param in params.values():
        if param.required and param.name not in use.values:
            parser.problem(
                (*use.path, use.block),
                f"block {use.block!r} needs parameter {param.name!r} (it has no default)",
                hint=f"e.g. `- {use.block}: {{{param.name}: ...}}`; declared at "
                f"{where_text(parser, param.path)}",
            )
            ok = False
    return ok


def _use_path(use: _BlockUse, names: list[str]) -> KeyPath:
    """Where a value came from: the use's own value, else the use (the default was taken)."""
    given = [n for n in names if n in use.values]
    return (*use.path, use.block, given[0]) if given else (*use.path, use.block)


def _block_place(
    parser: LayerParser, defn: BlockDef, use: _BlockUse, names: list[str], place: str
) -> str:
    """``block 'b' puts ${x} into <field> at <file:line:col>`` (+ where a default is)."""
    refs = ", ".join(f"${{{n}}}" for n in names) or "this use's values"
    text = f"block {defn.name!r} puts {refs} into {place}"
    defaulted = [defn.params[n] for n in names if n not in use.values and defn.params]
    if defaulted:  # the use did not give it: the value to fix is the default
        where = where_text(parser, defaulted[0].path)
        text += f"; {defaulted[0].name!r} is its default, declared at {where}"
    return text


def _moved_to_use(
    parser: LayerParser, defn: BlockDef, use: _BlockUse, names: list[str], problem: Problem
) -> Problem:
    at = f"{problem.file}:{problem.line}:{problem.column}" if problem.line else problem.file
    place = f"{problem.field} at {at}" if at else str(problem.field)
    extra = _block_place(parser, defn, use, names, place)
    return make_problem(
        parser.positions,
        _use_path(use, names),
        problem.message,
        expected=problem.expected,
        received=problem.received if problem.has_received else ...,
        hint=f"{problem.hint}; {extra}" if problem.hint else extra,
    )


def _report_at_use(
    parser: LayerParser,
    defn: BlockDef,
    use: _BlockUse,
    names: list[str],
    path: KeyPath,
    why: str,
    received: Any,
) -> None:
    place = f"{format_path(path)} at {where_text(parser, path)}"
    parser.problem(
        _use_path(use, names),
        why,
        received=received,
        hint=_block_place(parser, defn, use, names, place),
    )


def _mark_outer_inputs(
    parser: LayerParser,
    defn: BlockDef,
    use: _BlockUse,
    entry: _Entry,
    sources: dict[str, list[str]],
) -> None:
    """Inputs that came from a parameter name layers outside the block (``graph._wire``)."""
    ipath = (*entry.path, entry.type, "inputs")
    whole = sources.get(format_path(ipath))
    for j in range(len(entry.inputs or [])):
        names = whole or sources.get(format_path((*ipath, j)))
        if names:
            spot = ipath if whole else (*ipath, j)
            place = f"{format_path(spot)} at {where_text(parser, spot)}"
            entry.outer[j] = Origin(
                _use_path(use, names), _block_place(parser, defn, use, names, place)
            )
