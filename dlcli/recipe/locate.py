"""A recipe key's file:line:column, found again after loading (for checks that need data).

Some recipe mistakes show only once the data is read (``class_weight`` naming a class the
data does not have, a last layer whose units differ from the tags found). The resolved
:class:`~dlcli.recipe.spec.Recipe` keeps no positions, so the recipe file is read again
(cheap: it is small) to point at the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlcli.errors import DlcliError
from dlcli.recipe.yamlread import KeyPath, format_path, read_yaml_file


def recipe_place(source: Path | None, path: KeyPath, *, key: bool = False) -> dict[str, Any]:
    """``file``/``line``/``column``/``field`` keyword arguments for an error at ``path``."""
    place: dict[str, Any] = {"field": format_path(path)}
    if source is None or not Path(source).is_file():
        return place
    try:
        _, positions = read_yaml_file(Path(source))
    except DlcliError:
        return place
    pos, _ = positions.locate(path, key=key)
    place["file"] = source
    if pos is not None:
        place["line"], place["column"] = pos
    return place
