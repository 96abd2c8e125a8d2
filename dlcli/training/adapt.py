"""Preprocessing layers that learn their state from the training data (Keras ``adapt``).

A ``Normalization`` layer built from a recipe holds mean 0 / variance 1 until it is
adapted: an identity that lets a model train on raw feature scales. Before the first step
every such layer is adapted on the *training* split (never validation), in model order, so
a layer sees the output of the layers before it. A layer whose state the recipe gives
(``Normalization: {mean: ..., variance: ...}``) is left alone.

Which layers need adapting, how to tell that the recipe already gave their state, and how
their state comes back on ``--resume`` is one :class:`Adapter` per layer class in a small
registry (:func:`register_adapter`); a layer with an ``adapt()`` method that has no adapter
is refused rather than trained unadapted. Adapted state held in variables (Normalization's
mean and variance) is restored from the checkpoint like any weight; state outside
variables (Discretization's bin boundaries) is kept in the run's records. A resumed run is
never adapted again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dlcli.backend import keras
from dlcli.errors import RecipeError
from dlcli.training.events import Notice

JsonValue = None | bool | int | float | str | list[Any] | dict[str, Any]


def _nothing(layer: Any) -> JsonValue:
    return None


def _finalize(layer: Any, state: JsonValue) -> None:
    layer.finalize_state()  # rebuild the tensors the layer computes from restored variables


def _call_adapt(layer: Any, batches: Any) -> None:
    layer.adapt(batches)


@dataclass(frozen=True)
class Adapter:
    """How dlcli adapts one kind of preprocessing layer."""

    preset: Callable[[Any], bool]  # True when the recipe gave the state: do not adapt
    describe: Callable[[Any], str]  # what adapting learned, for the run's output
    save: Callable[[Any], JsonValue] = _nothing  # state outside variables, for resume
    load: Callable[[Any, JsonValue], None] = _finalize  # put it back after a restore
    refuse: str | None = None  # set when dlcli cannot adapt this kind: what to do instead
    adapt: Callable[[Any, Any], None] = _call_adapt  # learn from batches of the layer's input


_ADAPTERS: list[tuple[type, Adapter]] = []


def register_adapter(layer_class: type, adapter: Adapter) -> None:
    """Register (or replace) how ``layer_class`` and its subclasses are adapted."""
    _ADAPTERS[:] = [(c, a) for c, a in _ADAPTERS if c is not layer_class]
    _ADAPTERS.insert(0, (layer_class, adapter))  # the most recent registration wins


def adapter_for(layer: Any) -> Adapter | None:
    """The layer's adapter; None for layers that learn nothing from data before training."""
    for layer_class, adapter in _ADAPTERS:
        if isinstance(layer, layer_class):
            return adapter
    if callable(getattr(layer, "adapt", None)):
        raise RecipeError(
            f"layer {layer.name!r} ({type(layer).__name__}) must be adapted to the data "
            "before training, and dlcli does not know how to adapt it",
            field="model.layers",
            expected="preprocessing layers dlcli adapts: "
            + ", ".join(sorted(c.__name__ for c, a in _ADAPTERS if a.refuse is None)),
            received=type(layer).__name__,
        )
    return None


@dataclass(frozen=True)
class AdaptedLayer:
    """One preprocessing layer's record (``metrics.json`` ``adapted``, checkpoint state)."""

    layer: str
    type: str
    adapted: bool  # False: the recipe gave the state
    examples: int = 0
    learned: str = ""
    state: JsonValue = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "type": self.type,
            "adapted": self.adapted,
            "split": "training" if self.adapted else None,
            "examples": self.examples,
            "learned": self.learned,
            "state": self.state,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AdaptedLayer:
        return cls(
            layer=str(data["layer"]),
            type=str(data["type"]),
            adapted=bool(data["adapted"]),
            examples=int(data.get("examples") or 0),
            learned=str(data.get("learned") or ""),
            state=data.get("state"),
        )

    def summary(self) -> str:
        if not self.adapted:
            return f"{self.type} layer {self.layer!r} uses the state given in the recipe"
        return (
            f"adapted {self.type} layer {self.layer!r} on {self.examples:,} training "
            f"examples: {self.learned}"
        )


