"""Turn a resolved :class:`~dlcli.recipe.spec.ModelSpec` into a Keras functional model.

Layer classes are looked up only through the catalog allow-list
(:mod:`dlcli.recipe.catalog`), never by an arbitrary attribute name. Every failure is a
:class:`~dlcli.errors.ModelBuildError` naming the layer (position, name, type), the
recipe place it came from (``file:line:col`` and key path), the incoming shape(s) and,
where one is known, a hint. Keras exceptions never escape.

Positions count from 1 for the recipe's layers; 0 is the model input (as in
``dlcli inspect``).

The forgotten-Flatten rule: Keras applies ``Dense`` to the last axis of any tensor, so a
``Dense`` after a 4-D feature map builds fine and the mistake would surface only as a
confusing loss error at training time. dlcli models predict one label per sample (image
or CSV row), so their output must be ``(batch, units)``. Hence: if the model output has
rank > 2 *and* it was produced (through layers that kept rank > 2) from a ``Dense`` that
received a rank > 2 input, the build fails at that ``Dense`` with the hint to add
``Flatten`` or ``GlobalAveragePooling2D`` before it. A ``Dense`` on a sequence whose
result is later flattened or pooled is left alone.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from dlcli.errors import ModelBuildError
from dlcli.modeling import memory
from dlcli.modeling.inputs import InputShape, named_input_shapes
from dlcli.modeling.layer_parts import constructor_args, layer_class
from dlcli.modeling.memory import LayerParams
from dlcli.modeling.shape_hints import MERGING, shape_hint
from dlcli.modeling.wiring import check_inputs_used, model_outputs
from dlcli.recipe import backbones, catalog
from dlcli.recipe.spec import INPUT, LayerSpec, ModelSpec

_KERAS_NOISE = re.compile(r"\n\s*Arguments received by .*", re.S)
# Keras wraps a failing call as "Exception encountered when calling X.call().\n\nESC[1m...ESC[0m".
_KERAS_WRAPPING = re.compile(r"Exception encountered when calling [\w.]+\(\)\.|\x1b\[[0-9;]*m")


def _shape_text(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _keras_message(exc: BaseException) -> str:
    text = _KERAS_WRAPPING.sub("", _KERAS_NOISE.sub("", str(exc))).strip()
    text = " ".join(text.split())
    return text if len(text) <= 400 else text[:397] + "..."


def _error(
    message: str,
    spec: LayerSpec | None = None,
    *,
    position: int | None = None,
    hint: str | None = None,
    expected: str | None = None,
) -> ModelBuildError:
    where = spec.where if spec is not None else None
    if spec is not None:
        message = f"layer {position} '{spec.name}' ({spec.type}): {message}"
    return ModelBuildError(
        message,
        file=where.file if where else None,
        line=where.line if where else None,
        column=where.column if where else None,
        field=where.field if where else None,
        expected=expected,
        hint=hint,
    )


@dataclass
class _Flow:
    """A tensor plus the Dense that produced it from a rank > 2 input (forgotten Flatten)."""

    tensor: Any
    dense_on_map: tuple[int, LayerSpec, tuple[int | None, ...]] | None = None


def instantiate_layer(spec: LayerSpec, *, position: int | None = None) -> Any:
    """Create the Keras layer for ``spec`` (class from the catalog allow-list only)."""
    from dlcli.backend import keras

    if backbones.is_backbone_entry(spec.type):
        return _backbone_layer(spec, position)
    info = catalog.get_layer(spec.type)
    if info is None:
        close = catalog.suggest(spec.type)
        why = catalog.excluded().get(spec.type)
        return_hint = f"did you mean {', '.join(close)}?" if close else "see `dlcli layers`"
        raise _error(
            f"unknown layer type{': ' + why if why else ''}",
            spec,
            position=position,
            hint=None if why else return_hint,
        )
    unknown = [a for a in spec.args if a not in info.args]
    if unknown:
        close = catalog.suggest_arg(spec.type, unknown[0])
        raise _error(
            f"unknown argument {unknown[0]!r}",
            spec,
            position=position,
            hint=f"did you mean {close[0]!r}?"
            if close
            else f"see `dlcli layers {info.class_name}`",
        )
    missing = [a for a in info.required_args if a not in spec.args]
    if missing:
        raise _error(f"missing required argument {missing[0]!r}", spec, position=position)
    cls = layer_class(info)
    if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)):  # pragma: no cover
        raise _error("not a Keras layer class", spec, position=position)
    args = constructor_args(spec, info, lambda nested: instantiate_layer(nested, position=position))
    try:
        return cls(**args, name=spec.name)
    except Exception as exc:  # Keras raises ValueError/TypeError/others for bad values
        raise _error(
            f"invalid arguments: {_keras_message(exc)}",
            spec,
            position=position,
            hint=f"see `dlcli layers {info.class_name}`",
        ) from exc


def _backbone_layer(spec: LayerSpec, position: int | None) -> Any:
    from dlcli.modeling.backbones import backbone_layer

    try:
        return backbone_layer(spec.args, spec.name)
    except Exception as exc:
        raise _error(f"invalid arguments: {_keras_message(exc)}", spec, position=position) from exc


def _input_shape(spec: ModelSpec, input_shape: InputShape | None) -> Any:
    if spec.inputs:
        return named_input_shapes(spec, input_shape)
    shape = spec.input if spec.input is not None else input_shape
    if shape is None:
        raise ModelBuildError(
            "the model has no input shape",
            field="model.input",
            hint="set model.input (e.g. [32, 32, 1]) or a data section that determines it",
        )
    shape = tuple(shape)
    scalar_text = not shape and spec.input_dtype == "string"  # one string per example
    if (not shape and not scalar_text) or any(
        d is not None and (not isinstance(d, int) or d < 1) for d in shape
    ):
        raise ModelBuildError(
            "invalid input shape",
            field="model.input",
            expected="a list of positive integers (or null for a variable size)",
            received=list(shape),
        )
    return shape


def _static_shape(tensor: Any) -> tuple[int | None, ...]:
    return tuple(None if d is None else int(d) for d in tensor.shape)


def _call(layer: Any, spec: LayerSpec, position: int, incoming: list[Any]) -> Any:
    info = catalog.get_layer(spec.type)
    shapes = [_static_shape(t) for t in incoming]
    shape_text = ", ".join(_shape_text(s) for s in shapes)
    cls = info.class_name if info else spec.type
    merging = cls in MERGING or (info is not None and info.category == "merging")
    count_problem = info.input_count_problem(len(incoming)) if info else None
    if info is not None and count_problem:
        raise _error(
            f"{count_problem}: {shape_text}",
            spec,
            position=position,
            hint=info.input_count_hint(len(incoming)),
        )
    if merging and len(incoming) < 2:
        raise _error(
            f"needs at least 2 inputs, received 1 of shape {shape_text}",
            spec,
            position=position,
            hint="list them with inputs: [layer_a, layer_b]",
        )
    try:
        if len(incoming) == 1:
            return layer(incoming[0], **spec.call)
        if info is not None and info.multi_input_call:
            return layer(*incoming, **spec.call)
        return layer(incoming, **spec.call)
    except Exception as exc:
        text = _keras_message(exc)
        plural = "s" if len(shapes) > 1 else ""
        raise _error(
            f"does not fit input{plural} of shape {shape_text}: {text}",
            spec,
            position=position,
            hint=shape_hint(spec.type, shapes, text),
        ) from exc


def build_model(
    spec: ModelSpec, input_shape: InputShape | None = None, *, name: str = "model"
) -> Any:
    """Build the functional ``keras.Model`` for ``spec`` (input: ``spec.input`` or the arg;
    with ``model.inputs``, a shape per input name and a model taking a dict).

    A trial build without weights comes first, so a model too large to train here is
    refused (:func:`_check_memory`) before anything is allocated.
    """
    from dlcli.backend import keras

    if not spec.layers:
        raise ModelBuildError("the model has no layers", field="model.layers")
    shape = _input_shape(spec, input_shape)
    _check_memory(spec, shape)
    model_input = _model_inputs(spec, shape)
    tensors: dict[str, Any] = {}
    final, used = _connect(spec, model_input, every=tensors)
    _check_unused(spec, used | set((spec.outputs or {}).values()))
    check_inputs_used(spec, used)
    if final.dense_on_map is not None and not spec.outputs:
        position, dense_spec, in_shape = final.dense_on_map
        raise _error(
            f"Dense applied to a {len(in_shape)}-D input of shape {_shape_text(in_shape)}, "
            f"so the model output has shape {_shape_text(_static_shape(final.tensor))}",
            dense_spec,
            position=position,
            expected="a model output of shape (batch, units): one prediction per sample",
            hint="add Flatten or GlobalAveragePooling2D before Dense",
        )
    try:
        model = keras.Model(
            inputs=_as_model_inputs(model_input),
            outputs=model_outputs(spec, final.tensor, tensors),
            name=name,
        )
    except Exception as exc:
        raise ModelBuildError(f"cannot assemble the model: {_keras_message(exc)}") from exc
    from dlcli.modeling.backbone_weights import load_pretrained

    load_pretrained(model, spec.layers)  # Backbone entries' imagenet or file weights
    return model


def _model_input(shape: tuple, dtype: str | None = None, name: str = INPUT) -> Any:
    from dlcli.backend import keras

    where = "model.input" if name == INPUT else f"model.inputs.{name}"
    try:
        return keras.Input(shape=shape, name=name, dtype=dtype or "float32")
    except Exception as exc:
        raise ModelBuildError(f"invalid input shape: {_keras_message(exc)}", field=where) from exc


def _model_inputs(spec: ModelSpec, shape: Any) -> dict[str, Any]:
    """The Input tensors by name: ``input`` alone, or one per ``model.inputs`` entry."""
    if not spec.inputs:
        return {INPUT: _model_input(shape, spec.input_dtype)}
    return {name: _model_input(shape[name], each.dtype, name) for name, each in spec.inputs.items()}


def _as_model_inputs(inputs: dict[str, Any]) -> Any:
    """What ``keras.Model`` takes: the one tensor, or the dict (so ``x`` is a dict too)."""
    return inputs[INPUT] if list(inputs) == [INPUT] else inputs


def _connect(
    spec: ModelSpec,
    model_input: dict[str, Any],
    on_layer: Callable[[int, LayerSpec, Any], None] | None = None,
    every: dict[str, Any] | None = None,
) -> tuple[_Flow, set[str]]:
    """Create and call every layer in order; returns the last flow and the names used.
    ``model_input``: the Input tensors by name (``input``, or ``model.inputs``' names)."""
    flows: dict[str, _Flow] = {name: _Flow(t) for name, t in model_input.items()}
    used: set[str] = set()
    previous = next(iter(model_input))
    for position, layer_spec in enumerate(spec.layers, start=1):
        if layer_spec.name in flows:
            raise _error("duplicate layer name", layer_spec, position=position)
        names = list(layer_spec.inputs) or [previous]
        for ref in names:
            if ref not in flows:
                close = difflib.get_close_matches(ref, list(flows), n=1)
                raise _error(
                    f"input {ref!r} is not an earlier layer",
                    layer_spec,
                    position=position,
                    hint=f"did you mean {close[0]!r}?" if close else None,
                )
        used.update(names)
        incoming = [flows[n] for n in names]
        layer = instantiate_layer(layer_spec, position=position)
        out = _call(layer, layer_spec, position, [f.tensor for f in incoming])
        if on_layer is not None:
            on_layer(position, layer_spec, layer)
        if isinstance(out, (list, tuple)):
            out = out[0]  # e.g. attention with scores: the first output flows on
        flows[layer_spec.name] = _Flow(out, _dense_origin(layer_spec, position, incoming, out))
        previous = layer_spec.name
    if every is not None:  # each layer's output tensor by name (model.outputs)
        every.update({name: flow.tensor for name, flow in flows.items()})
    return flows[previous], used


def count_parameters(spec: ModelSpec, shape: Any) -> list[LayerParams]:
    """Each layer's parameter count, from a trial build whose weights are never allocated.

    The layers are created and called on symbolic tensors inside a ``StatelessScope``
    that defers variable creation; the deferred variables are then dropped. A layer that
    fails here ends the count (the real build reports the failure).
    """
    counts: list[LayerParams] = []

    def record(position: int, layer_spec: LayerSpec, layer: Any) -> None:
        trainable = sum(math.prod(w.shape) for w in layer.trainable_weights)
        frozen = sum(math.prod(w.shape) for w in layer.non_trainable_weights)
        counts.append(LayerParams(position, layer_spec.name, layer_spec.type, trainable, frozen))

    with _weights_deferred(), suppress(ModelBuildError):
        _connect(spec, _model_inputs(spec, shape), record)
    return counts


@contextmanager
def _weights_deferred() -> Iterator[None]:
    """Keras creates variables without values in a stateless scope; forget them after."""
    from dlcli.backend import keras

    state = keras.src.backend.common.global_state
    key = "uninitialized_variables"  # where Keras keeps them until the scope initialises them
    before = list(state.get_global_attribute(key) or [])
    try:
        with keras.StatelessScope(initialize_variables=False):
            yield
    finally:
        state.set_global_attribute(key, before)


def _check_memory(spec: ModelSpec, shape: Any) -> None:
    counts = count_parameters(spec, shape)
    need = memory.training_bytes(counts)
    available = memory.available_bytes()
    if not counts or available is None or need <= available:
        return
    big = max(counts, key=lambda c: c.training_bytes)
    raise _error(
        f"{big.total:,} parameters need {memory.size_text(big.training_bytes)} to train "
        f"(float32 weights, gradients and Adam state; the whole model "
        f"{memory.size_text(need)}), more than the {memory.size_text(available)} "
        "of memory available",
        spec.layers[big.position - 1],
        position=big.position,
        hint="use fewer units or filters here, or shrink its input first with pooling or strides",
    )


def _dense_origin(
    spec: LayerSpec, position: int, incoming: list[_Flow], out: Any
) -> tuple[int, LayerSpec, tuple[int | None, ...]] | None:
    if len(_static_shape(out)) <= 2:
        return None
    info = catalog.get_layer(spec.type)
    in_shape = _static_shape(incoming[0].tensor)
    if info is not None and info.class_name == "Dense" and len(in_shape) > 2:
        return (position, spec, in_shape)
    for flow in incoming:
        if flow.dense_on_map is not None:
            return flow.dense_on_map
    return None


def _check_unused(spec: ModelSpec, used: set[str]) -> None:
    """A layer whose output goes nowhere (and is not the output) is a wiring mistake."""
    for position, layer_spec in enumerate(spec.layers[:-1], start=1):
        if layer_spec.name not in used:
            raise _error(
                "its output is not used by any later layer",
                layer_spec,
                position=position,
                hint="name it in a later layer's inputs, or remove it; "
                "the model output is the last layer",
            )
