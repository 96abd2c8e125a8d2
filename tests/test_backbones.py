"""``Backbone`` entries: recipe checks, preprocessing, weights files, frozen training (issue 13).

Oracles: plain ``keras.applications`` models (built without weights, saved by Keras),
each family's own ``preprocess_input``, and numbers read back from the saved files.
Tests never download: ``weights: imagenet`` is only used offline, with an empty KERAS_HOME
and a proxy that refuses connections at once.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import make_image_folder

from dlcli.cli import main
from dlcli.errors import ModelBuildError, RecipeError
from dlcli.recipe import backbones as table
from dlcli.recipe import load_recipe

SMALL = "MobileNetV3Small"  # the smallest application: 0.94M parameters


def _recipe(tmp_path: Path, backbone: dict, *, head: list | None = None, **extra) -> Path:
    doc = {
        "name": "bb",
        "model": {
            "input": extra.pop("input", [32, 32, 3]),
            "layers": [{"Backbone": backbone}, *(head or [])],
        },
        **extra,
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def _error_of(path: Path) -> str:
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    return str(info.value)


# --------------------------------------------------------------------------- recipe (no TF)


def test_unknown_backbone_suggests_the_close_name_with_its_position(tmp_path: Path):
    path = _recipe(tmp_path, {"name": "MobileNetV4", "weights": None})
    text = _error_of(path)
    assert f"{path}:{_line_of(path, 'MobileNetV4')}:" in text
    assert "model.layers[0].Backbone.name" in text
    assert "unknown backbone 'MobileNetV4'" in text and "'MobileNetV2'" in text


def test_bad_backbone_arguments_are_each_reported(tmp_path: Path):
    path = _recipe(
        tmp_path,
        {"name": SMALL, "weights": "weights.bin", "pooling": "mean", "alpah": 0.5},
    )
    text = _error_of(path)
    assert "Backbone.weights: bad weights" in text and ".weights.h5 or .h5" in text
    assert "Backbone.pooling: bad pooling" in text
    assert "unknown argument 'alpah'" in text and "did you mean 'alpha'" in text


def test_a_backbone_is_no_augmentation_layer(tmp_path: Path):
    path = _recipe(
        tmp_path,
        {"name": SMALL, "weights": None},
        data={"kind": "images", "train": str(tmp_path), "augment": [{"Backbone": {"name": SMALL}}]},
    )
    assert "data.augment[0].Backbone: a Backbone cannot be an augmentation layer" in _error_of(path)


def test_resolved_recipe_names_the_application_and_loads_back_equal(tmp_path: Path):
    weights = tmp_path / "w" / "bb.weights.h5"
    path = _recipe(tmp_path, {"name": SMALL, "weights": "w/bb.weights.h5", "alpha": 0.75})
    recipe = load_recipe(path)
    layer = recipe.model.layers[0]
    assert layer.name == "backbone" and layer.type == "Backbone"
    assert layer.args == {
        "application": SMALL,
        "weights": str(weights),  # relative to the recipe file
        "pooling": "avg",
        "trainable": True,
        "alpha": 0.75,
    }
    again = tmp_path / "again.yaml"
    again.write_text(recipe.to_yaml(), encoding="utf-8")
    assert load_recipe(again) == recipe


def test_table_matches_the_installed_keras():
    """Names and options from keras.applications itself; sizes from its own source."""
    import importlib
    import inspect

    from dlcli.backend import keras
    from dlcli.recipe.gen_backbones import application_names

    assert table.names() == application_names(keras)
    assert len(table.names()) >= 38
    for name in table.names():
        info = table.get_backbone(name)
        params = inspect.signature(getattr(keras.applications, name)).parameters
        assert set(info.options) <= set(params), name
        family = {"resnet_v2": "resnet"}.get(info.family, info.family)  # ResNetV2 calls ResNet
        source = inspect.getsource(importlib.import_module(f"keras.src.applications.{family}"))
        low = info.min_size
        assert f"min_size={low}" in source or f"at least {low}x{low}" in source, name
    assert table.get_backbone("Xception").min_size == 71
    assert table.get_backbone("InceptionV3").min_size == 75
    assert table.get_backbone("EfficientNetB7").default_size == 600


def test_parameter_counts_are_those_of_keras_models():
    """The committed counts (used by `dlcli layers`) against models Keras builds now."""
    from dlcli.backend import keras

    for name in (SMALL, "MobileNetV2"):
        model = getattr(keras.applications, name)(
            include_top=False, weights=None, input_shape=(32, 32, 3)
        )
        info = table.get_backbone(name)
        assert info.params == model.count_params(), name
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        assert info.trainable_params == trainable, name


# --------------------------------------------------------------------------- preprocessing


@pytest.mark.parametrize("family", sorted({table.get_backbone(n).family for n in table.names()}))
def test_preprocessing_matches_each_familys_preprocess_input(family: str):
    from dlcli.backend import keras
    from dlcli.modeling.backbones import ApplicationPreprocessing

    mode = next(
        table.get_backbone(n).preprocessing
        for n in table.names()
        if table.get_backbone(n).family == family
    )
    pixels = np.random.default_rng(0).uniform(0, 255, size=(2, 8, 8, 3)).astype("float32")
    expected = getattr(keras.applications, family).preprocess_input(pixels.copy())
    got = keras.ops.convert_to_numpy(ApplicationPreprocessing(mode)(pixels))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)


# --------------------------------------------------------------------------- building


@pytest.fixture(scope="module")
def small_weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """A MobileNetV3Small without weights, built by Keras, saved with save_weights."""
    from dlcli.backend import keras

    model = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg"
    )
    path = tmp_path_factory.mktemp("w") / "small.weights.h5"
    model.save_weights(path)
    return path, model


def test_weights_from_a_file_give_the_original_outputs_and_survive_safe_loading(
    tmp_path: Path, small_weights
):
    from dlcli.modeling.builder import build_model
    from dlcli.modeling.loading import load_model_file

    path, original = small_weights
    recipe = load_recipe(_recipe(tmp_path, {"name": SMALL, "weights": str(path)}))
    model = build_model(recipe.model)
    x = np.random.default_rng(1).uniform(0, 255, size=(3, 32, 32, 3)).astype("float32")
    expected = original.predict(x, verbose=0)  # MobileNetV3 rescales inside: same input
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
    model.save(tmp_path / "m.keras")
    loaded = load_model_file(tmp_path / "m.keras")  # our config walk and safe_mode=True
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)


def test_keras_imagenet_style_h5_weights_load_by_layer_order(tmp_path: Path, small_weights):
    """The legacy .h5 layout of Keras' own ImageNet files, written by Keras' legacy saver."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    from dlcli.modeling.builder import build_model

    _, original = small_weights
    legacy = tmp_path / "small_no_top.h5"
    with h5py.File(legacy, "w") as fh:
        legacy_h5_format.save_weights_to_hdf5_group(fh, original)
    recipe = load_recipe(_recipe(tmp_path, {"name": SMALL, "weights": str(legacy)}))
    model = build_model(recipe.model)
    x = np.random.default_rng(2).uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), original.predict(x, verbose=0))


