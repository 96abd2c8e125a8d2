"""The ``Backbone`` layer entry: a ``keras.applications`` model as one recipe layer (no TF).

``- Backbone: {name: MobileNetV2, weights: imagenet, pooling: avg, trainable: false}``.
``name`` names the application (``application:`` says the same; when it is given, ``name``
names the layer, as in any entry). ``weights`` is ``imagenet`` (Keras' download and cache),
null (random initialisation) or a path to a ``.weights.h5``/``.h5`` file (relative to the
recipe file). ``pooling`` is ``avg``, ``max`` or null (the feature map). ``trainable: false``
freezes the backbone. ``bn_momentum`` (weights: null only) sets the momentum of the
application's BatchNormalization layers (Keras builds them with 0.999, an average over about
a thousand steps: on a small data set the moving statistics then lag the weights, and the
mismatch compounds through the dozens of layers until validation sees constant features;
0.9 settles in tens of steps). Application options (``alpha``, ``minimalistic``...) are accepted as
in Keras. The classifier is never included, and the preprocessing the weights expect is put
in front of the backbone automatically (:data:`PIXEL_RANGES`).

The table of applications (``backbones.json``) is generated from Keras by
``python -m dlcli.recipe.gen_backbones``: validation and ``dlcli layers`` read it without
importing TensorFlow.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dlcli.recipe.yamlread import KeyPath

BACKBONES_PATH = Path(__file__).with_name("backbones.json")
ENTRY = "Backbone"  # the layer entry's name in a recipe
POOLING = ("avg", "max")
WEIGHT_SUFFIXES = (".weights.h5", ".h5")
# The Keras classes a Backbone entry becomes, and their module (the safety walk allows these).
LAYER_MODULES = {
    "Backbone": "dlcli.modeling.backbones",
    "ApplicationPreprocessing": "dlcli.modeling.backbones",
}
KEYS = ("name", "application", "weights", "pooling", "trainable", "bn_momentum", "inputs")
# What each preprocessing mode does to dlcli's 0..255 float pixels (docs and listings).
PIXEL_RANGES: dict[str, str] = {
    "tf": "scaled to -1..1 (x / 127.5 - 1)",
    "torch": "scaled to 0..1, then normalised with the ImageNet mean and std per channel",
    "caffe": "RGB turned into BGR, ImageNet channel means subtracted (0..255 scale)",
    "none": "0..255 as decoded: the model rescales inside",
}


@dataclass(frozen=True)
class BackboneInfo:
    name: str
    family: str  # the keras.applications module, e.g. mobilenet_v2
    min_size: int
    default_size: int
    static_with_imagenet: bool
    preprocessing: str  # a key of PIXEL_RANGES
    params: int
    trainable_params: int
    options: dict[str, Any]

    @property
    def pixel_range(self) -> str:
        return PIXEL_RANGES[self.preprocessing]

    @property
    def has_batch_norm(self) -> bool:
        """Its non-trainable parameters are BatchNormalization moving statistics (VGG and
        ConvNeXt have none: no BatchNormalization layers)."""
        return self.params != self.trainable_params

    @property
    def sizes_text(self) -> str:
        return (
            f"min {self.min_size}x{self.min_size}, default {self.default_size}x{self.default_size}"
        )


@lru_cache(maxsize=1)
def _raw() -> dict[str, Any]:
    with open(BACKBONES_PATH, encoding="utf-8") as fh:
        return json.load(fh)


def names() -> list[str]:
    return sorted(_raw()["backbones"])


@lru_cache(maxsize=128)
def get_backbone(name: str) -> BackboneInfo | None:
    entry = _raw()["backbones"].get(name)
    if entry is None:
        return None
    return BackboneInfo(name=name, **entry)


def suggest(name: str) -> list[str]:
    """Close application names, case-insensitively (``mobilenetv2`` -> ``MobileNetV2``)."""
    by_lower = {n.lower(): n for n in names()}
    if name.lower() in by_lower:
        return [by_lower[name.lower()]]
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)
    return [by_lower[c] for c in close]


def is_backbone_entry(key: Any) -> bool:
    return key == ENTRY


@dataclass
class ParsedBackbone:
    """A checked entry: the LayerSpec args, and the layer name/inputs as for any entry."""

    args: dict[str, Any]
    name: str | None
    inputs: Any


def parse_entry(value: Any, report: Any, base_dir: Path | None) -> ParsedBackbone | None:
    """Check ``- Backbone: {...}``; ``report(subpath, message, **kw)`` records a problem.

    The resolved args are ``application``, ``weights``, ``pooling``, ``trainable`` and the
    application options; a relative weights path is made absolute against ``base_dir``.
    """
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        report(
            (),
            "bad Backbone entry",
            expected="{name: MobileNetV2, weights: ..., ...}",
            received=value,
        )
        return None
    values = dict(value)
    layer_name = values.pop("name", None) if "application" in values else None
    app = values.pop("application", None) if "application" in values else values.pop("name", None)
    app_key = "application" if "application" in value else "name"
    info = _application(app, app_key, report)
    if info is None:
        return None
    ok = True
    args: dict[str, Any] = {"application": info.name}
    weights = values.pop("weights", None)
    checked = _weights(weights, report, base_dir)
    ok = ok and checked is not False
    args["weights"] = None if checked is False else checked
    pooling = values.pop("pooling", "avg")
    if pooling is not None and pooling not in POOLING:
        report(
            ("pooling",),
            "bad pooling",
            expected="avg, max or null (the feature map)",
            received=pooling,
        )
        ok = False
    args["pooling"] = pooling
    trainable = values.pop("trainable", True)
    if not isinstance(trainable, bool):
        report(("trainable",), "bad trainable", expected="true or false", received=trainable)
        ok = False
    args["trainable"] = trainable
    momentum = values.pop("bn_momentum", None)  # null: Keras' own (0.999)
    if momentum is not None:
        if _bn_momentum(momentum, info, args["weights"], report):
            args["bn_momentum"] = float(momentum)
        else:
            ok = False
    inputs = values.pop("inputs", None)
    for key, given in values.items():
        if key not in info.options:
            allowed = [*KEYS, *info.options]
            close = difflib.get_close_matches(str(key), allowed, n=1)
            report(
                (key,),
                f"unknown argument {key!r} for Backbone {info.name}",
                key=True,
                hint=f"did you mean {close[0]!r}?"
                if close
                else f"{info.name} takes {', '.join(allowed)}",
            )
            ok = False
            continue
        args[key] = given
    return ParsedBackbone(args, layer_name, inputs) if ok else None


def backbone_entry(parser: Any, value: Any, args_path: KeyPath, allow_inputs: bool) -> Any:
    """``LayerParser``'s ``_Entry`` for ``- Backbone: {...}``, or None (problems reported)."""
    from dlcli.recipe.layers import _Entry

    if not allow_inputs:
        parser.problem(args_path, "a Backbone cannot be an augmentation layer")
        return None
    positions = parser.positions
    base = Path(positions.file).parent if positions.file else None
    if (*args_path, "weights") in positions.overridden:
        base = Path.cwd()  # a path typed with --set is relative to where it was typed
    parsed = parse_entry(
        value, lambda sub, msg, **kw: parser.problem((*args_path, *sub), msg, **kw), base
    )
    if parsed is None:
        return None
    name = parser._name(parsed.name, (*args_path, "name"))
    inputs = None
    if parsed.inputs is not None:
        inputs = parser._inputs(parsed.inputs, (*args_path, "inputs"))
    if name is False or inputs is False:
        return None
    return _Entry(ENTRY, parsed.args, name or None, inputs or None, args_path[:-1])


