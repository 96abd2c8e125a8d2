"""How many inputs a layer takes: no extra tensor may slip into a mask argument."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

from dlcli.cli import main
from dlcli.errors import ModelBuildError, RecipeError
from dlcli.recipe import catalog, load_recipe_text
from dlcli.recipe.spec import LayerSpec, ModelSpec, SourceRef

MHA_RECIPE = """\
name: mha
model:
  input: [5, 8]
  layers:
    - Dense: {{units: 8, name: x}}
    - MultiHeadAttention: {{num_heads: 2, key_dim: 4{inputs}}}
    - GlobalAveragePooling1D
    - Dense: 2
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(RecipeError) as info:
        load_recipe_text(text, "m.yaml")
    return [p.format() for p in info.value.problems]


def test_catalog_tensor_arguments_follow_keras_call_signatures() -> None:
    from dlcli.backend import keras

    params = list(inspect.signature(keras.layers.MultiHeadAttention.call).parameters)
    # Independent reading of Keras: query, value, key, then the masks.
    assert params[1:5] == ["query", "value", "key", "query_mask"]
    info = catalog.get_layer("MultiHeadAttention")
    assert info.call_args == ("query", "value", "key")
    assert info.required_call_args == 2
    for name in ("Dense", "Conv2D", "BatchNormalization", "LSTM", "Add", "Attention"):
        assert len(catalog.get_layer(name).call_args) == 1, name


@pytest.mark.parametrize("count", [4, 5, 7])
def test_more_inputs_than_tensor_arguments_is_refused_at_the_inputs_key(count: int) -> None:
    inputs = ", inputs: [" + ", ".join(["x"] * count) + "]"
    (problem,) = _problems(MHA_RECIPE.format(inputs=inputs))
    assert problem.startswith("m.yaml:6:")
    assert "model.layers[1].MultiHeadAttention.inputs" in problem
    assert f"takes 2 to 3 inputs (query, value, key); received {count}" in problem


def test_one_input_hints_self_attention() -> None:
    (problem,) = _problems(MHA_RECIPE.format(inputs=""))
    assert problem.startswith("m.yaml:6:")
    assert "received 1" in problem
    assert "inputs: [x, x]" in problem


def test_inside_a_block_too() -> None:
    text = (
        "name: b\nmodel:\n  input: [5, 8]\n  blocks:\n    att:\n"
        "      - MultiHeadAttention: {num_heads: 1, key_dim: 2, "
        "inputs: [block_input, block_input, block_input, block_input]}\n"
        "  layers:\n    - att: {repeat: 2}\n    - Flatten\n"
    )
    problems = _problems(text)
    assert len(problems) == 1 and "received 4" in problems[0], problems


def test_validate_no_build_refuses_it(tmp_path: Path, capsys) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MHA_RECIPE.format(inputs=", inputs: [x, x, x, x, x]"))
    assert main(["validate", "--no-build", str(path)]) == 2
    assert "received 5" in capsys.readouterr().err


def test_builder_refuses_a_spec_with_too_many_inputs() -> None:
    from dlcli.modeling.builder import build_model

    where = SourceRef(file="net.yaml", line=9, column=7, field="model.layers[1]")
    spec = ModelSpec(
        input=(5, 8),
        layers=[
            LayerSpec(
                type="MultiHeadAttention",
                args={"num_heads": 2, "key_dim": 4},
                name="mha",
                inputs=["input"] * 4,
                where=where,
            ),
            LayerSpec(type="Flatten", args={}, name="f", inputs=["mha"], where=where),
        ],
    )
    with pytest.raises(ModelBuildError) as info:
        build_model(spec)
    text = info.value.format()
    assert text.startswith("net.yaml:9:7: ") and "received 4" in text


def test_three_inputs_are_query_value_key() -> None:
    """The third input is Keras's ``key``: same outputs as a hand-written call."""
    from dlcli.backend import keras
    from dlcli.modeling.builder import build_model

    text = (
        "name: qvk\nmodel:\n  input: [5, 8]\n  layers:\n"
        "    - Dense: {units: 8, name: q}\n"
        "    - Dense: {units: 8, name: v, inputs: input}\n"
        "    - Dense: {units: 8, name: k, inputs: input}\n"
        "    - MultiHeadAttention: {num_heads: 2, key_dim: 4, inputs: [q, v, k], name: att}\n"
        "    - Flatten\n"
    )
    model = build_model(load_recipe_text(text, "q.yaml").model)
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    inp = keras.Input((5, 8))
    q, v, k = (keras.layers.Dense(8)(inp) for _ in range(3))
    flat = keras.layers.Flatten()
    mha = keras.layers.MultiHeadAttention(2, 4)
    oracle = keras.Model(inp, flat(mha(q, v, key=k)))
    oracle.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0), oracle.predict(x, verbose=0), 1e-5)
    # A different key changes the result, so the third input really is the key.
    other = keras.Model(inp, flat(mha(q, v)))  # same weights, value used as key
    assert not np.allclose(model.predict(x, verbose=0), other.predict(x, verbose=0))


def test_a_single_input_layer_given_two_is_refused_without_building() -> None:
    text = (
        "name: d\nmodel:\n  input: [4]\n  layers:\n"
        "    - Dense: {units: 4, name: a}\n"
        "    - Dense: {units: 4, name: b, inputs: input}\n"
        "    - Dense: {units: 2, inputs: [a, b]}\n"
    )
    (problem,) = _problems(text)
    assert problem.startswith("m.yaml:7:")
    assert "Dense takes one input, received 2" in problem
    assert "Add or Concatenate" in problem
    # Merging layers take a list: the same two inputs are fine there.
    load_recipe_text(text.replace("Dense: {units: 2, inputs", "Add: {inputs"), "m.yaml")
