"""``model.init_from``: start a new run from another run's (or model file's) weights (no TF).

The value is a run folder (its ``best.keras``, as ``dlcli predict`` picks it) or a
``.keras`` file, relative to the recipe file (relative to the current folder when given with
``--set``: it was typed in the shell). Weights are copied by layer name when the run
starts (:mod:`dlcli.modeling.warm_start`); the path must exist by then, not when validating.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dlcli.errors import Problem
from dlcli.recipe.yamlread import Positions, make_problem


def parse_init_from(
    raw_model: Any, positions: Positions, problems: list[Problem], base_dir: Path
) -> Path | None:
    value = raw_model.get("init_from") if isinstance(raw_model, dict) else None
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(
            make_problem(
                positions,
                ("model", "init_from"),
                "bad init_from",
                expected="a run folder or a .keras model file",
                received=value,
            )
        )
        return None
    path = Path(os.path.expanduser(value))
    if not path.is_absolute():
        typed = ("model", "init_from") in positions.overridden
        path = (Path.cwd() if typed else base_dir) / path
    return Path(os.path.normpath(path))
