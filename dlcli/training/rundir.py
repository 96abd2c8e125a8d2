"""The run directory: checks before training, and every file a run writes.

Layout (docs/architecture.md): ``recipe.yaml``, ``labels.json``, ``skipped.txt``,
``history.csv``, ``metrics.json``, ``model.keras``, ``best.keras``, ``curves.png``,
``checkpoints/`` and ``logs/`` (TensorBoard). Every file goes through ``dlcli.atomic``.
No TensorFlow here: the checks run before TensorFlow starts.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from dlcli import atomic
from dlcli.errors import DlcliError, RunFailure

# Files and folders a run writes; --overwrite removes exactly these (runstart.clear_run).
RUN_FILES = (
    "recipe.yaml",
    "labels.json",
    "vocabulary.txt",
    "skipped.txt",
    "history.csv",
    "metrics.json",
    "model.keras",
    "best.keras",
    "curves.png",
)
RUN_FOLDERS = ("checkpoints", "logs")
STATE_FILE = "state.json"


class RunDirectory:
    """Writes a run's files under ``path``; reads checkpoints from ``read_path``.

    A multi-worker non-chief writes into a throw-away temporary folder (``path``) but
    resumes from the chief's checkpoints (``read_path``, on a shared file system), so all
    workers run the same code and start from the same state.
    """

    def __init__(self, path: Path, *, read_path: Path | None = None, scratch: bool = False):
        self.path = Path(path)
        self.read_path = Path(read_path) if read_path is not None else self.path
        self.scratch = scratch
        self._arrays_written: set[str] = set()  # checkpoint array files this session wrote

    @classmethod
    def scratch_for(cls, out: Path) -> RunDirectory:
        return cls(Path(tempfile.mkdtemp(prefix="dlcli-worker-")), read_path=out, scratch=True)

    def cleanup(self) -> None:
        if self.scratch:
            shutil.rmtree(self.path, ignore_errors=True)

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    # -- plain files -------------------------------------------------------------------

    def write_text(self, name: str, text: str) -> Path:
        atomic.write_text(self.file(name), text)
        return self.file(name)

    def write_json(self, name: str, data: Any) -> Path:
        return self.write_text(name, json.dumps(_jsonable(data), indent=2) + "\n")

    def write_skipped(self, skipped: Sequence[Any]) -> Path | None:
        if not skipped:
            self.file("skipped.txt").unlink(missing_ok=True)
            return None
        lines = [f"{s.path}\t{s.reason}" for s in skipped]
        return self.write_text("skipped.txt", "\n".join(lines) + "\n")

    def write_history(self, history: Sequence[dict[str, float]]) -> Path:
        keys = history_columns(history)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        for row in history:
            writer.writerow({k: _csv_value(row.get(k)) for k in keys})
        return self.write_text("history.csv", buf.getvalue())

    def save_model(self, model: Any, name: str) -> Path:
        path = self.file(name)
        with atomic.atomic_path(path, suffix=".keras") as tmp:
            model.save(tmp)
        return path

    # -- checkpoints -------------------------------------------------------------------

    def save_checkpoint(self, state: dict[str, Any], arrays: dict[str, list[Any]]) -> dict:
        """Write ``arrays`` (name -> list of ndarrays) then ``state.json``, the commit point.

        Each array file carries the epoch in its name and is complete before
        ``state.json`` names it; files no longer named are removed afterwards: only those
        the previous ``state.json`` named or this session wrote, never anything else in
        the folder. A kill at any moment leaves ``state.json`` pointing at complete files.
        Returns the name of the file holding each key's arrays.
        """
        import numpy as np

        folder = self.checkpoints
        folder.mkdir(parents=True, exist_ok=True)
        epoch = int(state["epoch"])
        files = dict(state.get("files", {}))
        ours = set(files.values())
        for key, values in arrays.items():
            fname = f"epoch-{epoch:04d}-{key}.npz"
            with atomic.atomic_path(folder / fname, suffix=".npz") as tmp, open(tmp, "wb") as fh:
                np.savez(fh, *values)
            self._arrays_written.add(fname)
            files[key] = fname
        state = {**state, "files": files}
        self._write_vocabularies(state.get("adapted") or [])
        atomic.write_text(folder / STATE_FILE, json.dumps(_jsonable(state), indent=2) + "\n")
        keep = set(files.values())
        for name in (ours | self._arrays_written) - keep:
            (folder / name).unlink(missing_ok=True)
        self._arrays_written &= keep
        return files

    def _write_vocabularies(self, adapted: list[dict[str, Any]]) -> None:
        """The adapted vocabularies as readable files, once per session (they never change
        during a run; a resumed run writes them again from its checkpoint's records)."""
        from dlcli.training.vocabulary import vocabulary_files

        if getattr(self, "_vocabularies_written", False):
            return
        files = vocabulary_files(adapted)
        for name, text in files.items():
            self.write_text(name, text)
        self._vocabularies_written = bool(files)

    def load_state(self) -> dict[str, Any]:
        path = self.read_path / "checkpoints" / STATE_FILE
        try:
            doc = json.loads(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise _damaged(path, exc) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("epoch"), int):
            raise _damaged(path, "no epoch number")
        return doc

    def load_arrays(self, state: dict[str, Any], key: str) -> list[Any] | None:
        import zipfile

        import numpy as np

        name = state.get("files", {}).get(key)
        if not name:
            return None
        path = self.read_path / "checkpoints" / name
        try:
            with np.load(path) as data:
                return [data[f"arr_{i}"] for i in range(len(data.files))]
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            raise _damaged(path, exc) from None


def _damaged(path: Path, why: object) -> RunFailure:
    reason = why.strerror if isinstance(why, OSError) and why.strerror else why
    return RunFailure(
        f"the checkpoint is damaged or incomplete ({reason})",
        file=path,
        hint="start the run again with --overwrite, or restore the checkpoints/ folder",
    )


def history_columns(history: Iterable[dict[str, float]]) -> list[str]:
    keys: list[str] = ["epoch"]
    tail = ["lr", "epoch_time_s"]
    for row in history:
        for k in row:
            if k not in keys and k not in tail:
                keys.append(k)
    return keys + tail


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return value


def _jsonable(value: Any) -> Any:
    """Plain JSON: paths as strings, NaN/Inf as null (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _jsonable(value.item())
    return value


def recipe_changes(run: RunDirectory, recipe_yaml: str) -> list[str]:
    """Say which settings differ from the run's saved recipe: resuming with new ones is
    allowed (e.g. a lower learning rate) but never silent. ``train.epochs`` may change."""
    import yaml

    from dlcli.viz.runs import diff_recipes, load_run_recipe

    if not run.file("recipe.yaml").is_file():
        return []
    try:
        before = load_run_recipe(run.path)
    except DlcliError:
        return ["the run's previous recipe.yaml could not be read; it is replaced"]
    changes = [
        d.format()
        for d in diff_recipes(before, yaml.safe_load(recipe_yaml) or {})
        if d.key != "train.epochs"
    ]
    if not changes:
        return []
    more = f"; and {len(changes) - 5} more" if len(changes) > 5 else ""
    return ["resuming with settings changed from recipe.yaml: " + "; ".join(changes[:5]) + more]


def missing_dirs(path: Path) -> list[Path]:
    """``path`` and its ancestors that do not exist yet, deepest first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing
