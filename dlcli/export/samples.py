"""Real inputs for the export parity check, read as the model's data kind reads them.

From ``--sample PATH`` or else from the run's own data as its ``recipe.yaml`` names it
(:meth:`dlcli.data.kinds.base.DataKind.parity_inputs`): images decoded with the run's
image size and colour mode, rows of the run's CSV. Random noise is never used: it would
miss the ranges real data hit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlcli.data.kinds import SampleInputs

MAX_SAMPLES = 32


def parity_samples(loaded: Any, sample: Path | None, limit: int = MAX_SAMPLES) -> SampleInputs:
    """Up to ``limit`` real inputs for ``loaded`` (a ``LoadedModel``)."""
    return loaded.kind.parity_inputs(
        loaded.preprocessing, sample, _run_data(loaded.run_dir), limit, loaded.source
    )


def _run_data(run_dir: Path | None) -> dict[str, Any] | None:
    """The ``data`` section of a run's recipe.yaml (safe YAML), paths made absolute."""
    if run_dir is None or not (run_dir / "recipe.yaml").is_file():
        return None
    import yaml

    try:
        recipe = yaml.safe_load((run_dir / "recipe.yaml").read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        return None
    data = recipe.get("data") if isinstance(recipe, dict) else None
    if not isinstance(data, dict):
        return None
    out = dict(data)
    for key in ("train", "validation"):
        if isinstance(out.get(key), str):
            p = Path(out[key])
            out[key] = p if p.is_absolute() else (run_dir / p)
    return out
