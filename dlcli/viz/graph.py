"""The layer graph: who feeds whom, with output shapes, as a tree, text or a picture.

Pictures are drawn with matplotlib in a layered layout (each layer one row down from
its deepest input, long models wrapped into columns, blocks and stages shaded:
``graph_layout``), so PNG/SVG need no Graphviz. The terminal/text view is a Rich
``Tree``: a layer sits under the input that is computed last, a branch point says how
many layers read it, and a merge (Add, Concatenate...) lists all of its inputs.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlcli.viz.graph_layout import GraphLayout, layout_graph
from dlcli.viz.plots import _pyplot, _save


@dataclass
class GraphNode:
    name: str
    type: str
    output_shape: str
    params: int
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    depth: int = 0


def _shape_text(layer: Any) -> str:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return "?"
    if isinstance(shape, list):
        return ", ".join(str(tuple(s)) for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def model_graph(model: Any) -> list[GraphNode]:
    """Nodes in topological order (model order), inputs first, with edges both ways."""
    layers: list[Any] = []
    seen: set[str] = set()
    for tensor in model.inputs:
        op = tensor._keras_history.operation
        if op.name not in seen:
            layers.append(op)
            seen.add(op.name)
    for layer in model.layers:
        if layer.name not in seen:
            layers.append(layer)
            seen.add(layer.name)
    nodes = {
        layer.name: GraphNode(
            layer.name,
            type(layer).__name__,
            _shape_text(layer),
            int(layer.count_params()) if layer.built else 0,
        )
        for layer in layers
    }
    for layer in layers:
        for node in getattr(layer, "_inbound_nodes", []):
            parents = [t._keras_history.operation.name for t in node.input_tensors]
            if parents and all(p in nodes for p in parents):
                for p in parents:
                    if p not in nodes[layer.name].inputs:
                        nodes[layer.name].inputs.append(p)
                        nodes[p].outputs.append(layer.name)
    order = list(nodes)
    for name in order:  # model order is topological: parents come first
        node = nodes[name]
        node.depth = 1 + max((nodes[p].depth for p in node.inputs), default=-1)
    return [nodes[n] for n in order]


def _label(node: GraphNode, *, markup: bool) -> str:
    text = f"{node.name} ({node.type}) -> {node.output_shape}"
    if node.params:
        text += f"  {node.params:,} params"
    if len(node.inputs) > 1:
        text += "  [merge of " + " + ".join(node.inputs) + "]"
    if len(node.outputs) > 1:
        text += f"  [branches to {len(node.outputs)}: " + ", ".join(node.outputs) + "]"
    if markup:
        from rich.markup import escape

        return escape(text)
    return text


def graph_tree(nodes: list[GraphNode], *, title: str = "model") -> Any:
    """A ``rich.tree.Tree``: each layer under its last-computed input."""
    from rich.tree import Tree

    index = {n.name: i for i, n in enumerate(nodes)}
    tree = Tree(title)
    branches: dict[str, Any] = {}
    for node in nodes:
        if node.inputs:
            anchor = max(node.inputs, key=lambda p: index[p])
            parent = branches.get(anchor, tree)
        else:
            parent = tree
        branches[node.name] = parent.add(_label(node, markup=True))
    return tree


def graph_text(nodes: list[GraphNode], *, title: str = "model") -> str:
    """The tree as plain text (no colour codes), for ``--graph out.txt`` and pipes."""
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=200, no_color=True, force_terminal=False, highlight=False)
    console.print(graph_tree(nodes, title=title))
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


BOX_H = 0.22  # half the height of a layer's box, in row units
ROW_IN = 0.9  # inches per row
COLUMN_IN = 3.2  # inches per column unit
GROUP_COLOURS = ("#f4f4f4", "#eaf1fb")


def _edge(ax: Any, start: tuple[float, float], end: tuple[float, float], rad: float) -> None:
    ax.annotate(
        "",
        xy=end,
        xytext=start,
        arrowprops={
            "arrowstyle": "->",
            "color": "0.35",
            "lw": 1.0,
            "connectionstyle": f"arc3,rad={rad}",
        },
    )


def _draw_edges(ax: Any, nodes: list[GraphNode], lay: GraphLayout) -> None:
    pos = lay.positions
    for node in nodes:
        x, y = pos[node.name]
        for child in node.outputs:
            cx, cy = pos[child]
            if lay.column_of[child] == lay.column_of[node.name]:
                # An edge that skips rows (a residual connection) bows out so it does not
                # hide behind the layers in between.
                rad = 0.6 if y - cy > 1 else (0.15 if cx != x else 0.0)
                _edge(ax, (x, y - BOX_H), (cx, cy + BOX_H), rad)
                continue
            # Into a later column: down, along the gap before the child's column, up over
            # its top, then into the child, so the line crosses no box.
            gap = lay.columns[lay.column_of[child]][0]
            path_x = [x, x, gap, gap, cx]
            path_y = [y - BOX_H, y - 0.5, y - 0.5, cy + 0.55, cy + 0.55]
            ax.plot(path_x, path_y, color="0.35", lw=1.0, solid_joinstyle="round")
            _edge(ax, (cx, cy + 0.55), (cx, cy + BOX_H), 0.0)


def _draw_groups(ax: Any, lay: GraphLayout) -> None:
    """A shaded box around each group's layers (one per column it spans), labelled."""
    from matplotlib.patches import FancyBboxPatch

    for i, group in enumerate(lay.groups):
        columns: dict[int, list[tuple[float, float]]] = {}
        for name in group.members:
            columns.setdefault(lay.column_of[name], []).append(lay.positions[name])
        for k, points in enumerate(columns.values()):
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            x0, x1 = min(xs) - 0.47, max(xs) + 0.47
            y0, y1 = min(ys) - 0.4, max(ys) + 0.4
            box = FancyBboxPatch(
                (x0, y0),
                x1 - x0,
                y1 - y0,
                boxstyle="round,pad=0,rounding_size=0.05",
                fc=GROUP_COLOURS[i % 2],
                ec="0.6",
                lw=0.8,
                zorder=0,
                gid=f"group:{group.label}",
            )
            ax.add_patch(box)
            label = group.label if k == 0 else f"{group.label} (cont.)"
            ax.text(x0 + 0.03, y1 - 0.03, label, ha="left", va="top", fontsize=6, color="0.3")


