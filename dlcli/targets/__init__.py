"""The registry of target types: what a model learns to output (``data.target``).

Built-in: ``class`` (the default: one class per example), ``multi_label`` (any number of
tags) and ``regression`` (numbers). Engines look a target up once (:func:`get_target`,
:func:`target_of`) and call its methods; a data kind that has label columns includes
:class:`TargetFields` in its section and hands its raw label cells to the target
(``dlcli.targets.reading``). No TensorFlow or NumPy at import.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, Field, ValidationError, field_validator

from dlcli.errors import ModelLoadError, Problem
from dlcli.targets.base import LossCheck, Target, TargetColumns, TargetRecord, TargetSpec
from dlcli.targets.class_target import ClassRecord, ClassTarget, ClassTargetSpec
from dlcli.targets.multi_label import MultiLabelSpec, MultiLabelTarget
from dlcli.targets.outputs import OutputsTarget
from dlcli.targets.regression import RegressionSpec, RegressionTarget

__all__ = [
    "TARGET_KEY",
    "ClassRecord",
    "LossCheck",
    "Target",
    "TargetColumns",
    "TargetFields",
    "TargetRecord",
    "TargetSpec",
    "get_target",
    "label_columns",
    "read_target",
    "register_target",
    "target_json",
    "target_names",
    "target_of",
]

DEFAULT_TARGET = "class"
TARGET_KEY = "target"  # the labels.json / export metadata key holding a TargetRecord

_TARGETS: dict[str, Target] = {}


def register_target(target: Target) -> Target:
    _TARGETS[target.name] = target
    return target


def target_names() -> list[str]:
    """The targets a recipe names (``outputs`` is set by the loader from model.outputs)."""
    return [name for name, target in _TARGETS.items() if target.selectable]


def get_target(name: object, *, file: str | Path | None = None, field: str = "target") -> Target:
    """The registered target called ``name``; an error (exit 2) naming the known ones."""
    if isinstance(name, str) and name in _TARGETS:
        return _TARGETS[name]
    from dlcli.recipe.layers import did_you_mean

    names = target_names()
    raise ModelLoadError(
        f"unknown target type {name!r}",
        file=file,
        field=field,
        expected=" or ".join(repr(n) for n in names),
        hint=did_you_mean(str(name), names) if isinstance(name, str) else None,
    )


def target_of(spec_or_record: TargetSpec | TargetRecord | None) -> Target:
    """The target a spec or record belongs to (None: the default, class)."""
    return get_target(DEFAULT_TARGET if spec_or_record is None else spec_or_record.type)


TargetSpecUnion = Annotated[
    Union[ClassTargetSpec, MultiLabelSpec, RegressionSpec],  # noqa: UP007
    Field(discriminator="type"),
]


class TargetFields(BaseModel):
    """Fields of a data section with label columns: ``label`` (one column, or a list: one
    0/1 column per tag, or several numeric targets), ``target`` (``class``,
    ``multi_label``, ``regression``, or a mapping with ``type`` and its options) and
    ``sample_weight`` (a column of per-example loss weights)."""

    label: str | list[str] = "label"
    target: TargetSpecUnion = Field(default_factory=ClassTargetSpec)
    sample_weight: str | None = None

    @field_validator("target", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value

    @field_validator("label")
    @classmethod
    def _columns(cls, value: str | list[str]) -> str | list[str]:
        names = [value] if isinstance(value, str) else value
        if not names or any(not n.strip() for n in names):
            raise ValueError("expected a column name or a non-empty list of column names")
        if len(set(names)) != len(names):
            raise ValueError("the label columns repeat a name")
        return value


def label_columns(label: str | list[str]) -> list[str]:
    return [label] if isinstance(label, str) else list(label)


def target_json(record: TargetRecord | None) -> dict[str, Any] | None:
    """The ``"target"`` entry of labels.json; None for the class target (files stay as
    they were before targets existed)."""
    if record is None or target_of(record).classifies:
        return None
    return record.model_dump(mode="json", exclude_none=True)


def read_target(
    fields: Mapping[str, Any] | None, class_names: list[str] | None, source: Path
) -> TargetRecord:
    """The record a labels.json / export metadata holds (none: a class target)."""
    raw = (fields or {}).get(TARGET_KEY)
    if raw is None:
        return ClassRecord(class_names=list(class_names or []))
    if not isinstance(raw, dict):
        raise ModelLoadError("bad target entry", file=source, field=TARGET_KEY, received=raw)
    target = get_target(raw.get("type"), file=source, field=f"{TARGET_KEY}.type")
    try:
        return target.record.model_validate(raw)
    except ValidationError as exc:
        problems = [
            Problem(
                f"bad {TARGET_KEY}.{'.'.join(str(p) for p in err['loc'])}",
                file=source,
                expected=err["msg"],
            )
            for err in exc.errors()
        ]
        raise ModelLoadError(problems=problems) from None


def _register_builtins() -> None:
    register_target(ClassTarget())
    register_target(MultiLabelTarget())
    register_target(RegressionTarget())
    register_target(OutputsTarget())


_register_builtins()
