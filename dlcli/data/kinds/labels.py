"""``labels.json``: a run's class names and :class:`Preprocessing`, written and read here only.

Layout (version 1): ``{"class_names": [...], "version": 1, "kind": NAME, <the kind's
fields>}``. Files written before the layout had a version (no ``"version"`` key) are
version 1. A file without ``"kind"`` comes from the first dlcli, which trained on image
folders only: it is read as :data:`~dlcli.data.kinds.LEGACY_KIND`. A kind that is not
registered, or a version this dlcli does not know (a newer dlcli wrote it), is refused
with an error naming it (exit 2), never read as something else. Exported models carry the
same keys in their metadata (:mod:`dlcli.export.metadata`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from dlcli.data.kinds.base import PREPROCESSING_VERSION, Preprocessing, Shape
from dlcli.errors import ModelLoadError, Problem

if TYPE_CHECKING:
    from dlcli.targets import TargetRecord

LABELS_FILE = "labels.json"
# labels.json keys that are not the kind's preprocessing: the output names and the target
# (read by dlcli.targets.read_target).
NOT_PREPROCESSING = frozenset({"class_names", "target"})


def labels_json(
    class_names: Sequence[str], prep: Preprocessing, target: TargetRecord | None = None
) -> dict[str, Any]:
    """What a run writes to ``labels.json`` (and an export copies into its metadata);
    ``target``: the run's :class:`~dlcli.targets.TargetRecord` (written under ``"target"``
    unless it is a class target, so class runs' files are as they always were)."""
    from dlcli.targets import TARGET_KEY, target_json

    # Unset optional fields (None) are left out: reading a file back gives the same record.
    fields = prep.model_dump(mode="json", exclude_none=True)
    out = {"class_names": [str(n) for n in class_names], **fields}
    recorded = target_json(target)
    if recorded is not None:
        out[TARGET_KEY] = recorded
    return out


def read_preprocessing(fields: Mapping[str, Any], source: Path) -> Preprocessing:
    """labels.json keys (``class_names`` and all) as the typed record of their kind."""
    from dlcli.data.kinds import LEGACY_KIND, get_kind

    values = {k: v for k, v in fields.items() if k not in NOT_PREPROCESSING}
    version = values.get("version", PREPROCESSING_VERSION)
    if isinstance(version, bool) or version != PREPROCESSING_VERSION:
        raise ModelLoadError(
            f"unknown labels.json version {version!r}",
            file=source,
            field="version",
            expected=f"version {PREPROCESSING_VERSION} (or none: files before versions)",
            hint="it was written by a newer dlcli: upgrade dlcli to read it",
        )
    kind = get_kind(values.get("kind", LEGACY_KIND), file=source, field="kind")
    values.update(version=PREPROCESSING_VERSION, kind=kind.name)
    return kind.read_preprocessing(values, source)


def model_preprocessing(
    shape: Shape,
    stored: Mapping[str, Any] | None,
    overrides: Mapping[str, Any],
    source: Path,
    *,
    known_only: bool,
    model: Any = None,
) -> Preprocessing | None:
    """A model's preprocessing from what is stored with it, ``--labels`` keys and its shape.

    ``stored``: a run's labels.json or an export's metadata (``known_only``: keep just the
    kind's own keys, as export metadata also describes the graph). Later sources win:
    what the input shape (or ``model``'s layers, a Keras model) implies < stored <
    ``overrides``. None when nothing tells; a bare model two kinds claim is an error.
    """
    from dlcli.data.kinds import LEGACY_KIND, get_kind, kind_for_shape

    if "kind" in overrides:
        name = overrides["kind"]
    elif stored is not None:
        name = stored.get("kind", LEGACY_KIND)
    elif (claimed := kind_for_shape(shape, model, source=source)) is not None:
        name = claimed[0].name
    elif overrides:
        name = LEGACY_KIND
    else:
        return None
    kind = get_kind(name, file=source, field="kind")
    implied = kind.from_model_layers(model) if model is not None else None
    fields: dict[str, Any] = dict(implied or kind.from_input_shape(tuple(shape)) or {})
    kept = {k: v for k, v in (stored or {}).items() if k not in NOT_PREPROCESSING}
    if known_only:
        kept = {k: v for k, v in kept.items() if k in kind.preprocessing.model_fields}
    fields.update(kept)
    fields.update(overrides)
    fields["kind"] = kind.name
    prep = read_preprocessing(fields, source)
    kind.check_model(prep, shape, source)
    return prep


def validate_fields(
    model: type[Preprocessing], fields: Mapping[str, Any], source: Path
) -> Preprocessing:
    """``model.model_validate`` with pydantic's errors as :class:`ModelLoadError` problems."""
    try:
        return model.model_validate(dict(fields))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or None
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(model.model_fields)
                problems.append(
                    Problem(
                        f"unknown key {err['loc'][-1]!r}",
                        file=source,
                        field=where,
                        expected=f"keys of {model.model_fields['kind'].default!r}: {allowed}",
                    )
                )
                continue
            problems.append(
                Problem(
                    f"bad {where or 'preprocessing'}",
                    file=source,
                    field=where,
                    expected=err["msg"].removeprefix("Input should be "),
                    received=err.get("input"),
                    has_received=True,
                )
            )
        raise ModelLoadError(problems=problems) from None
