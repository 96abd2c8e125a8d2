"""``dlcli layers [NAME]``: the layers a recipe may use, or one layer's arguments.

Reads the generated catalog only: no TensorFlow import, so it answers instantly.
"""

from __future__ import annotations

import json
from typing import Any

import typer

HELP = """List the Keras layers a recipe may use, grouped by kind, or show one layer's
arguments with their defaults (NAME, e.g. Conv2D).

Layers that run code (Lambda, TFSMLayer, ...) or need Python objects as arguments are not
available; `dlcli layers Lambda` says why.
"""


def register(app: typer.Typer) -> None:
    @app.command("layers", help=HELP)
    def layers(
        name: str | None = typer.Argument(None, help="A layer name, e.g. Conv2D."),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> int:
        return run_layers(name, as_json=as_json)


def run_layers(name: str | None, *, as_json: bool = False) -> int:
    from dlcli.console import make_console
    from dlcli.errors import UsageError
    from dlcli.recipe import backbones, catalog
    from dlcli.render.backbones_output import backbone_payload, render_backbone_list
    from dlcli.render.layers_output import render_layer, render_layer_list

    console = make_console()
    if name is None:
        infos = [catalog.get_layer(n) for n in catalog.layer_names()]
        if as_json:
            payload = [
                {"name": i.name, "category": i.category, "alias_of": i.alias_of, "doc": i.doc}
                for i in infos
            ]
            payload += [backbone_payload(backbones.get_backbone(n)) for n in backbones.names()]
            typer.echo(json.dumps(payload, indent=2))
        else:
            render_layer_list(console, infos)
            render_backbone_list(console)
        return 0
    if backbones.is_backbone_entry(name) or backbones.get_backbone(name) is not None:
        return _show_backbone(console, name, as_json=as_json)
    info = catalog.get_layer(name)
    if info is None:
        reason = catalog.excluded().get(name)
        if reason:
            raise UsageError(f"layer {name!r} is not available in recipes: {reason}")
        close = catalog.suggest(name) + backbones.suggest(name)
        raise UsageError(
            f"unknown layer {name!r}",
            hint=f"did you mean {', '.join(close)}?" if close else "run `dlcli layers` for a list",
        )
    if as_json:
        payload = {
            "name": info.name,
            "alias_of": info.alias_of,
            "category": info.category,
            "doc": info.doc,
            "first_arg": info.first_arg,
            "args": [
                {
                    "name": a.name,
                    "required": a.required,
                    "default": a.default,
                    "default_repr": a.default_repr,
                    "kind": a.kind,
                }
                for a in info.args.values()
            ],
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        render_layer(console, info)
    return 0


def _show_backbone(console: Any, name: str, *, as_json: bool) -> int:
    """``dlcli layers Backbone`` (the entry and the list) or ``dlcli layers MobileNetV2``."""
    from dlcli.recipe import backbones
    from dlcli.render.backbones_output import (
        backbone_payload,
        render_backbone,
        render_backbone_entry,
    )

    info = backbones.get_backbone(name)
    if as_json:
        chosen = [info] if info else [backbones.get_backbone(n) for n in backbones.names()]
        payload = [backbone_payload(i) for i in chosen if i is not None]
        typer.echo(json.dumps(payload[0] if info else payload, indent=2))
    elif info is None:
        render_backbone_entry(console)
    else:
        render_backbone(console, info)
    return 0
