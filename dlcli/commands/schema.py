"""``dlcli schema``: the JSON Schema of the recipe format, for editors (YAML language servers)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

HELP = """Print the JSON Schema of the recipe format, or write it with --out.

Point your editor's YAML support at it, e.g. a first line
`# yaml-language-server: $schema=recipe.schema.json` in a recipe.
"""


def register(app: typer.Typer) -> None:
    @app.command("schema", help=HELP)
    def schema_command(
        out: Path | None = typer.Option(None, "--out", help="Write the schema to this file."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
    ) -> int:
        from dlcli import atomic
        from dlcli.recipe import recipe_json_schema

        text = json.dumps(recipe_json_schema(), indent=2) + "\n"
        if out is None:
            typer.echo(text, nl=False)
            return 0
        atomic.check_writable(out, overwrite=overwrite)
        atomic.write_text(out, text)
        typer.echo(f"wrote {out}", err=True)
        return 0
