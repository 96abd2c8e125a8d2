"""build_model against hand-written Keras models, and its error messages."""

from __future__ import annotations

import numpy as np
import pytest

from dlcli.backend import keras
from dlcli.errors import ModelBuildError
from dlcli.modeling.builder import build_model, instantiate_layer
from dlcli.recipe.spec import LayerSpec, ModelSpec, SourceRef


def layer(kind: str, name: str, *inputs: str, line: int = 5, **args) -> LayerSpec:
    where = SourceRef(file="net.yaml", line=line, column=7, field=f"model.layers[{line - 5}]")
    return LayerSpec(type=kind, args=args, name=name, inputs=list(inputs), where=where)


def test_graph_with_residual_and_concat_matches_hand_written_keras() -> None:
    spec = ModelSpec(
        input=(8, 8, 3),
        layers=[
            layer("Conv2D", "stem", "input", filters=4, kernel_size=3, padding="same"),
            layer("Conv2D", "a", "stem", filters=4, kernel_size=3, padding="same"),
            layer("Add", "res", "stem", "a"),
            layer("Conv2D", "b", "res", filters=2, kernel_size=1),
            layer("Concatenate", "cat", "res", "b"),
            layer("GlobalAveragePooling2D", "gap", "cat"),
            layer("Dense", "probs", "gap", units=5, activation="softmax"),
        ],
    )
    model = build_model(spec, name="net")
    inp = keras.Input((8, 8, 3))
    stem = keras.layers.Conv2D(4, 3, padding="same")(inp)
    res = keras.layers.Add()([stem, keras.layers.Conv2D(4, 3, padding="same")(stem)])
    cat = keras.layers.Concatenate()([res, keras.layers.Conv2D(2, 1)(res)])
    out = keras.layers.Dense(5, activation="softmax")(keras.layers.GlobalAveragePooling2D()(cat))
    oracle = keras.Model(inp, out)
    assert model.name == "net"
    assert model.count_params() == oracle.count_params() == 112 + 148 + 10 + 35
    assert [type(x).__name__ for x in model.layers][1:] == [
        "Conv2D",
        "Conv2D",
        "Add",
        "Conv2D",
        "Concatenate",
        "GlobalAveragePooling2D",
        "Dense",
    ]
    # Same weights -> same outputs: the wiring is the same, not just the counts.
    oracle.set_weights(model.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), oracle.predict(x, verbose=0), 1e-5)


def test_default_inputs_chain_and_input_shape_argument() -> None:
    spec = ModelSpec(layers=[layer("Dense", "h", units=4), layer("Dense", "o", units=2)])
    model = build_model(spec, (3,))
    assert model.count_params() == (3 * 4 + 4) + (4 * 2 + 2)
    with pytest.raises(ModelBuildError, match="no input shape") as info:
        build_model(spec)
    assert "model.input" in info.value.problem.hint


def _error(spec: ModelSpec) -> str:
    with pytest.raises(ModelBuildError) as info:
        build_model(spec)
    return str(info.value)


def test_dense_on_feature_map_names_layer_line_shape_and_hint() -> None:
    spec = ModelSpec(
        input=(8, 8, 1),
        layers=[
            layer("Conv2D", "conv", filters=4, kernel_size=3, line=6),
            layer("Dense", "probs", units=10, activation="softmax", line=7),
        ],
    )
    text = _error(spec)
    assert text.startswith("net.yaml:7:7: model.layers[2]: layer 2 'probs' (Dense)")
    assert "(None, 6, 6, 4)" in text
    assert "add Flatten or GlobalAveragePooling2D before Dense" in text


def test_dense_on_a_sequence_that_is_flattened_later_is_fine() -> None:
    spec = ModelSpec(
        input=(5, 3),
        layers=[layer("Dense", "d", units=4), layer("Flatten", "f"), layer("Dense", "o", units=2)],
    )
    assert build_model(spec).output.shape == (None, 2)


def test_add_of_different_shapes() -> None:
    spec = ModelSpec(
        input=(8, 8, 1),
        layers=[
            layer("Conv2D", "a", filters=4, kernel_size=3),
            layer("Conv2D", "b", "a", filters=8, kernel_size=3, padding="same"),
            layer("Add", "sum", "a", "b", line=9),
        ],
    )
    text = _error(spec)
    assert "net.yaml:9:7" in text and "'sum' (Add)" in text
    assert "(None, 6, 6, 4), (None, 6, 6, 8)" in text
    assert "same shape" in text and "1x1 Conv2D" in text


