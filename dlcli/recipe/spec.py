"""The resolved recipe: what every engine reads after loading and validation.

These pydantic models describe a recipe *after* defaults, the file, ``--set`` overrides and
named flags were merged, blocks expanded and every layer given a name and explicit inputs.
The user-facing YAML syntax (shorthands, blocks, ``repeat``) is parsed into these by
:mod:`dlcli.recipe.loader`; nothing here imports TensorFlow.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    Strict,
    field_validator,
    model_validator,
)

INPUT = "input"  # the name a layer uses in ``inputs`` to mean the model input
# Image channels per ``data.color_mode``: the one table decoders, model inputs and loaders use.
CHANNELS_BY_COLOR_MODE = {"grayscale": 1, "rgb": 3, "rgba": 4}
COLOR_MODE_BY_CHANNELS = {n: mode for mode, n in CHANNELS_BY_COLOR_MODE.items()}

# Numbers and switches are taken as written: pydantic's lax mode would read `epochs: true`
# as 1 and `patience: "3"` as 3 (silent auto-correction). Floats still accept integers.
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]


# data.cache_budget: a number of bytes, a size with a unit, or a share of the available memory.
CACHE_BUDGET_PATTERN = re.compile(r"(?i)^\s*\d+(\.\d+)?\s*(%|[kmgt]i?b|b)?\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SourceRef(_Strict):
    """Where something came from in the recipe file, for error messages."""

    file: str | None = None
    line: int | None = None
    column: int | None = None
    field: str | None = None


class LayerSpec(_Strict):
    """One Keras layer: class name, constructor arguments, name and incoming layers."""

    type: str
    args: dict[str, Any] = Field(default_factory=dict)
    name: str
    inputs: list[str] = Field(default_factory=list)
    call: dict[str, Any] = Field(default_factory=dict)  # keyword options of the layer's call
    where: SourceRef = Field(default_factory=SourceRef)

    def __eq__(self, other: object) -> bool:
        # ``where`` is provenance (which file and line), not part of what the layer is.
        if not isinstance(other, LayerSpec):
            return NotImplemented
        return self.model_dump(exclude={"where"}) == other.model_dump(exclude={"where"})

    __hash__ = None  # type: ignore[assignment]


class DataSection(_Strict):
    """The fields every data kind's ``data:`` section has.

    Each kind (one module under :mod:`dlcli.data.kinds`) subclasses this with ``kind`` fixed
    to its name and its own fields; a recipe's ``data`` is the discriminated union of the
    registered kinds' sections (``dlcli.data.kinds.data_spec()``), built when it is loaded.
    """

    kind: str
    train: Path
    validation: Path | None = None
    validation_split: Float | None = Field(default=None, gt=0.0, lt=1.0)
    batch_size: Int = Field(default=32, ge=1)
    shuffle: Bool = True
    cache: Literal["auto", "memory", "disk", "none"] = "auto"
    cache_budget: int | str | None = None
    augment: list[LayerSpec] = Field(default_factory=list)

    @field_validator("cache_budget", mode="before")
    @classmethod
    def _size_or_share(cls, value: Any) -> Any:
        good = (
            value is None
            or (isinstance(value, int) and not isinstance(value, bool) and value >= 1)
            or (isinstance(value, str) and CACHE_BUDGET_PATTERN.match(value) is not None)
        )
        if not good:
            raise ValueError(
                "expected a size such as 6GB, 512MiB or a number of bytes, or a share of the "
                "available memory such as 40%"
            )
        return value

    @model_validator(mode="after")
    def _one_validation_source(self) -> DataSection:
        if self.validation is not None and self.validation_split is not None:
            raise ValueError("give either 'validation' or 'validation_split', not both")
        return self


# The model input's dtype: float32 (pixels, features), int32 (token ids), string (raw text).
InputDtype = Literal["float32", "int32", "string"]


class ModelInput(_Strict):
    """One named model input (``model.inputs``): the data columns that feed it, and its
    shape and dtype when the recipe gives them (else the data kind's)."""

    columns: list[str] = Field(min_length=1)
    shape: tuple[int | None, ...] | None = None
    dtype: InputDtype | None = None


class ModelSpec(_Strict):
    input: tuple[int | None, ...] | None = None
    inputs: dict[str, ModelInput] | None = None  # several named inputs (model.inputs)
    # Several named outputs (model.outputs): output name -> layer, in name order; each
    # output's target, label, loss and metrics are data.target (targets.outputs).
    outputs: dict[str, str] | None = None
    input_dtype: InputDtype | None = None  # None: what the data kind reads (else float32)
    layers: list[LayerSpec]
    init_from: Path | None = None  # warm start: a run folder or .keras file (recipe.init_from)


class OptimizerSpec(_Strict):
    name: str = "adam"
    args: dict[str, Any] = Field(default_factory=dict)


class EarlyStoppingSpec(_Strict):
    monitor: str = "val_loss"
    patience: Int = Field(default=5, ge=0)
    min_delta: Float = Field(default=0.0, ge=0.0)
    restore_best: Bool = True


class LRScheduleSpec(_Strict):
    kind: Literal["constant", "cosine", "step", "exponential"] = "constant"
    warmup_epochs: Float = Field(default=0.0, ge=0.0)
    decay_rate: Float = Field(default=0.5, gt=0.0, le=1.0)
    step_epochs: Float = Field(default=10.0, gt=0.0)
    min_lr: Float = Field(default=0.0, ge=0.0)


class CheckpointSpec(_Strict):
    monitor: str = "val_loss"
    best: Bool = True
    last: Bool = True


class TrainableSpec(_Strict):
    """Which recipe layers a stage trains: ``all``, ``none``, the ``top`` N layers, every
    layer ``from`` one layer on, or the layers whose names match a ``pattern`` (fnmatch)."""

    kind: Literal["all", "none", "top", "from", "pattern"]
    value: Int | str | None = None  # top: a count; from: a layer name; pattern: the pattern


class StageSpec(_Strict):
    """One phase of ``train.stages``, resolved: its optimizer and schedule are explicit."""

    name: str
    epochs: Int = Field(ge=1)
    trainable: TrainableSpec
    optimizer: OptimizerSpec
    lr_schedule: LRScheduleSpec | None = None


class TrainSpec(_Strict):
    epochs: Int = Field(default=10, ge=1)
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    loss: str = "sparse_categorical_crossentropy"
    # The loss's constructor arguments (``label_smoothing``, a focal loss's ``gamma``); the
    # recipe writes them beside the name: ``loss: {name: ..., gamma: 2.0}``.
    loss_args: dict[str, Any] = Field(default_factory=dict)
    metrics: list[str] = Field(default_factory=lambda: ["accuracy"])
    # Loss weight per class: ``balanced`` (n / (classes x count)) or {class name: weight}.
    class_weight: Literal["balanced"] | dict[str, Annotated[float, Field(ge=0.0)]] | None = None
    early_stopping: EarlyStoppingSpec | None = None
    lr_schedule: LRScheduleSpec | None = None
    checkpoint: CheckpointSpec = Field(default_factory=CheckpointSpec)
    seed: Int | None = None
    device: str = "auto"
    mixed_precision: Literal["auto", "off", "float16", "bfloat16", "onednn_bfloat16"] = "auto"
    jit_compile: Literal["auto", "on", "off"] = "auto"
    distribute: Literal["auto", "none", "mirrored", "multi_worker"] = "auto"
    devices: list[str] | None = None
    stages: list[StageSpec] | None = None  # staged fine-tuning (dlcli.recipe.stages)

    @field_validator("jit_compile", "mixed_precision", mode="before")
    @classmethod
    def _yaml_switch_words(cls, value: Any) -> Any:
        # YAML 1.1 reads bare on/off/yes/no as booleans: `jit_compile: off` means "off".
        if value is True:
            return "on"
        if value is False:
            return "off"
        return value


class Recipe(_Strict):
    name: str
    seed: int = 42
    data: SerializeAsAny[DataSection] | None = None
    model: ModelSpec
    train: TrainSpec = Field(default_factory=TrainSpec)
    source: Path | None = None

    @field_validator("data", mode="before")
    @classmethod
    def _data_by_kind(cls, value: Any) -> Any:
        # A mapping is validated as its kind's section (the registry's union, which includes
        # kinds registered at run time); a ready section instance is kept as it is.
        if isinstance(value, dict):
            from dlcli.data.kinds import validate_data_section

            return validate_data_section(value)
        return value

    @property
    def effective_seed(self) -> int:
        return self.train.seed if self.train.seed is not None else self.seed

    def __eq__(self, other: object) -> bool:
        # Equal recipes describe the same run; ``source`` (the file it came from) is provenance.
        if not isinstance(other, Recipe):
            return NotImplemented
        fields = [f for f in type(self).model_fields if f != "source"]
        return all(getattr(self, f) == getattr(other, f) for f in fields)

    __hash__ = None  # type: ignore[assignment]

    def to_yaml(self) -> str:
        """The resolved recipe as YAML (explicit layers, absolute paths); loads back equal."""
        from dlcli.recipe.dump import recipe_to_yaml

        return recipe_to_yaml(self)