def test_weights_of_another_shape_are_refused_naming_the_first_misfit(tmp_path: Path):
    from dlcli.backend import keras
    from dlcli.modeling.builder import build_model

    def app(alpha: float):
        return keras.applications.MobileNetV3Small(
            include_top=False, weights=None, input_shape=(32, 32, 3), alpha=alpha
        )

    thin, wide = app(0.75), app(1.0)
    thin.save_weights(tmp_path / "thin.weights.h5")
    first = next(
        a.name
        for a, b in zip(wide.layers, thin.layers, strict=True)
        if [w.shape for w in a.weights] != [w.shape for w in b.weights]
    )
    recipe = load_recipe(_recipe(tmp_path, {"name": SMALL, "weights": "thin.weights.h5"}))
    with pytest.raises(ModelBuildError) as info:
        build_model(recipe.model)
    text = str(info.value)
    assert f"layer {first!r} expects weight shapes" in text
    assert f"r.yaml:{_line_of(tmp_path / 'r.yaml', '- Backbone')}:" in text
    assert "layer 1 'backbone' (Backbone)" in text


def test_input_smaller_than_the_minimum_exits_2_positioned(tmp_path: Path, capsys):
    path = _recipe(tmp_path, {"name": "InceptionV3", "weights": None}, input=[64, 64, 3])
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{_line_of(path, '- Backbone')}:" in err and "model.layers[0]" in err
    assert "at least 75x75" in err and "received 64x64" in err


