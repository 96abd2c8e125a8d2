"""Parameterised blocks build the real architectures: recipes/resnet50.yaml and
recipes/mobilenetv2.yaml against keras.applications (weights=None: nothing is downloaded),
and a U-Net whose decoder block takes the encoder's skip layer as a parameter against the
same network written by hand in Keras.

The oracle check: same layer classes in the same order, the published parameter counts
(ResNet50 v1: 25,636,712; MobileNetV2 1.0: 3,538,984), and with the oracle's weights copied
layer by layer (shapes checked) the same outputs on random input.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from dlcli.backend import keras
from dlcli.modeling.builder import build_model
from dlcli.modeling.inputs import recipe_input_shape
from dlcli.recipe import load_recipe, load_recipe_text

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
L = keras.layers


def resnet50() -> keras.Model:
    return keras.applications.ResNet50(weights=None)


def mobilenetv2() -> keras.Model:
    return keras.applications.MobileNetV2(weights=None, alpha=1.0)


# recipe name -> (oracle, published parameter count); test_recipes_shipped checks that
# every recipe has an oracle somewhere.
ARCHITECTURE_ORACLES: dict[str, Callable[[], keras.Model]] = {
    "resnet50": resnet50,
    "mobilenetv2": mobilenetv2,
}
PUBLISHED_PARAMS = {"resnet50": 25_636_712, "mobilenetv2": 3_538_984}


def _randomise_batch_norm(model: keras.Model, seed: int) -> None:
    """Moving statistics and scales away from 0/1, so a wrongly copied one would show."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            gamma, beta, mean, var = (w.shape for w in layer.get_weights())
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma).astype("float32"),
                    rng.normal(0.0, 0.1, beta).astype("float32"),
                    rng.normal(0.0, 0.1, mean).astype("float32"),
                    rng.uniform(0.5, 1.5, var).astype("float32"),
                ]
            )


def _copy_weights(source: keras.Model, target: keras.Model) -> int:
    """Weighted layers in order; each pair must be the same class with the same shapes."""
    src = [layer for layer in source.layers if layer.weights]
    dst = [layer for layer in target.layers if layer.weights]
    assert len(src) == len(dst)
    for a, b in zip(src, dst, strict=True):
        assert type(a) is type(b), (a.name, b.name)
        assert [w.shape for w in a.weights] == [w.shape for w in b.weights], (a.name, b.name)
        b.set_weights(a.get_weights())
    return len(src)


def _features_and_output(model: keras.Model, x: np.ndarray) -> list[np.ndarray]:
    """The pooled features before the classifier (logit scale) and the softmax output."""
    both = keras.Model(model.input, [model.layers[-2].output, model.output])
    return [np.asarray(t) for t in both(x, training=False)]


@pytest.mark.parametrize("name", sorted(ARCHITECTURE_ORACLES))
def test_recipe_is_the_keras_application(name: str) -> None:
    recipe = load_recipe(RECIPES / f"{name}.yaml")
    assert len((RECIPES / f"{name}.yaml").read_text().splitlines()) < 80
    model = build_model(recipe.model, recipe_input_shape(recipe), name=recipe.name)
    oracle = ARCHITECTURE_ORACLES[name]()
    assert model.count_params() == oracle.count_params() == PUBLISHED_PARAMS[name]
    assert [type(layer).__name__ for layer in model.layers] == [
        type(layer).__name__ for layer in oracle.layers
    ]
    _randomise_batch_norm(oracle, seed=1)
    assert _copy_weights(oracle, model) > 50
    x = np.random.default_rng(2).uniform(-1.0, 1.0, (2, 224, 224, 3)).astype("float32")
    got, want = _features_and_output(model, x), _features_and_output(oracle, x)
    assert got[0].std() > 1e-3  # the features are not all alike: the comparison means something
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape
        assert np.max(np.abs(a - b)) < 1e-5 * max(1.0, float(np.max(np.abs(b))))


UNET = """\
name: unet
model:
  input: [16, 16, 1]
  blocks:
    down:
      params: [filters]
      layers:
        - Conv2D: {filters: "${filters}", kernel_size: 3, padding: same, activation: relu,
                   name: conv}
        - MaxPooling2D: 2
    up:                            # a decoder stage: the skip layer is a parameter
      params: [skip, {filters: 8}]
      layers:
        - UpSampling2D: 2
        - Concatenate: {inputs: [up_sampling2d, "${skip}"]}
        - Conv2D: {filters: "${filters}", kernel_size: 3, padding: same, activation: relu}
  layers:
    - down: {filters: 8, name: enc1}
    - down: {filters: 16, name: enc2}
    - Conv2D: {filters: 32, kernel_size: 3, padding: same, activation: relu, name: bottom}
    - up: {skip: enc2_conv, filters: 16}
    - up: {skip: enc1_conv}
    - Conv2D: {filters: 3, kernel_size: 1, activation: softmax}
"""


def unet() -> keras.Model:
    inp = keras.Input((16, 16, 1))
    skips, x = [], inp
    for filters in (8, 16):
        x = L.Conv2D(filters, 3, padding="same", activation="relu")(x)
        skips.append(x)
        x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(32, 3, padding="same", activation="relu")(x)
    for filters, skip in zip((16, 8), reversed(skips), strict=True):
        x = L.Concatenate()([L.UpSampling2D(2)(x), skip])
        x = L.Conv2D(filters, 3, padding="same", activation="relu")(x)
    return keras.Model(inp, L.Conv2D(3, 1, activation="softmax")(x))