def test_concatenate_mismatch() -> None:
    spec = ModelSpec(
        input=(8, 8, 1),
        layers=[
            layer("Conv2D", "a", filters=4, kernel_size=3),
            layer("Conv2D", "b", "a", filters=4, kernel_size=3),
            layer("Concatenate", "cat", "a", "b", line=8),
        ],
    )
    text = _error(spec)
    assert "net.yaml:8:7" in text and "'cat' (Concatenate)" in text
    assert "(None, 6, 6, 4), (None, 4, 4, 4)" in text
    assert "except the concatenation axis" in text


def test_conv_on_too_few_dims() -> None:
    spec = ModelSpec(
        input=(8, 8, 1),
        layers=[
            layer("Flatten", "flat"),
            layer("Conv2D", "conv", filters=4, kernel_size=3, line=11),
        ],
    )
    text = _error(spec)
    assert "net.yaml:11:7" in text and "layer 2 'conv' (Conv2D)" in text
    assert "(None, 64)" in text and "needs a 4-D input" in text


def test_kernel_larger_than_input() -> None:
    spec = ModelSpec(input=(4, 4, 1), layers=[layer("Conv2D", "c", filters=2, kernel_size=5)])
    assert "padding: same" in _error(spec)


def test_bad_argument_values_and_names() -> None:
    bad_value = ModelSpec(input=(4,), layers=[layer("Dense", "d", units=-3)])
    text = _error(bad_value)
    assert "'d' (Dense)" in text and "units" in text and "net.yaml:5:7" in text
    bad_name = ModelSpec(input=(4,), layers=[layer("Dense", "d", unit=3)])
    assert "did you mean 'units'" in _error(bad_name)
    missing = ModelSpec(input=(4,), layers=[layer("Dense", "d")])
    assert "missing required argument 'units'" in _error(missing)


def test_only_catalog_layers_can_be_instantiated() -> None:
    for refused in ("Lambda", "Layer", "TFSMLayer", "__class__", "add"):
        with pytest.raises(ModelBuildError, match="unknown layer type"):
            instantiate_layer(LayerSpec(type=refused, name="x"))
    made = instantiate_layer(LayerSpec(type="MaxPool2D", name="p", args={"pool_size": 3}))
    assert isinstance(made, keras.layers.MaxPooling2D) and made.name == "p"


def test_wiring_errors() -> None:
    unused = ModelSpec(
        input=(4,),
        layers=[
            layer("Dense", "side", units=3),
            layer("Dense", "main", "input", units=2),
        ],
    )
    assert "'side' (Dense): its output is not used" in _error(unused)
    unknown = ModelSpec(input=(4,), layers=[layer("Dense", "d", "inptu", units=2)])
    assert "did you mean 'input'" in _error(unknown)
    one_input_add = ModelSpec(input=(4,), layers=[layer("Add", "s")])
    assert "needs at least 2 inputs" in _error(one_input_add)
    two_into_dense = ModelSpec(
        input=(4,),
        layers=[layer("Dense", "a", units=2), layer("Dense", "b", "input", "a", units=2)],
    )
    assert "takes one input, received 2" in _error(two_into_dense)


def test_attention_layers_get_separate_inputs() -> None:
    spec = ModelSpec(
        input=(6, 4),
        layers=[
            layer("MultiHeadAttention", "mha", "input", "input", num_heads=2, key_dim=3),
            layer("GlobalAveragePooling1D", "gap"),
        ],
    )
    model = build_model(spec)
    inp = keras.Input((6, 4))
    out = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)(inp, inp)
    oracle = keras.Model(inp, keras.layers.GlobalAveragePooling1D()(out))
    assert model.count_params() == oracle.count_params()


def test_build_error_from_an_argument_override_names_the_override(tmp_path) -> None:
    # The file says units: 8; the error must not point only at that line.
    from dlcli.recipe import load_recipe

    path = tmp_path / "r.yaml"
    path.write_text("name: o\nmodel:\n  input: [4]\n  layers:\n    - Dense: {units: 8}\n")
    recipe = load_recipe(path, overrides=["model.layers[0].Dense.units=-3"])
    with pytest.raises(ModelBuildError) as info:
        build_model(recipe.model)
    text = info.value.format()
    assert "r.yaml:5:7" in text
    assert "--set model.layers[0].Dense.units=-3" in text
    untouched = load_recipe(path, overrides=["name=p"]).model.layers[0].where
    assert "--set" not in (untouched.field or "")
