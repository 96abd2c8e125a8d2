"""Read recipe YAML safely into plain Python values, remembering where every value came from.

The reader composes YAML nodes itself (on libyaml's event parser when available) so it can
refuse what a recipe never needs and what makes YAML dangerous: anchors and aliases (a
"billion laughs" file fails at its first anchor), non-standard tags, merge keys, duplicate
keys, deep nesting, tabs in indentation, binary or non-UTF-8 bytes and oversized files.
Every mapping key and value and every sequence item gets a 1-based (line, column) in a
:class:`Positions` table keyed by its path, e.g. ``("model", "layers", 3, "Conv2D")``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from dlcli.errors import Problem, RecipeError

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 50

try:  # libyaml's parser is ~10x faster; the composer stays ours either way
    from yaml.cyaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


KeyPath = tuple[str | int, ...]
Pos = tuple[int, int]

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("null", "bool", "int", "float", "str")}


@dataclass
class Positions:
    """Where each value (and each mapping key) of a document sits in its source."""

    file: str | None = None
    values: dict[KeyPath, Pos] = field(default_factory=dict)
    keys: dict[KeyPath, Pos] = field(default_factory=dict)
    # paths whose value came from an override instead of the file: path -> "--set a.b=1"
    overridden: dict[KeyPath, str] = field(default_factory=dict)

    def locate(self, path: KeyPath, *, key: bool = False) -> tuple[Pos | None, str | None]:
        """The position of ``path`` (or its nearest recorded parent) and its override label."""
        for n in range(len(path), -1, -1):
            sub = path[:n]
            if sub in self.overridden:
                return None, self.overridden[sub]
        for n in range(len(path), -1, -1):
            sub = path[:n]
            if key and n == len(path) and sub in self.keys:
                return self.keys[sub], None
            if sub in self.values:
                return self.values[sub], None
        return None, None

    def forget(self, path: KeyPath) -> None:
        """Drop every record at or below ``path`` (it is about to be replaced)."""
        n = len(path)
        for table in (self.values, self.keys, self.overridden):
            for p in [p for p in table if p[:n] == path]:
                del table[p]


def format_path(path: KeyPath) -> str:
    """``("model", "layers", 3, "Conv2D")`` -> ``model.layers[3].Conv2D``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def make_problem(
    positions: Positions,
    path: KeyPath,
    message: str,
    *,
    key: bool = False,
    expected: str | None = None,
    received: Any = ...,
    hint: str | None = None,
) -> Problem:
    """A Problem pointing at ``path``: file:line:col from the file, or the override's text."""
    pos, override = positions.locate(path, key=key)
    if override is not None:
        hint = f"{hint}; " if hint else ""
        hint += f"set by {override}"
    return Problem(
        message=message,
        file=positions.file if override is None else None,
        line=pos[0] if pos else None,
        column=pos[1] if pos else None,
        field=format_path(path) or None,
        expected=expected,
        received=None if received is ... else received,
        has_received=received is not ...,
        hint=hint,
    )


class _Loader(Composer, _Parser, SafeConstructor, Resolver):  # type: ignore[misc]
    """Composes nodes from parser events, refusing anchors/aliases and deep nesting."""

    def __init__(self, text: str) -> None:
        _Parser.__init__(self, text)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, AliasEvent) or (
            isinstance(event, (ScalarEvent, CollectionStartEvent)) and event.anchor is not None
        ):
            raise _Refused(
                "YAML anchors (&) and aliases (*) are not allowed in recipes",
                event.start_mark,
                "write the value out in full",
            )
        if isinstance(event, CollectionStartEvent):
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise _Refused(
                    f"the recipe nests deeper than {MAX_DEPTH} levels", event.start_mark, None
                )
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1
        return super().compose_node(parent, index)