def adaptable_layers(model: Any) -> list[tuple[Any, Adapter]]:
    """The model's layers that have an adapter, in model (topological) order."""
    found = []
    for layer in model.layers:
        adapter = adapter_for(layer)
        if adapter is not None:
            found.append((layer, adapter))
    return found


def adapt_model(model: Any, dataset: Any, num_examples: int) -> list[AdaptedLayer]:
    """Adapt every adaptable layer of ``model`` on ``dataset`` ((x, y) batches of the
    training split, unshuffled, not augmented), in model order."""
    records = []
    for layer, adapter in adaptable_layers(model):
        name = type(layer).__name__
        if adapter.preset(layer):
            records.append(AdaptedLayer(layer=layer.name, type=name, adapted=False))
            continue
        if adapter.refuse is not None:
            raise RecipeError(
                f"layer {layer.name!r} ({name}) cannot be adapted by dlcli",
                field="model.layers",
                expected=adapter.refuse,
                received=name,
            )
        adapter.adapt(layer, _inputs_of(model, layer, dataset))
        records.append(
            AdaptedLayer(
                layer=layer.name,
                type=name,
                adapted=True,
                examples=int(num_examples),
                learned=adapter.describe(layer),
                state=adapter.save(layer),
            )
        )
    return records


def restore_adapted(model: Any, records: list[dict[str, Any]]) -> None:
    """After a checkpoint restore: bring back each adapted layer's state (no re-adapting)."""
    adapted = {r.layer: r for r in map(AdaptedLayer.from_dict, records) if r.adapted}
    for layer, adapter in adaptable_layers(model):
        if layer.name in adapted:
            adapter.load(layer, adapted[layer.name].state)


def summaries(records: list[dict[str, Any]], resumed: bool) -> list[Notice]:
    """One line per adaptable layer for the run's output."""
    notices = []
    for record in map(AdaptedLayer.from_dict, records):
        line = record.summary()
        if resumed and record.adapted:
            line += " (when the run started; restored from the checkpoint, not adapted again)"
        notices.append(Notice(line))
    return notices


def _inputs_of(model: Any, layer: Any, dataset: Any) -> Any:
    """Batches of what ``layer`` receives: the model input, or the output of the layers
    before it (already adapted, run in inference mode)."""
    features = dataset.map(lambda x, y: x)
    named = isinstance(features.element_spec, dict)  # several inputs: x is a dict by name
    fed = [t.name for t in model.inputs if layer.input is t]
    if fed:  # the layer takes a model input itself
        return features.map(lambda x: x[fed[0]]) if named else features
    upstream = keras.Model(model.input if named else model.inputs, layer.input)
    return features.map(lambda x: upstream(x, training=False))


# -- the registry ------------------------------------------------------------------------


def _normalization_learned(layer: Any) -> str:
    import numpy as np

    mean = np.asarray(keras.ops.convert_to_numpy(layer.adapt_mean)).ravel()
    var = np.asarray(keras.ops.convert_to_numpy(layer.adapt_variance)).ravel()
    shown = ", ".join(f"{m:.4g}/{v:.4g}" for m, v in zip(mean[:3], var[:3], strict=True))
    more = f", ... ({mean.size} values)" if mean.size > 3 else ""
    return f"mean/variance {shown}{more}"


def _adapt_normalization(layer: Any, batches: Any) -> None:
    """Mean and population variance per kept axis, accumulated over batches in float64.

    Keras's own ``adapt`` accumulates in the layer's compute dtype: under ``mixed_float16``
    it fails on mixing float16 batches with float32 totals, and float16 would overflow on
    features of a few hundred anyway.
    """
    import numpy as np

    count, mean, m2 = 0, None, None
    for batch in batches:
        x = np.asarray(batch, dtype=np.float64)
        keep = {a % x.ndim for a in layer.axis}
        reduce = tuple(d for d in range(x.ndim) if d not in keep)
        n = int(np.prod([x.shape[d] for d in reduce]))
        if n == 0:
            continue
        b_mean, b_m2 = x.mean(axis=reduce), x.var(axis=reduce) * n
        if mean is None:
            count, mean, m2 = n, b_mean, b_m2
            continue
        total = count + n
        delta = b_mean - mean
        mean = mean + delta * (n / total)
        m2 = m2 + b_m2 + delta**2 * (count * n / total)
        count = total
    if mean is None:
        raise RecipeError(
            f"layer {layer.name!r} (Normalization) has no training data to adapt to",
            field="model.layers",
        )
    layer.adapt_mean.assign(np.reshape(mean, layer.adapt_mean.shape).astype("float32"))
    layer.adapt_variance.assign(
        np.reshape(m2 / count, layer.adapt_variance.shape).astype("float32")
    )
    layer.finalize_state()