def _input_layers(layer: keras.layers.Layer) -> list[str]:
    node = layer._inbound_nodes[0]
    return [t._keras_history.operation.name for t in node.input_tensors]


def test_unet_decoder_block_concatenates_the_skip_it_is_given() -> None:
    recipe = load_recipe_text(UNET, "unet.yaml")
    model = build_model(recipe.model, (16, 16, 1))
    merges = [layer for layer in model.layers if isinstance(layer, L.Concatenate)]
    assert [_input_layers(m) for m in merges] == [
        ["up_1_up_sampling2d", "enc2_conv"],
        ["up_2_up_sampling2d", "enc1_conv"],
    ]
    oracle = unet()
    assert model.count_params() == oracle.count_params()
    assert [type(layer).__name__ for layer in model.layers] == [
        type(layer).__name__ for layer in oracle.layers
    ]
    _copy_weights(oracle, model)
    x = np.random.default_rng(0).uniform(0.0, 1.0, (2, 16, 16, 1)).astype("float32")
    np.testing.assert_allclose(model(x), oracle(x), atol=1e-6)


def test_values_keep_their_type_and_text_is_substituted() -> None:
    text = """\
name: types
model:
  input: [8, 8, 3]
  blocks:
    conv:
      params: {kernel: [3, 1], order: last, filters: 4, act: null}
      layers:
        - Conv2D:
            filters: ${filters}
            kernel_size: ${kernel}
            data_format: channels_${order}
            activation: ${act}
            name: c
  layers:
    - conv
    - conv: {kernel: 5, act: relu, filters: 6}
"""
    layers = load_recipe_text(text, "types.yaml").model.layers
    assert [spec.args for spec in layers] == [
        {"filters": 4, "kernel_size": [3, 1], "data_format": "channels_last", "activation": None},
        {"filters": 6, "kernel_size": 5, "data_format": "channels_last", "activation": "relu"},
    ]
    assert [spec.name for spec in layers] == ["conv_1_c", "conv_2_c"]
    # a value is text, never evaluated: "${a} + 1" stays text with a's value in it
    more = text.replace("data_format: channels_${order}", "data_format: ${order} + 1")
    assert load_recipe_text(more, "t.yaml").model.layers[0].args["data_format"] == "last + 1"


def test_outside_layer_by_instance_name_and_block_input_default() -> None:
    text = """\
name: outer
model:
  input: [6]
  blocks:
    mix:
      params: {other: block_input, units: 4}
      layers:
        - Dense: {units: "${units}", name: d}
        - Concatenate: {inputs: [d, "${other}"]}
  layers:
    - Dense: {units: 3, name: first}
    - mix
    - mix: {other: mix_1, units: 2}
    - mix: {other: first}
"""
    got = [(s.name, s.inputs) for s in load_recipe_text(text, "o.yaml").model.layers]
    assert got == [
        ("first", ["input"]),
        ("mix_1_d", ["first"]),
        ("mix_1_concatenate", ["mix_1_d", "first"]),  # default: the block's own input
        ("mix_2_d", ["mix_1_concatenate"]),
        ("mix_2_concatenate", ["mix_2_d", "mix_1_concatenate"]),  # mix_1: its last layer
        ("mix_3_d", ["mix_2_concatenate"]),
        ("mix_3_concatenate", ["mix_3_d", "first"]),
    ]


def test_set_overrides_a_use_value_and_a_default() -> None:
    path = RECIPES / "resnet50.yaml"
    sets = [
        "model.layers[15].Dense.units=10",
        "model.blocks.identity.params.filters=32",  # a default no use relies on: no change
        "model.layers[6].projection.filters=32",
    ]
    recipe = load_recipe(path, sets)
    by_name = {spec.name: spec for spec in recipe.model.layers}
    assert by_name["conv2a_conv2d_1"].args["filters"] == 32
    assert by_name["conv2_1_conv2d"].args["filters"] == 64
    assert recipe.model.layers[-1].args["units"] == 10


def test_set_widens_a_shorthand_inside_a_parameterised_block() -> None:
    """`- ReLU: 6.0` in model.blocks.b.layers takes --set ....ReLU.max_value like any entry."""
    sets = ["model.blocks.residual.layers[2].ReLU.max_value=4.0"]
    recipe = load_recipe(RECIPES / "mobilenetv2.yaml", sets)
    relus = [s.args for s in recipe.model.layers if s.name.startswith("residual_1_re_lu")]
    assert relus == [{"max_value": 4.0}, {"max_value": 6.0}]


def test_json_schema_describes_parameterised_blocks() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    from dlcli.recipe import recipe_json_schema

    schema = recipe_json_schema()
    for text in (UNET, (RECIPES / "resnet50.yaml").read_text()):
        jsonschema.validate(yaml.safe_load(text), schema)
    bad_params = UNET.replace("params: [skip, {filters: 8}]", "params: 3")
    misspelt = UNET.replace("layers:\n        - UpSampling2D", "layer:\n        - UpSampling2D")
    typo = UNET.replace("- MaxPooling2D: 2", "- MaxPoling2D: {pool_size: 2}")
    for bad in (bad_params, misspelt, typo):
        assert bad != UNET
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(yaml.safe_load(bad), schema)
