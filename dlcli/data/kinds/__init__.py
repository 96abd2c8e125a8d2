"""The registry of data kinds: the one place a kind's name leads to its code.

Built-in kinds (image folders, CSV tables) are registered at the bottom of this module;
another kind (a plug-in, a test's toy kind) is registered by calling
:func:`register_kind` before the recipe or model that uses it is loaded. Everything else
asks :func:`get_kind` once and calls the :class:`~dlcli.data.kinds.base.DataKind` it
returns. No TensorFlow here (the recipe layer validates ``data:`` sections through it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from dlcli.data.kinds.base import (
    PREPROCESSING_VERSION,
    DataKind,
    LabelledArrays,
    LabelledData,
    LabelledFiles,
    Preprocessing,
    SampleInputs,
    Shape,
)
from dlcli.errors import DlcliError, ModelLoadError
from dlcli.recipe.spec import DataSection

__all__ = [
    "DEFAULT_KIND",
    "LEGACY_KIND",
    "PREPROCESSING_VERSION",
    "DataKind",
    "LabelledArrays",
    "LabelledData",
    "LabelledFiles",
    "Preprocessing",
    "SampleInputs",
    "data_spec",
    "get_kind",
    "kind_for_shape",
    "kind_names",
    "kind_of",
    "register_kind",
    "unregister_kind",
    "validate_data_section",
]

DEFAULT_KIND = "images"  # a recipe's data section without `kind:` reads image folders
# A labels.json without "kind" was written by the first dlcli, which trained on image
# folders only: it is read as that kind (version 1), and checked as strictly as any other.
LEGACY_KIND = "images"

_KINDS: dict[str, DataKind] = {}
_ADAPTER: tuple[tuple[str, ...], TypeAdapter[Any]] | None = None


def register_kind(kind: DataKind, *, replace: bool = False) -> DataKind:
    """Make ``kind`` available to recipes, runs and models under ``kind.name``."""
    name = kind.name
    section_kind = kind.section.model_fields["kind"].annotation
    if getattr(section_kind, "__args__", None) != (name,):
        raise TypeError(f"{type(kind).__name__}.section must declare kind: Literal[{name!r}]")
    if name in _KINDS and not replace and type(_KINDS[name]) is not type(kind):
        raise ValueError(f"data kind {name!r} is already registered ({type(_KINDS[name])})")
    _KINDS[name] = kind
    return kind


def unregister_kind(name: str) -> None:
    """Remove a kind registered at run time (tests clean up with this)."""
    _KINDS.pop(name, None)


def kind_names() -> list[str]:
    return list(_KINDS)


def get_kind(
    name: object,
    *,
    file: str | Path | None = None,
    field: str = "data.kind",
    error: type[DlcliError] = ModelLoadError,
) -> DataKind:
    """The registered kind called ``name``; ``error`` (exit 2) naming it otherwise."""
    if isinstance(name, str) and name in _KINDS:
        return _KINDS[name]
    from dlcli.recipe.layers import did_you_mean

    names = kind_names()
    raise error(
        f"unknown data kind {name!r}",
        file=file,
        field=field,
        expected=" or ".join(repr(n) for n in names),
        hint=did_you_mean(str(name), names) if isinstance(name, str) else None,
    )


def kind_of(prep: Preprocessing | DataSection) -> DataKind:
    """The kind a preprocessing record or a recipe section belongs to."""
    return get_kind(prep.kind)


def kind_for_shape(
    shape: Shape, model: Any = None, *, source: str | Path | None = None
) -> tuple[DataKind, dict[str, Any]] | None:
    """The kind that claims a bare model, with the fields its layers or shape imply.

    ``model`` (a Keras model; None for an export) is asked first: a kind that recognises
    the model's layers (a spectrogram: sound) wins. Else the kinds that claim the input
    shape. None when no kind claims it; two kinds claiming it is a :class:`ModelLoadError`
    naming both (``source``: the model file), never a silent pick.
    """
    if model is not None:
        claims = _claims(lambda kind: kind.from_model_layers(model))
        if claims:
            return _only_claim(claims, "its layers", source)
    claims = _claims(lambda kind: kind.from_input_shape(tuple(shape)))
    return _only_claim(claims, f"its input shape {tuple(shape)}", source) if claims else None


def _claims(
    claim: Callable[[DataKind], dict[str, Any] | None],
) -> list[tuple[DataKind, dict[str, Any]]]:
    found = ((kind, claim(kind)) for kind in _KINDS.values())
    return [(kind, fields) for kind, fields in found if fields is not None]


def _only_claim(
    claims: list[tuple[DataKind, dict[str, Any]]], by: str, source: str | Path | None
) -> tuple[DataKind, dict[str, Any]]:
    if len(claims) == 1:
        return claims[0]
    names = [kind.name for kind, _ in claims]
    raise ModelLoadError(
        f"a model without labels.json that {len(names)} data kinds could read "
        f"({' and '.join(repr(n) for n in names)}, by {by})",
        file=source,
        expected="the model's run folder (with its labels.json), or --labels FILE "
        f'naming its kind: {{"kind": {" or ".join(repr(n) for n in names)}, ...}}',
        hint="dlcli cannot tell which data this model reads from the model alone",
    )


def data_spec() -> Any:
    """``DataSpec``: the discriminated union (on ``kind``) of every registered section.

    Built on demand, so kinds registered at run time are part of it; the recipe's
    ``data:`` is validated with it and ``dlcli schema`` describes it.
    """
    sections = tuple(k.section for k in _KINDS.values())
    if len(sections) == 1:
        return sections[0]
    return Annotated[Union[sections], Field(discriminator="kind")]  # noqa: UP007


def data_spec_adapter() -> TypeAdapter[Any]:
    global _ADAPTER
    key = tuple((n, id(k.section)) for n, k in _KINDS.items())
    if _ADAPTER is None or _ADAPTER[0] != key:
        _ADAPTER = (key, TypeAdapter(data_spec()))  # type: ignore[assignment]
    return _ADAPTER[1]


def validate_data_section(values: Mapping[str, Any]) -> DataSection:
    """A ``data:`` mapping (``kind`` defaulting to :data:`DEFAULT_KIND`) as its section.

    Raises pydantic's ``ValidationError`` (the recipe loader maps it to positions).
    """
    values = dict(values)
    values.setdefault("kind", DEFAULT_KIND)
    return data_spec_adapter().validate_python(values)


def _register_builtins() -> None:
    from dlcli.data.kinds.audio_kind import AudioKind
    from dlcli.data.kinds.csv_kind import CsvKind
    from dlcli.data.kinds.image_kind import ImageKind
    from dlcli.data.kinds.table_kind import TableKind
    from dlcli.data.kinds.text_kind import TextKind

    register_kind(ImageKind())
    register_kind(CsvKind())
    register_kind(TextKind())
    register_kind(AudioKind())
    register_kind(TableKind())


_register_builtins()