def _set_bins(layer: Any, state: JsonValue) -> None:
    if isinstance(state, list):
        layer.bin_boundaries = [float(b) for b in state]


register_adapter(
    keras.layers.Normalization,
    Adapter(
        preset=lambda layer: layer.input_mean is not None,
        describe=_normalization_learned,
        adapt=_adapt_normalization,
    ),
)
register_adapter(
    keras.layers.Discretization,
    Adapter(
        preset=lambda layer: layer.get_config().get("num_bins") is None,  # bin_boundaries given
        describe=lambda layer: f"{len(layer.bin_boundaries)} bin boundaries",
        save=lambda layer: [float(b) for b in layer.bin_boundaries],
        load=_set_bins,
    ),
)
register_adapter(
    keras.layers.IntegerLookup,
    Adapter(
        preset=lambda layer: layer.get_config().get("vocabulary") is not None,
        describe=lambda layer: f"{layer.vocabulary_size()} entries",
        refuse="IntegerLookup: {vocabulary: [...]} with its vocabulary given in the recipe",
    ),
)


# -- text: vocabularies learned from the training split ----------------------------------


def _vocabulary_state(layer: Any) -> JsonValue:
    """The vocabulary (special tokens included, in index order) and, for TF-IDF, the
    inverse document frequencies: what a resumed run sets back."""
    import numpy as np

    state: dict[str, Any] = {"vocabulary": [str(t) for t in layer.get_vocabulary()]}
    lookup = getattr(layer, "_lookup_layer", layer)
    if getattr(lookup, "output_mode", None) == "tf_idf":
        idf = np.asarray(keras.ops.convert_to_numpy(lookup.idf_weights_const))
        state["idf_weights"] = [float(w) for w in idf[: len(state["vocabulary"])]]
    return state


def _set_vocabulary(layer: Any, state: JsonValue) -> None:
    if isinstance(state, dict) and isinstance(state.get("vocabulary"), list):
        layer.set_vocabulary(state["vocabulary"], idf_weights=state.get("idf_weights"))


def _adapt_vocabulary(layer: Any, batches: Any) -> None:
    layer.adapt(batches)
    _check_tf_idf_padding(layer)
    if layer.vocabulary_size() <= 2:  # only the padding and out-of-vocabulary tokens
        raise RecipeError(
            f"layer {layer.name!r} ({type(layer).__name__}) learned an empty vocabulary "
            "from the training split",
            field="model.layers",
            expected="training documents with words in them",
            hint="check data.train (and data.text for a table); lower min-count settings",
        )


def _check_tf_idf_padding(layer: Any) -> None:
    """Keras saves a padded TF-IDF layer whose vocabulary is smaller than ``max_tokens``
    with IDF weights it cannot load again (lengths differ): refuse before training."""
    config = layer.get_config()
    size, wanted = layer.vocabulary_size(), config.get("max_tokens")
    padded = config.get("output_mode") == "tf_idf" and config.get("pad_to_max_tokens")
    if padded and wanted and size < wanted:
        raise RecipeError(
            f"layer {layer.name!r} (TextVectorization) learned {size:,} tokens, fewer "
            f"than max_tokens={wanted:,}; with output_mode tf_idf and pad_to_max_tokens "
            "Keras saves a model it cannot load again",
            field="model.layers",
            expected=f"max_tokens <= {size:,}, or output_mode multi_hot or count",
            received=f"max_tokens={wanted:,}",
        )


for _vocabulary_layer in (keras.layers.TextVectorization, keras.layers.StringLookup):
    register_adapter(
        _vocabulary_layer,
        Adapter(
            preset=lambda layer: layer.get_config().get("vocabulary") is not None,
            describe=lambda layer: f"a vocabulary of {layer.vocabulary_size():,} tokens",
            save=_vocabulary_state,
            load=_set_vocabulary,
            adapt=_adapt_vocabulary,
        ),
    )
