"""Generate ``catalog.json``: the layer classes a recipe may name, with their arguments.

Run ``python -m dlcli.recipe.gen_catalog`` after upgrading Keras and commit the result.
A test regenerates the catalog in memory and compares it with the committed file, so the
two cannot drift apart silently.

The catalog is an allow-list: every public class in ``keras.layers`` that is a ``Layer``,
minus :data:`EXCLUDED` (layers that run code from their arguments or need Python objects
a YAML file cannot express). A new Keras class appears here only after regeneration, and
the builder looks classes up only through the catalog, never by arbitrary name.
"""

from __future__ import annotations

import inspect
import json
import math
import sys
from pathlib import Path
from typing import Any

CATALOG_PATH = Path(__file__).with_name("catalog.json")
FORMAT_VERSION = 1

# name -> why a recipe may not use it. Reviewed by hand: each entry is a decision.
EXCLUDED: dict[str, str] = {
    "Lambda": "runs arbitrary Python code",
    "TFSMLayer": "loads and runs a SavedModel from a path",
    "TorchModuleWrapper": "wraps (and unpickles) a PyTorch module",
    "JaxLayer": "calls an arbitrary JAX function",
    "FlaxLayer": "calls an arbitrary Flax module",
    "Layer": "abstract base class",
    "InputLayer": "the model input is set by `model.input` or the data section",
    "InputSpec": "not a layer",
    "Wrapper": "abstract base class for wrappers",
    "RNN": "needs a cell object; use LSTM, GRU or SimpleRNN",
    "StackedRNNCells": "needs cell objects as arguments",
    "Pipeline": "needs layer objects as arguments; list the layers instead",
    "GRUCell": "an RNN cell needs recurrent state; use GRU",
    "LSTMCell": "an RNN cell needs recurrent state; use LSTM",
    "SimpleRNNCell": "an RNN cell needs recurrent state; use SimpleRNN",
    "MaxNumBoundingBoxes": "works on bounding-box dictionaries, not image tensors",
    "HashedCrossing": "needs a tuple of categorical inputs",
}

# Wrapper layers: the constructor arguments that take a layer, written in a recipe as a
# nested layer entry (``Bidirectional: {layer: {LSTM: {units: 64}}}``).
LAYER_ARGS: dict[str, tuple[str, ...]] = {
    "Bidirectional": ("layer", "backward_layer"),
    "TimeDistributed": ("layer",),
    "SpectralNormalization": ("layer",),
}


def _json_default(value: Any) -> tuple[bool, Any]:
    """(True, JSON value) when ``value`` round-trips through JSON, else (False, repr)."""
    if value is None or isinstance(value, (bool, int, str)):
        return True, value
    if isinstance(value, float):
        return (True, value) if math.isfinite(value) else (False, repr(value))
    if isinstance(value, (tuple, list)):
        items = [_json_default(v) for v in value]
        if all(ok for ok, _ in items):
            return True, [v for _, v in items]
    return False, repr(value)


def _arg_entry(param: inspect.Parameter, kind: str) -> dict[str, Any]:
    required = param.default is inspect.Parameter.empty
    entry: dict[str, Any] = {"name": param.name, "required": required, "kind": kind}
    if not required:
        ok, value = _json_default(param.default)
        if ok:
            entry["default"] = value
        else:
            entry["default"] = None
            entry["default_repr"] = value
    return entry


def _category(module: str) -> str:
    parts = module.split(".")
    if "image_preprocessing" in parts:
        return "image_preprocessing"
    if len(parts) > 3 and parts[:3] == ["keras", "src", "layers"]:
        return parts[3]
    return "other"


