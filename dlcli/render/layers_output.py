"""What ``dlcli layers`` shows: usable layer names by category, or one layer's arguments.

Reads only the catalog (no TensorFlow). A terminal gets Rich tables; anything else gets
plain aligned lines.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dlcli.console import is_interactive

CATEGORY_TITLES = {
    "core": "core",
    "convolutional": "convolution",
    "pooling": "pooling",
    "normalization": "normalization",
    "regularization": "regularization",
    "activations": "activations",
    "reshaping": "reshaping",
    "merging": "merging (several inputs)",
    "attention": "attention (several inputs)",
    "rnn": "recurrent",
    "preprocessing": "preprocessing",
    "image_preprocessing": "image preprocessing and augmentation",
    "other": "other",
}


def _grouped(infos: list[Any]) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = defaultdict(list)
    for info in infos:
        groups[info.category].append(info)
    order = list(CATEGORY_TITLES)
    rank = {c: i for i, c in enumerate(order)}  # unlisted categories (e.g. dlcli's) last
    return {k: groups[k] for k in sorted(groups, key=lambda c: (rank.get(c, len(order)), c))}


def _doc(info: Any) -> str:
    if info.alias_of:
        return f"alias of {info.alias_of}"
    return info.doc


def render_layer_list(console: Console, infos: list[Any]) -> None:
    groups = _grouped(infos)
    if is_interactive(console):
        for category, members in groups.items():
            table = Table(title=CATEGORY_TITLES.get(category, category), title_justify="left")
            table.add_column("layer", style="bold", no_wrap=True)
            table.add_column("description")
            for info in members:
                table.add_row(escape(info.name), escape(_doc(info)))
            console.print(table)
    else:
        for category, members in groups.items():
            width = max(len(i.name) for i in members)
            console.print(f"{CATEGORY_TITLES.get(category, category)}:", markup=False)
            for info in members:
                console.print(f"  {info.name.ljust(width)}  {_doc(info)}", markup=False)
    console.print(
        f"{len(infos)} layers; `dlcli layers NAME` shows a layer's arguments", markup=False
    )


def _arg_rows(info: Any) -> tuple[list[tuple[str, str]], list[str]]:
    own = [(a.name, a.default_text) for a in info.args.values() if a.kind != "common"]
    common = [a.name for a in info.args.values() if a.kind == "common"]
    return own, common


def render_layer(console: Console, info: Any) -> None:
    title = info.name if not info.alias_of else f"{info.name} (alias of {info.alias_of})"
    own, common = _arg_rows(info)
    first = (
        f"scalar shorthand `- {info.name}: VALUE` sets `{info.first_arg}`"
        if info.first_arg
        else "takes no positional argument"
    )
    inputs = (
        "several inputs: `inputs: [a, b]`"
        if info.category in ("merging", "attention")
        else "one input"
    )
    if is_interactive(console):
        console.print(f"[bold]{escape(title)}[/bold]: {escape(info.doc)}")
        table = Table()
        table.add_column("argument", style="bold", no_wrap=True)
        table.add_column("default")
        for name, default in own:
            style = "yellow" if default == "required" else None
            table.add_row(escape(name), escape(default), style=style)
        if own:
            console.print(table)
    else:
        console.print(f"{title}: {info.doc}", markup=False)
        width = max((len(n) for n, _ in own), default=0)
        for name, default in own:
            console.print(f"  {name.ljust(width)}  {default}", markup=False)
    if not own:
        console.print("no arguments of its own", markup=False)
    if common:
        console.print(f"also accepted: {', '.join(common)}", markup=False)
    console.print(f"{first}; {inputs}", markup=False)
