"""summarize(): parameter counts against Keras, FLOPs against hand formulas."""

from __future__ import annotations

from dlcli.backend import keras
from dlcli.modeling.summary import summarize


def _by_name(summary):
    return {row.name: row for row in summary.layers}


def test_dense_and_conv_flops_follow_the_hand_formula() -> None:
    inp = keras.Input((10, 12, 3))
    x = keras.layers.Conv2D(8, (3, 5), strides=(1, 2), name="conv")(inp)  # no activation
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_relu")(x)
    x = keras.layers.Flatten(name="flat")(x)
    out = keras.layers.Dense(7, name="dense")(x)
    model = keras.Model(inp, out)
    rows = _by_name(summarize(model))
    # conv: output 8 x 4 positions, each a 3*5*3 multiply-add per filter, 2 FLOPs each.
    assert rows["conv"].output_shape == [None, 8, 4, 8]
    assert rows["conv"].flops == 2 * (8 * 4) * (3 * 5 * 3) * 8
    # fused relu: +1 per output element
    assert rows["conv_relu"].flops == 2 * (8 * 4) * (3 * 3 * 8) * 4 + 8 * 4 * 4
    assert rows["dense"].flops == 2 * (8 * 4 * 4) * 7
    assert rows["flat"].flops == 0


def test_dense_on_a_sequence_counts_every_position() -> None:
    inp = keras.Input((6, 5))
    model = keras.Model(inp, keras.layers.Dense(3, name="d")(inp))
    assert _by_name(summarize(model))["d"].flops == 2 * 6 * 5 * 3


def test_depthwise_separable_transpose_pooling_and_bn() -> None:
    inp = keras.Input((8, 8, 3))
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(inp)  # 6x6x6
    x = keras.layers.SeparableConv2D(5, 3, name="sep")(x)  # 4x4x5
    x = keras.layers.Conv2DTranspose(2, 3, name="tr")(x)  # 6x6x2 from 4x4 input
    x = keras.layers.MaxPooling2D(2, name="pool")(x)  # 3x3x2
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inp, x)
    rows = _by_name(summarize(model))
    assert rows["dw"].flops == 2 * 36 * (3 * 3 * 3 * 2)
    assert rows["sep"].flops == 2 * 16 * (3 * 3 * 6) + 2 * 16 * (6 * 5)
    assert rows["tr"].flops == 2 * 16 * (3 * 3 * 2 * 5)
    assert rows["pool"].flops == 3 * 3 * 2 * 4
    assert rows["bn"].flops == 2 * 3 * 3 * 2
    assert rows["gap"].flops == 3 * 3 * 2


def test_totals_agree_with_keras_and_dtypes() -> None:
    inp = keras.Input((4, 4, 2))
    x = keras.layers.Conv2D(3, 3, name="conv")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(2, name="head")(x)
    model = keras.Model(inp, out, name="tiny")
    model.get_layer("conv").trainable = False
    summary = summarize(model)
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    assert summary.total_params == model.count_params() == (54 + 3) + 12 + (12 * 2 + 2)
    assert summary.trainable_params == trainable == 6 + 26
    assert summary.non_trainable_params == model.count_params() - trainable
    assert summary.weight_bytes == 4 * model.count_params()  # float32
    assert summary.total_flops == sum(r.flops for r in summary.layers)
    assert summary.layers[0].index == 0 and summary.layers[0].type == "InputLayer"
    assert summary.output_shape == [None, 2]
    data = summary.to_dict()
    assert data["layers"][1]["name"] == "conv" and data["total_params"] == 95


def test_float16_weights_take_two_bytes() -> None:
    inp = keras.Input((3,))
    out = keras.layers.Dense(4, dtype="float16")(inp)
    model = keras.Model(inp, out)
    assert summarize(model).weight_bytes == 2 * model.count_params()


def test_sequential_and_nested_models() -> None:
    inner = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)], name="inner")
    assert [r.index for r in summarize(inner).layers] == [1]
    inp = keras.Input((5,))
    outer = keras.Model(inp, keras.layers.Dense(2)(inner(inp)))
    rows = summarize(outer).layers
    assert rows[1].type == "Sequential" and rows[1].params == 18
    assert rows[1].flops == 2 * 5 * 3
    assert summarize(outer).total_params == outer.count_params()