def test_grayscale_input_is_refused_with_the_fix(tmp_path: Path, capsys):
    path = _recipe(tmp_path, {"name": SMALL, "weights": None}, input=[32, 32, 1])
    assert main(["validate", str(path)]) == 2
    assert "3 colour channels" in capsys.readouterr().err


def test_imagenet_offline_and_not_cached_names_file_url_and_folder(tmp_path: Path, run_dlcli):
    from keras.src.applications import mobilenet_v3

    home = tmp_path / "keras_home"
    home.mkdir()
    path = _recipe(tmp_path, {"name": SMALL, "weights": "imagenet"})
    refuse = "http://127.0.0.1:9"  # nothing listens there: the download fails at once
    env = {"KERAS_HOME": str(home), "https_proxy": refuse, "HTTPS_PROXY": refuse}
    env |= {"http_proxy": refuse, "HTTP_PROXY": refuse, "no_proxy": "", "NO_PROXY": ""}
    done = run_dlcli("validate", str(path), env=env, timeout=300)
    assert done.returncode == 2, done.stderr
    fname = "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"  # Keras' own pattern
    assert fname in done.stderr
    assert mobilenet_v3.BASE_WEIGHT_PATH + fname in done.stderr
    assert str(home / "models" / fname) in done.stderr
    assert "Traceback" not in done.stderr and not any((home / "models").iterdir())


def test_nasnet_with_imagenet_weights_needs_a_fixed_size_before_any_download(
    tmp_path: Path, capsys, monkeypatch
):
    home = tmp_path / "keras_home"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))  # nothing may land here
    path = _recipe(tmp_path, {"name": "NASNetMobile", "weights": "imagenet"}, input=[None, None, 3])
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "NASNetMobile with imagenet weights needs a fixed input size" in err
    assert f"{path}:{_line_of(path, '- Backbone')}:" in err
    assert not any((home / "models").iterdir())


