"""Where the boxes of ``inspect --graph`` go: groups, then columns, then positions.

A long model is not drawn as one tall column: its depth levels are packed into balanced
columns (``MAX_ROWS`` levels, or more for very deep models so the picture stays about as
tall as wide), breaking between groups where it can. Groups are the
instances of a recipe block (layers named ``<block>_<k>_<layer>``, e.g. ``residual_1_add``),
or, in a model without blocks, its stages: runs of layers that read the same spatial
size (a pooling layer closes the stage it reads from), then the head.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dlcli.viz.graph import GraphNode

MAX_ROWS = 10  # depth levels per column, at least (deeper models get taller columns)
ROW_ASPECT = 3.2 / 0.9  # a column's width over a row's height (graph.COLUMN_IN / ROW_IN)
_BLOCK = re.compile(r"^(?P<block>[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z][A-Za-z0-9]*)*?)_(?P<k>\d+)_")


@dataclass
class Group:
    label: str
    members: list[str] = field(default_factory=list)


@dataclass
class GraphLayout:
    positions: dict[str, tuple[float, float]]  # x (column units), y (0 at the top, down)
    columns: list[tuple[float, float]]  # each column's x range
    column_of: dict[str, int]
    rows: int  # levels in the tallest column
    width: float  # total width in column units
    groups: list[Group]


def _block_groups(nodes: Sequence[GraphNode]) -> list[Group]:
    """Consecutive layers named ``<block>_<k>_...`` with the same block and k."""
    groups: list[Group] = []
    current: tuple[str, str] | None = None
    for node in nodes:
        match = _BLOCK.match(node.name)
        key = (match["block"], match["k"]) if match else None
        if key is not None and key == current:
            groups[-1].members.append(node.name)
        elif key is not None:
            groups.append(Group(f"{key[0]} {key[1]}", [node.name]))
        current = key
    counts: dict[str, int] = {}
    for g in groups:
        block = g.label.rsplit(" ", 1)[0]
        counts[block] = counts.get(block, 0) + 1
    for g in groups:
        block, k = g.label.rsplit(" ", 1)
        g.label = f"{block} {k}/{counts[block]}" if counts[block] > 1 else block
    return [g for g in groups if len(g.members) > 1]


def _dims(shape: str) -> list[int | None]:
    first = shape.split("),")[0]
    return [None if d.strip() == "None" else int(d) for d in re.findall(r"None|\d+", first)]


def _spatial(shape: str) -> str | None:
    """``32x32`` for ``(None, 32, 32, 16)``, ``100`` for ``(None, 100, 8)``; None for vectors."""
    dims = _dims(shape)
    if len(dims) == 4:
        return "x".join("?" if d is None else str(d) for d in dims[1:3])
    if len(dims) == 3:
        return "?" if dims[1] is None else str(dims[1])
    return None


def _stage_groups(nodes: Sequence[GraphNode]) -> list[Group]:
    """Runs of layers by the spatial size they read (the input layer: its own), then the head."""
    by_name = {n.name: n for n in nodes}
    groups: list[Group] = []
    current: str | None = None
    for node in nodes:
        source = by_name[node.inputs[0]].output_shape if node.inputs else node.output_shape
        size = _spatial(source)
        # Flatten / global pooling read a map but give a vector: they start the head.
        key = size if size is not None and _spatial(node.output_shape) else "head"
        if key != current:
            groups.append(Group(key, []))
            current = key
        groups[-1].members.append(node.name)
    if sum(g.label != "head" for g in groups) < 2:
        return []  # one size all along: nothing to tell apart
    stage = 0
    for g in groups:
        if g.label != "head":
            stage += 1
            g.label = f"stage {stage}: {g.label}"
    return groups


def find_groups(nodes: Sequence[GraphNode]) -> list[Group]:
    return _block_groups(nodes) or _stage_groups(nodes)


def _segments(nodes: Sequence[GraphNode], groups: Sequence[Group], depth: int) -> list[list[int]]:
    """Depth levels cut where the group of a level's first layer changes."""
    group_of = {name: i for i, g in enumerate(groups) for name in g.members}
    first: dict[int, str] = {}
    for node in nodes:
        first.setdefault(node.depth, node.name)
    segments: list[list[int]] = []
    last: int | str | None = "start"
    for level in range(depth):
        key = group_of.get(first[level])
        if key != last:
            segments.append([])
        segments[-1].append(level)
        last = key
    return segments


def _pack(segments: list[list[int]], rows: int) -> list[list[int]]:
    """Segments into columns of at most ``rows`` levels; a longer segment is split."""
    columns: list[list[int]] = [[]]
    for segment in segments:
        for start in range(0, len(segment), rows):
            piece = segment[start : start + rows]
            if columns[-1] and len(columns[-1]) + len(piece) > rows:
                columns.append([])
            columns[-1].extend(piece)
    return columns


def layout_graph(nodes: Sequence[GraphNode]) -> GraphLayout:
    """Positions of every node, column by column (see the module docstring)."""
    depth = max(n.depth for n in nodes) + 1
    groups = find_groups(nodes)
    segments = _segments(nodes, groups, depth)
    rows = depth
    if depth > MAX_ROWS:  # balanced columns (27 levels: 3 of 9-10), a whole group in each
        # About as tall as wide: a row is ROW_ASPECT times shorter than a column is wide,
        # so ResNet-50's 170 levels make 7 columns of 25, not 17 of 10.
        limit = max(MAX_ROWS, math.ceil(math.sqrt(depth * ROW_ASPECT)))
        count = -(-depth // limit)
        fitting = [len(s) for s in segments if len(s) <= limit]
        rows = max(-(-depth // count), *fitting, 4)
    columns = _pack(segments, rows)
    level_column = {lvl: c for c, levels in enumerate(columns) for lvl in levels}
    level_row = {lvl: r for levels in columns for r, lvl in enumerate(levels)}
    per_level: dict[int, list[str]] = {}
    for node in nodes:
        per_level.setdefault(node.depth, []).append(node.name)
    widths = [max(len(per_level[lvl]) for lvl in levels) for levels in columns]
    starts = [float(sum(widths[:c])) for c in range(len(columns))]
    positions: dict[str, tuple[float, float]] = {}
    column_of: dict[str, int] = {}
    for lvl, names in per_level.items():
        c = level_column[lvl]
        offset = starts[c] + (widths[c] - len(names)) / 2
        for i, name in enumerate(names):
            positions[name] = (offset + i + 0.5, -float(level_row[lvl]))
            column_of[name] = c
    spans = [(starts[c], starts[c] + widths[c]) for c in range(len(columns))]
    tallest = max(len(levels) for levels in columns)
    return GraphLayout(positions, spans, column_of, tallest, float(sum(widths)), groups)
