"""What ``dlcli layers`` shows about backbones: the list, and one backbone's details.

Reads only the generated table (no TensorFlow): parameter counts are those of the
application without its classifier, counted when the table was generated.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dlcli.console import is_interactive
from dlcli.recipe import backbones as table

USAGE = "- Backbone: {name: NAME, weights: imagenet, pooling: avg, trainable: false}"


def backbone_payload(info: table.BackboneInfo) -> dict[str, Any]:
    """One backbone as JSON (the shape of ``dlcli layers --json`` entries, plus its numbers)."""
    return {
        "name": info.name,
        "category": "backbone",
        "alias_of": None,
        "doc": f"keras.applications.{info.name} without its classifier",
        "family": info.family,
        "params": info.params,
        "trainable_params": info.trainable_params,
        "min_size": info.min_size,
        "default_size": info.default_size,
        "preprocessing": info.preprocessing,
        "pixel_range": info.pixel_range,
        "options": info.options,
    }


def render_backbone_list(console: Console) -> None:
    infos = [table.get_backbone(n) for n in table.names()]
    rows = [(i.name, f"{i.params:,}", i.sizes_text, i.preprocessing) for i in infos if i]
    title = f"backbones ({USAGE})"
    if is_interactive(console):
        view = Table(title=escape(title), title_justify="left")
        for column in ("backbone", "parameters", "input size (pixels)", "pixels as"):
            view.add_column(column, no_wrap=column != "pixels as")
        for row in rows:
            view.add_row(*(escape(v) for v in row))
        console.print(view)
    else:
        console.print(f"{title}:", markup=False)
        widths = [max(len(r[k]) for r in rows) for k in range(3)]
        for name, params, sizes, mode in rows:
            line = f"  {name.ljust(widths[0])}  {params.rjust(widths[1])} parameters  "
            console.print(f"{line}{sizes.ljust(widths[2])}  pixels: {mode}", markup=False)
    modes = "; ".join(f"{mode}: {text}" for mode, text in table.PIXEL_RANGES.items())
    console.print(f"pixels (dlcli feeds 0..255): {modes}", markup=False)


def render_backbone(console: Console, info: table.BackboneInfo) -> None:
    lines = [
        f"{info.name}: keras.applications.{info.name} without its classifier, "
        f"as `{USAGE.replace('NAME', info.name)}`",
        f"  parameters      {info.params:,} ({info.trainable_params:,} trainable)",
        f"  input size      {info.sizes_text} pixels, 3 channels (color_mode: rgb)",
        f"  pixels          {info.preprocessing}: {info.pixel_range} (inserted automatically)",
        "  weights         imagenet (Keras' download and cache), null, or a .weights.h5/.h5 path",
        "  pooling         avg (default), max, or null for the feature map",
        "  trainable       true (default) or false to freeze it",
    ]
    if info.static_with_imagenet:
        lines.append("  note            imagenet weights need a fixed input size")
    for option, default in info.options.items():
        lines.append(f"  {option.ljust(15)} {default!r} (application option)")
    for line in lines:
        console.print(line, markup=False)


def render_backbone_entry(console: Console) -> None:
    """``dlcli layers Backbone``: the entry's keys, then the list."""
    console.print(
        f"Backbone: a keras.applications model as one layer, `{USAGE}`; "
        "`dlcli layers NAME` shows one backbone's options",
        markup=False,
    )
    render_backbone_list(console)