@pytest.mark.parametrize("mode", list(table.PIXEL_RANGES))
def test_preprocessing_layer_saves_and_loads_in_safe_mode(tmp_path: Path, mode: str):
    from dlcli.backend import keras
    from dlcli.modeling.backbones import ApplicationPreprocessing
    from dlcli.modeling.loading import load_model_file

    inp = keras.Input((4, 4, 3))
    model = keras.Model(inp, ApplicationPreprocessing(mode)(inp))
    model.save(tmp_path / "p.keras")
    loaded = load_model_file(tmp_path / "p.keras")  # config walk + safe_mode=True
    x = np.random.default_rng(4).uniform(0, 255, size=(1, 4, 4, 3)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# --------------------------------------------------------------------------- training


def _train_backbone(tmp_path: Path, weights: Path, *, trainable: bool) -> Path:
    from dlcli.training import TrainOptions, train

    images = make_image_folder(tmp_path / "img", per_class=6, size=32, mode="RGB")
    doc = {
        "name": "frozen",
        "seed": 3,
        "data": {
            "kind": "images",
            "train": str(images),
            "image_size": [32, 32],
            "color_mode": "rgb",
            "batch_size": 4,
        },
        "model": {
            "layers": [
                {"Backbone": {"name": SMALL, "weights": str(weights), "trainable": trainable}},
                {
                    "Dense": {
                        "units": 2,
                        "activation": "softmax",
                        "kernel_initializer": "zeros",
                        "name": "head",
                    }
                },
            ]
        },
        "train": {"epochs": 1, "optimizer": {"name": "adam", "learning_rate": 0.01}},
    }
    path = tmp_path / "frozen.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    train(load_recipe(path), TrainOptions(out=tmp_path / "run"))
    return tmp_path / "run"


def _backbone_arrays(run: Path) -> tuple[list[list[np.ndarray]], np.ndarray]:
    from dlcli.modeling.loading import load_model_file

    model = load_model_file(run / "model.keras")
    inner = model.get_layer("backbone").application
    arrays = [[w.numpy() for w in layer.weights] for layer in inner.layers]  # in layer order
    return arrays, model.get_layer("head").kernel.numpy()


@pytest.fixture(scope="module")
def frozen_run(tmp_path_factory: pytest.TempPathFactory, small_weights) -> Path:
    return _train_backbone(tmp_path_factory.mktemp("frozen"), small_weights[0], trainable=False)


def test_frozen_backbone_keeps_every_weight_and_statistic_while_the_head_learns(
    frozen_run: Path, small_weights
):
    _, original = small_weights
    arrays, head = _backbone_arrays(frozen_run)
    for layer, saved in zip(original.layers, arrays, strict=True):
        for before, after in zip(layer.weights, saved, strict=True):
            np.testing.assert_array_equal(after, before.numpy(), err_msg=layer.name)
    assert np.abs(head).max() > 0  # started at zeros


def test_unfrozen_backbone_learns_but_batchnorm_keeps_its_moving_statistics(
    tmp_path: Path, small_weights
):
    """The Keras fine-tuning guide: BatchNormalization stays in inference mode."""
    path, original = small_weights
    arrays, _ = _backbone_arrays(_train_backbone(tmp_path, path, trainable=True))
    moved = still = 0
    for layer, saved in zip(original.layers, arrays, strict=True):
        for var, after in zip(layer.weights, saved, strict=True):
            same = np.array_equal(after, var.numpy())
            if "moving" in var.path:
                assert same, var.path
                still += 1
            elif var.trainable and not same:
                moved += 1
    assert still > 50 and moved > 50


# --------------------------------------------------------------------------- dlcli layers


def test_layers_lists_backbones_with_keras_parameter_counts_and_sizes(capsys):
    from dlcli.backend import keras

    model = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    assert main(["layers"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.strip().startswith(SMALL + " "))
    assert f"{model.count_params():,} parameters" in line
    assert "min 32x32, default 224x224" in line
    assert "Xception" in out and "min 71x71" in out
    assert main(["layers", "InceptionV3"]) == 0
    one = capsys.readouterr().out
    assert "min 75x75, default 299x299" in one and "-1..1" in one
    assert main(["layers", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[SMALL]["params"] == model.count_params() and rows["Conv2D"]["category"]


def test_a_backbone_trained_from_scratch_updates_its_batchnorm_statistics(tmp_path: Path):
    """weights: null has no statistics to keep: BatchNormalization trains as usual."""
    from dlcli.modeling.builder import build_model

    recipe = load_recipe(_recipe(tmp_path, {"name": SMALL, "weights": None}))
    model = build_model(recipe.model)
    inner = model.get_layer("backbone").application
    norm = next(layer for layer in inner.layers if "BatchNormalization" in type(layer).__name__)
    before = norm.moving_mean.numpy().copy()
    x = np.random.default_rng(3).uniform(0, 255, size=(4, 32, 32, 3)).astype("float32")
    model(x, training=True)
    assert not np.allclose(norm.moving_mean.numpy(), before)
    model.save(tmp_path / "m.keras")  # and still so after loading
    from dlcli.modeling.loading import load_model_file

    loaded = load_model_file(tmp_path / "m.keras")
    assert loaded.get_layer("backbone").pretrained is False


def test_bad_bn_momentum_is_refused_at_its_position(tmp_path: Path):
    path = _recipe(tmp_path, {"name": SMALL, "weights": None, "bn_momentum": 1.0})
    text = _error_of(path)
    assert f"{path}:{_line_of(path, 'bn_momentum')}:" in text
    assert "Backbone.bn_momentum: bad bn_momentum" in text and ">= 0 and < 1" in text
    pretrained = _recipe(tmp_path, {"name": SMALL, "weights": "imagenet", "bn_momentum": 0.9})
    assert "applies to a backbone trained from scratch (weights: null)" in _error_of(pretrained)
    vgg = _recipe(tmp_path, {"name": "VGG16", "weights": None, "bn_momentum": 0.9})
    assert "VGG16 has no BatchNormalization layers" in _error_of(vgg)


def test_bn_momentum_sets_every_batchnorm_of_the_application_and_survives_saving(
    tmp_path: Path,
):
    """One training-mode call: moving_mean = (1 - momentum) * batch mean for every layer, so
    momentum 0.9 moves it 100 times as far as plain Keras' 0.999 from the same weights."""
    from dlcli.backend import keras
    from dlcli.modeling.builder import build_model
    from dlcli.modeling.loading import load_model_file

    recipe = load_recipe(_recipe(tmp_path, {"name": SMALL, "weights": None, "bn_momentum": 0.9}))
    assert recipe.model.layers[0].args["bn_momentum"] == 0.9
    model = build_model(recipe.model)
    inner = model.get_layer("backbone").application
    plain = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    plain.set_weights(inner.get_weights())
    x = np.random.default_rng(5).uniform(0, 255, size=(8, 32, 32, 3)).astype("float32")
    model(x, training=True)
    plain(x, training=True)
    norms = [la for la in plain.layers if isinstance(la, keras.layers.BatchNormalization)]
    ours = {la.name: la for la in inner.layers}
    assert len(norms) > 30
    for norm in norms:
        np.testing.assert_allclose(
            ours[norm.name].moving_mean.numpy(),
            100 * norm.moving_mean.numpy(),
            rtol=1e-3,
            atol=1e-6,
            err_msg=norm.name,
        )
    model.save(tmp_path / "m.keras")
    loaded = load_model_file(tmp_path / "m.keras").get_layer("backbone").application
    momenta = [
        la.momentum for la in loaded.layers if isinstance(la, keras.layers.BatchNormalization)
    ]
    assert momenta == [0.9] * len(norms)


# --------------------------------------------------------------------------- inspect


def test_inspect_marks_the_frozen_backbone(frozen_run: Path, capsys):
    assert main(["inspect", str(frozen_run)]) == 0
    lines = capsys.readouterr().out.splitlines()
    backbone = next(line for line in lines if " backbone " in line)
    head = next(line for line in lines if " head " in line)
    assert "939,120 (frozen)" in backbone and "frozen" not in head
    assert main(["inspect", str(frozen_run), "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["layers"]}
    assert rows["backbone"]["frozen"] is True and rows["head"]["frozen"] is False
    assert rows["backbone"]["trainable_params"] == 0


def test_activations_show_the_backbone_stage_by_stage(frozen_run: Path, tmp_path: Path):
    from PIL import Image

    from dlcli.backend import keras

    image = tmp_path / "one.png"
    Image.fromarray(np.full((32, 32, 3), 200, dtype=np.uint8)).save(image)
    out = tmp_path / "acts"
    assert main(["inspect", str(frozen_run), "--activations", str(image), "--out", str(out)]) == 0
    app = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    strided = [  # each strided convolution starts a stage; the input size is the first
        int(layer.output.shape[1])
        for layer in app.layers
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))
        and max(layer.strides) > 1
    ]
    sizes = {32, *strided}
    assert sorted(sizes) == [1, 2, 4, 8, 16, 32]
    files = sorted(p.name for p in out.glob("*.npy"))
    stages = [f for f in files if ".stage" in f or "_stage" in f]
    assert len(stages) == len(sizes) and len(files) == len(sizes) + 2  # + backbone, head
    first = np.load(out / stages[0])
    assert first.shape[:2] == (32, 32) and np.load(out / stages[-1]).shape[:2] == (1, 1)


def test_inspect_counts_the_backbones_flops_as_its_application_does(frozen_run: Path):
    from dlcli.backend import keras
    from dlcli.modeling.loading import load_model_file
    from dlcli.modeling.summary import summarize

    app = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg"
    )
    rows = {r.name: r for r in summarize(load_model_file(frozen_run / "model.keras")).layers}
    assert rows["backbone"].flops == summarize(app).total_flops > 0