def _application(app: Any, key: str, report: Any) -> BackboneInfo | None:
    if not isinstance(app, str):
        report(
            (key,) if app is not None else (),
            "Backbone needs the application's name",
            expected="a keras.applications model, e.g. {name: MobileNetV2}",
            received=app,
        )
        return None
    info = get_backbone(app)
    if info is None:
        close = suggest(app)
        report(
            (key,),
            f"unknown backbone {app!r}",
            hint=f"did you mean {' or '.join(repr(c) for c in close)}?"
            if close
            else "`dlcli layers` lists the backbones",
        )
    return info


def _bn_momentum(momentum: Any, info: BackboneInfo, weights: Any, report: Any) -> bool:
    """Is ``bn_momentum`` a number in [0, 1) for a from-scratch backbone with BatchNorm?"""
    number = not isinstance(momentum, bool) and isinstance(momentum, int | float)
    if not number or not 0.0 <= float(momentum) < 1.0:
        report(
            ("bn_momentum",),
            "bad bn_momentum",
            expected="a number >= 0 and < 1 (e.g. 0.9)",
            received=momentum,
            hint="1 means the moving statistics never learn from a batch",
        )
        return False
    if weights is not None:
        report(
            ("bn_momentum",),
            "bn_momentum applies to a backbone trained from scratch (weights: null)",
            expected="weights: null, or no bn_momentum",
            received=f"weights: {weights}",
            hint="with pretrained weights BatchNormalization runs in inference mode and "
            "keeps its statistics",
        )
        return False
    if not info.has_batch_norm:
        report(
            ("bn_momentum",),
            f"{info.name} has no BatchNormalization layers for bn_momentum to set",
        )
        return False
    return True


