"""Recipe features text models need, each against hand-written Keras: wrapper layers with a
nested layer entry, ``call:`` options, an input dtype, and dlcli's TokenAndPositionEmbedding
(numpy oracle, saved and loaded in safe mode)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dlcli.backend import keras
from dlcli.errors import RecipeError, UnsafeModelError
from dlcli.modeling.builder import build_model
from dlcli.modeling.loading import load_model_file
from dlcli.recipe import load_recipe_text

WRAPPERS = """\
name: wrappers
model:
  input: [6]
  input_dtype: int32
  layers:
    - Embedding: {input_dim: 30, output_dim: 5}
    - Bidirectional: {layer: {LSTM: {units: 4, return_sequences: true}}, merge_mode: sum}
    - TimeDistributed: {layer: {Dense: {units: 3, activation: relu}}}
    - MultiHeadAttention:
        num_heads: 2
        key_dim: 3
        inputs: [time_distributed, time_distributed]
        call: {use_causal_mask: true}
    - GlobalAveragePooling1D
    - Dense: {units: 2, activation: softmax}
"""


def _hand_written(causal: bool) -> keras.Model:
    inp = keras.Input((6,), dtype="int32")
    x = keras.layers.Embedding(30, 5)(inp)
    x = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True), merge_mode="sum")(x)
    x = keras.layers.TimeDistributed(keras.layers.Dense(3, activation="relu"))(x)
    x = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)(x, x, use_causal_mask=causal)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(inp, keras.layers.Dense(2, activation="softmax")(x))


def test_wrappers_and_call_options_build_the_hand_written_model() -> None:
    recipe = load_recipe_text(WRAPPERS)
    model = build_model(recipe.model)
    assert model.inputs[0].dtype == "int32"
    assert [type(layer).__name__ for layer in model.layers][2:4] == [
        "Bidirectional",
        "TimeDistributed",
    ]
    causal, plain = _hand_written(True), _hand_written(False)
    assert model.count_params() == causal.count_params()
    causal.set_weights(model.get_weights())
    plain.set_weights(model.get_weights())
    ids = np.random.default_rng(0).integers(0, 30, size=(4, 6)).astype("int32")
    ours = model.predict(ids, verbose=0)
    np.testing.assert_allclose(ours, causal.predict(ids, verbose=0), rtol=1e-5, atol=1e-6)
    # The call option is applied: without the causal mask the outputs differ.
    assert not np.allclose(ours, plain.predict(ids, verbose=0), atol=1e-6)


def test_resolved_recipe_keeps_nested_layers_and_call_options() -> None:
    recipe = load_recipe_text(WRAPPERS)
    again = load_recipe_text(recipe.to_yaml())
    assert again == recipe
    wrapped = recipe.model.layers[1]
    assert wrapped.args["layer"] == {"LSTM": {"units": 4, "return_sequences": True}}
    assert recipe.model.layers[3].call == {"use_causal_mask": True}
    assert recipe.model.input_dtype == "int32"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "- MultiHeadAttention: {num_heads: 2, key_dim: 3, inputs: [e, e], "
            "call: {use_casual_mask: true}}",
            "unknown call argument 'use_casual_mask' for MultiHeadAttention",
        ),
        (
            "- MultiHeadAttention: {num_heads: 2, key_dim: 3, inputs: [e, e], "
            "call: {use_causal_mask: 3}}",
            "call argument 'use_causal_mask' has the wrong type",
        ),
        ("- Dense: {units: 2, call: {training: true}}", "unknown call argument 'training'"),
        ("- Bidirectional: {layer: {LSTMM: {units: 4}}}", "unknown layer 'LSTMM'"),
        ("- Bidirectional: {layer: {LSTM: {unitz: 4}}}", "unknown argument 'unitz' for LSTM"),
        ("- Bidirectional: {merge_mode: sum}", "Bidirectional needs the argument 'layer'"),
        (
            "- TimeDistributed: {layer: {Dense: {units: 2, inputs: [e]}}}",
            "'inputs' is not allowed here",
        ),
    ],
)
def test_bad_wrapper_and_call_entries_are_refused_with_the_place(entry: str, message: str) -> None:
    text = f"""\
name: bad
model:
  input: [4]
  layers:
    - Embedding: {{input_dim: 10, output_dim: 4, name: e}}
    {entry}
    - GlobalAveragePooling1D
    - Dense: 2
"""
    with pytest.raises(RecipeError) as info:
        load_recipe_text(text, "bad.yaml")
    assert message in str(info.value)
    assert "bad.yaml:6:" in str(info.value)


def test_input_dtype_string_and_bad_dtype() -> None:
    text = """\
name: s
model:
  input: []
  input_dtype: {dtype}
  layers:
    - TextVectorization: {{vocabulary: [a, b, c], output_mode: multi_hot}}
    - Dense: 2
"""
    model = build_model(load_recipe_text(text.format(dtype="string")).model)
    assert model.inputs[0].dtype == "string"
    out = model(np.array(["a c", "b"], dtype=object))
    assert out.shape == (2, 2)
    with pytest.raises(RecipeError, match="bad input dtype") as info:
        load_recipe_text(text.format(dtype="int64"), "d.yaml")
    assert "d.yaml:4:" in str(info.value)


TRANSFORMER = """\
name: tpe
model:
  input: [7]
  input_dtype: int32
  layers:
    - TokenAndPositionEmbedding: {vocabulary_size: 40, sequence_length: 7, embedding_dim: 6}
    - GlobalAveragePooling1D
    - Dense: 3
"""


def test_token_and_position_embedding_matches_numpy_and_loads_in_safe_mode(
    tmp_path: Path,
) -> None:
    model = build_model(load_recipe_text(TRANSFORMER).model)
    layer = model.layers[1]
    tokens, positions = (np.asarray(w) for w in layer.get_weights())
    assert tokens.shape == (40, 6) and positions.shape == (7, 6)
    ids = np.random.default_rng(1).integers(0, 40, size=(3, 7)).astype("int32")
    embedded = keras.Model(model.inputs, layer.output).predict(ids, verbose=0)
    np.testing.assert_allclose(embedded, tokens[ids] + positions[None, :, :], rtol=1e-6)
    # Same parameters as the two Embedding layers of the Keras text-transformer example.
    assert sum(int(np.prod(w.shape)) for w in layer.weights) == 40 * 6 + 7 * 6

    path = tmp_path / "tpe.keras"
    model.save(path)
    loaded = load_model_file(path)  # safe mode, dlcli's config walk
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), model.predict(ids, verbose=0))


def test_a_look_alike_class_from_another_module_is_still_refused(tmp_path: Path) -> None:
    model = build_model(load_recipe_text(TRANSFORMER).model)
    path = tmp_path / "tpe.keras"
    model.save(path)
    forged = tmp_path / "forged.keras"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(forged, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                text = json.dumps(config).replace('"dlcli.modeling.text_layers"', '"evil.module"')
                data = text.encode()
            dst.writestr(item, data)
    with pytest.raises(UnsafeModelError, match=r"refusing to load.*TokenAndPositionEmbedding"):
        load_model_file(forged)