def graph_figure(nodes: list[GraphNode], *, title: str = "model") -> Any:
    """The figure of :func:`save_graph_picture`, not saved."""
    plt = _pyplot()
    lay = layout_graph(nodes)
    fig = plt.figure(figsize=(max(COLUMN_IN * lay.width, 4.0), ROW_IN * lay.rows + 0.8))
    ax = fig.add_axes((0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    ax.set_xlim(0, lay.width)
    ax.set_ylim(-lay.rows + 0.4, 0.65)
    ax.set_axis_off()
    _draw_groups(ax, lay)
    _draw_edges(ax, nodes, lay)
    by_name = {n.name: n for n in nodes}
    for name, (x, y) in lay.positions.items():
        node = by_name[name]
        merge = len(node.inputs) > 1
        colour = "#fde2c4" if merge else ("#d7e8f7" if node.inputs else "#e2f0d9")
        ax.text(
            x,
            y,
            f"{node.name}\n{node.type}  {node.output_shape}",
            ha="center",
            va="center",
            fontsize=7,
            bbox={"boxstyle": "round,pad=0.35", "fc": colour, "ec": "0.4"},
            gid=f"layer:{node.name}",
        )
    fig.suptitle(title, fontsize="small")
    return fig


def save_graph_picture(nodes: list[GraphNode], path: Path, *, title: str = "model") -> Path:
    """PNG or SVG (by suffix) of the layer graph, boxes with name, type and shape; long
    models wrap into columns, blocks and stages are shaded and labelled."""
    return _save(graph_figure(nodes, title=title), path)


GRAPH_SUFFIXES = (".png", ".svg", ".txt")


def write_graph(nodes: list[GraphNode], path: Path, *, title: str = "model") -> Path:
    from dlcli.atomic import write_text
    from dlcli.errors import UsageError

    suffix = path.suffix.lower()
    if suffix == ".txt":
        write_text(path, graph_text(nodes, title=title))
        return path
    if suffix in (".png", ".svg"):
        return save_graph_picture(nodes, path, title=title)
    raise UsageError(
        "unsupported --graph file type",
        field="--graph",
        expected="a path ending in " + ", ".join(GRAPH_SUFFIXES),
        received=str(path),
    )