def _weights(weights: Any, report: Any, base_dir: Path | None) -> str | bool | None:
    if weights is None or weights == "imagenet":
        return weights
    if not isinstance(weights, str) or not weights.endswith(WEIGHT_SUFFIXES):
        report(
            ("weights",),
            "bad weights",
            expected="imagenet, null, or a path to a .weights.h5 or .h5 file",
            received=weights,
        )
        return False
    path = Path(os.path.expanduser(weights))
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return str(Path(os.path.normpath(path)))


def input_problem(info: BackboneInfo, shape: tuple[int | None, ...], weights: Any) -> str | None:
    """Why ``shape`` (H, W, C, no batch) cannot feed ``info``, or None if it can."""
    if len(shape) != 3:
        return f"{info.name} takes images (height, width, channels); received shape {shape}"
    height, width, channels = shape
    if channels != 3:
        return (
            f"{info.name} takes 3 colour channels (RGB); received {channels} "
            "(set data.color_mode: rgb)"
        )
    small = [d for d in (height, width) if d is not None and d < info.min_size]
    if small:
        return (
            f"{info.name} takes images of at least {info.min_size}x{info.min_size} pixels; "
            f"received {height}x{width} (set data.image_size, e.g. "
            f"[{info.default_size}, {info.default_size}])"
        )
    if weights == "imagenet" and info.static_with_imagenet and None in (height, width):
        return f"{info.name} with imagenet weights needs a fixed input size; received {shape}"
    return None


def entry_schema() -> dict[str, Any]:
    """The JSON Schema of a ``Backbone`` entry's mapping (for editors)."""
    options = sorted({o for entry in _raw()["backbones"].values() for o in entry["options"]})
    return {
        "description": "a keras.applications model without its classifier, preprocessing "
        "included; `dlcli layers Backbone` lists them",
        "type": "object",
        "properties": {
            "name": {
                "type": "string",
                "description": "the application (or the layer name when application is given)",
            },
            "application": {"enum": names()},
            "weights": {
                "anyOf": [
                    {"const": "imagenet"},
                    {"type": "null"},
                    {"type": "string", "pattern": r"\.h5$"},
                ]
            },
            "pooling": {"enum": [*POOLING, None]},
            "trainable": {"type": "boolean"},
            "bn_momentum": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
            "inputs": {
                "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
            },
            **{o: {} for o in options},
        },
        "additionalProperties": False,
    }