def _doc(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    first = doc.strip().split("\n\n", 1)[0]
    return " ".join(first.split())


def _common_args(keras: Any) -> list[dict[str, Any]]:
    """Keyword arguments of ``keras.layers.Layer`` that reach it through ``**kwargs``."""
    sig = inspect.signature(keras.layers.Layer.__init__)
    return [
        _arg_entry(p, "common")
        for p in sig.parameters.values()
        if p.name != "self" and p.kind is p.KEYWORD_ONLY
    ]


def _is_control_arg(param: inspect.Parameter) -> bool:
    """Masks, recurrent state and flags: call arguments that are not the layer's data."""
    name = param.name
    return name in ("mask", "training") or name.endswith(("_mask", "_state"))


def _tensor_call_args(cls: type) -> tuple[list[str], int]:
    """The data tensors ``call`` takes as separate positional arguments, and how many it needs.

    These are the leading positional parameters: the required ones, then the optional ones
    that default to None (``MultiHeadAttention``'s ``key``), up to the first mask, state or
    flag. A recipe layer with more inputs than these would have its extra tensors passed
    positionally as masks, so the recipe checks refuse that.
    """
    names: list[str] = []
    required = 0
    for param in list(inspect.signature(cls.call).parameters.values())[1:]:
        if param.kind not in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            break
        if _is_control_arg(param):
            break
        if param.default is inspect.Parameter.empty:
            required += 1
        elif param.default is not None:
            break
        names.append(param.name)
    return names, required


def _call_options(cls: type, data_args: list[str]) -> dict[str, Any]:
    """Keyword options of ``call`` a recipe may set (``call: {use_causal_mask: true}``):
    the parameters after the data tensors whose default is a plain number, switch or word.
    Masks, states and ``training`` are left to Keras."""
    options: dict[str, Any] = {}
    for param in list(inspect.signature(cls.call).parameters.values())[1:]:
        if param.name in data_args or param.name == "training":
            continue
        if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        default = param.default
        if isinstance(default, (bool, int, float, str)):
            options[param.name] = default
    return options


def _layer_entry(public: str, cls: type, common: list[dict[str, Any]]) -> dict[str, Any]:
    sig = inspect.signature(cls.__init__)
    args: list[dict[str, Any]] = []
    first_arg = None
    accepts_kwargs = False
    for param in list(sig.parameters.values())[1:]:
        if param.kind is param.VAR_KEYWORD:
            accepts_kwargs = True
            continue
        if param.kind is param.VAR_POSITIONAL:
            continue
        kind = "keyword" if param.kind is param.KEYWORD_ONLY else "positional"
        if first_arg is None and kind == "positional":
            first_arg = param.name
        args.append(_arg_entry(param, kind))
    if accepts_kwargs:
        own = {a["name"] for a in args}
        args += [dict(c) for c in common if c["name"] not in own]
    call_args, required_call_args = _tensor_call_args(cls)
    extra: dict[str, Any] = {}
    if public in LAYER_ARGS:
        extra["layer_args"] = list(LAYER_ARGS[public])
    options = _call_options(cls, call_args)
    if options:
        extra["call_options"] = options
    return {
        "class": cls.__name__,
        "alias_of": cls.__name__ if cls.__name__ != public else None,
        "category": _category(cls.__module__),
        "doc": _doc(cls),
        "first_arg": first_arg,
        "accepts_kwargs": accepts_kwargs,
        "call_args": call_args,
        "required_call_args": required_call_args,
        "args": args,
        **extra,
    }


def _optimizers(keras: Any) -> dict[str, Any]:
    """Each recipe optimizer name -> its Keras class and the constructor arguments it takes.

    ``name`` is left out: in a recipe ``train.optimizer.name`` picks the optimizer.
    """
    from dlcli.recipe.sections import OPTIMIZERS

    result: dict[str, Any] = {}
    for name in OPTIMIZERS:
        cls = type(keras.optimizers.get(name))
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
        args = [
            p.name
            for p in params
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name != "name"
        ]
        result[name] = {"class": cls.__name__, "args": args}
    return result


def _dlcli_layers(common: list[dict[str, Any]]) -> dict[str, Any]:
    """dlcli's own layers (:data:`dlcli.modeling.custom_layers.LAYERS`), with their module."""
    from dlcli.modeling.custom_layers import LAYERS

    found = {}
    for public, cls in sorted(LAYERS.items()):
        entry = _layer_entry(public, cls, common)
        entry["category"] = "dlcli"
        entry["module"] = cls.__module__
        found[public] = entry
    return found


def generate() -> dict[str, Any]:
    """Introspect the installed Keras and return the catalog as a JSON-able dict."""
    import dlcli.backend  # noqa: F401  (sets KERAS_BACKEND before keras loads)
    from dlcli.backend import keras

    common = _common_args(keras)
    layers: dict[str, Any] = {}
    for public in sorted(n for n in dir(keras.layers) if not n.startswith("_")):
        obj = getattr(keras.layers, public)
        if public in EXCLUDED or not inspect.isclass(obj):
            continue
        if not issubclass(obj, keras.layers.Layer):
            continue
        layers[public] = _layer_entry(public, obj, common)
    layers.update(_dlcli_layers(common))
    return {
        "format": FORMAT_VERSION,
        "keras_version": keras.__version__,
        "common_args": common,
        "excluded": dict(sorted(EXCLUDED.items())),
        "layers": layers,
        "optimizers": _optimizers(keras),
    }


def render(catalog: dict[str, Any]) -> str:
    """JSON text with one line per layer: small, and diffs show which layers changed."""

    def one_line(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    entries = []
    for key, value in catalog.items():
        if key in ("layers", "optimizers"):
            items = ",\n".join(f"  {one_line(k)}: {one_line(v)}" for k, v in value.items())
            entries.append(f" {one_line(key)}: {{\n{items}\n }}")
        else:
            entries.append(f" {one_line(key)}: {one_line(value)}")
    lines = ["{", ",\n".join(entries), "}"]
    return "\n".join(lines) + "\n"


def main() -> int:
    from dlcli.atomic import write_text

    catalog = generate()
    write_text(CATALOG_PATH, render(catalog))
    print(f"wrote {CATALOG_PATH}: {len(catalog['layers'])} layers", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