# YAML 1.1 (PyYAML) reads `1e-3` as text; recipes mean the number (as YAML 1.2 does).
_Loader.add_implicit_resolver(
    _TAG + "float",
    re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


class _Refused(Exception):
    def __init__(self, message: str, mark: Any, hint: str | None) -> None:
        super().__init__(message)
        self.message, self.mark, self.hint = message, mark, hint


def _line_col(text: str, offset: int) -> Pos:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _fail(source: str | None, message: str, pos: Pos | None = None, **kw: Any) -> RecipeError:
    return RecipeError(
        message, file=source, line=pos[0] if pos else None, column=pos[1] if pos else None, **kw
    )


def _too_large(source: str | None, size: int) -> RecipeError:
    return _fail(
        source,
        f"the recipe is too large ({size:,} bytes; the limit is {MAX_BYTES:,})",
        hint="a recipe is a short text file; is this the right file?",
    )


def decode_recipe_bytes(data: bytes, source: str | None) -> str:
    """Bytes -> text, refusing oversized, binary and non-UTF-8 input."""
    if len(data) > MAX_BYTES:
        raise _too_large(source, len(data))
    nul = data.find(b"\x00")
    if nul >= 0:
        pos = _line_col(data[:nul].decode("utf-8", "replace"), nul)
        raise _fail(source, "the recipe is a binary file (it contains NUL bytes)", pos)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        head = data[: exc.start].decode("utf-8", "replace")
        raise _fail(
            source,
            "the recipe is not valid UTF-8 text",
            _line_col(head, len(head)),
            received=data[exc.start : exc.start + 4],
        ) from None
    return text.removeprefix("\ufeff")


def read_yaml_text(text: str, source: str | None) -> tuple[Any, Positions]:
    """Parse one YAML document into plain values plus their positions."""
    size = len(text.encode("utf-8", "replace"))
    if size > MAX_BYTES:
        raise _too_large(source, size)
    _check_tabs(text, source)
    positions = Positions(file=source)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except _Refused as exc:
        raise _fail(source, exc.message, _mark(exc.mark), hint=exc.hint) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context and "document" in exc.context:
            what = f"{exc.context}, {exc.problem}"
        raise _fail(
            source, f"YAML syntax error: {what}", _mark(mark), hint=_syntax_hint(text, mark)
        ) from None
    except yaml.reader.ReaderError as exc:
        pos = _line_col(text, exc.position) if isinstance(exc.position, int) else None
        char = exc.character
        code = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        raise _fail(source, f"control character {code} is not allowed in a recipe", pos) from None
    except yaml.YAMLError as exc:
        raise _fail(source, f"YAML error: {exc}") from None
    finally:
        loader.dispose()
    if node is None:
        return None, positions
    return _Builder(loader, positions).build(node, ()), positions


def _syntax_hint(text: str, mark: Any) -> str | None:
    """A block parameter ``${x}`` unquoted inside ``[...]``/``{...}`` is the likely cause."""
    lines = text.splitlines()
    if mark is None or not 0 <= mark.line < len(lines) or "${" not in lines[mark.line]:
        return None
    return 'inside [...] or {...}, quote a block parameter: {filters: "${filters}"}'


def _mark(mark: Any) -> Pos | None:
    return None if mark is None else (mark.line + 1, mark.column + 1)


def _check_tabs(text: str, source: str | None) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent and line.strip() and not line.lstrip(" \t").startswith("#"):
            raise _fail(
                source,
                "tab character in indentation",
                (number, indent.index("\t") + 1),
                hint="YAML indents with spaces only",
            )


class _Builder:
    """Turns composed nodes into dicts/lists/scalars, recording positions by path."""

    def __init__(self, loader: _Loader, positions: Positions) -> None:
        self.loader, self.positions = loader, positions

    def _error(self, node: Node, message: str, hint: str | None = None) -> RecipeError:
        return _fail(self.positions.file, message, _mark(node.start_mark), hint=hint)

    def build(self, node: Node, path: KeyPath) -> Any:
        self.positions.values[path] = _mark(node.start_mark)  # type: ignore[assignment]
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        if isinstance(node, SequenceNode):
            if node.tag != _TAG + "seq":
                raise self._error(node, f"unsupported YAML tag {node.tag!r}")
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            if node.tag != _TAG + "map":
                raise self._error(node, f"unsupported YAML tag {node.tag!r}")
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _TAG + "merge":
                    raise self._error(key_node, "YAML merge keys (<<) are not allowed in recipes")
                if not isinstance(key_node, ScalarNode):
                    raise self._error(key_node, "mapping keys must be plain names")
                key = self._scalar(key_node)
                if not isinstance(key, str):
                    raise self._error(
                        key_node,
                        f"mapping keys must be names (strings); received {key!r}",
                        hint="quote the key if it is meant as text",
                    )
                sub = (*path, key)
                if key in result:
                    first = self.positions.keys[sub]
                    raise self._error(
                        key_node,
                        f"duplicate key {key!r} (first at line {first[0]}, column {first[1]})",
                    )
                self.positions.keys[sub] = _mark(key_node.start_mark)  # type: ignore[assignment]
                result[key] = self.build(value_node, sub)
            return result
        raise self._error(node, "unsupported YAML node")  # pragma: no cover

    def _scalar(self, node: ScalarNode) -> Any:
        if node.tag == _TAG + "timestamp":
            return node.value  # dates stay text: a recipe has no use for datetime objects
        if node.tag not in _SCALAR_TAGS:
            raise self._error(node, f"unsupported YAML tag {node.tag!r}")
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise self._error(node, f"bad YAML value: {exc}") from None


def read_yaml_file(path: Path) -> tuple[Any, Positions]:
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:  # refuse before reading it into memory
            raise _too_large(source, size)
        data = path.read_bytes()
    except FileNotFoundError:
        raise _fail(source, "recipe file not found") from None
    except IsADirectoryError:
        raise _fail(source, "the recipe path is a directory, not a file") from None
    except OSError as exc:
        raise _fail(source, f"cannot read the recipe: {exc.strerror or exc}") from None
    return read_yaml_text(decode_recipe_bytes(data, source), source)
