"""The layer catalog: generated from Keras, committed, read without TensorFlow."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

from dlcli.recipe import catalog, gen_catalog


def test_committed_catalog_matches_installed_keras() -> None:
    regenerated = gen_catalog.render(gen_catalog.generate())
    committed = catalog.CATALOG_PATH.read_text(encoding="utf-8")
    assert json.loads(regenerated) == json.loads(committed), (
        "catalog.json is stale: run `python -m dlcli.recipe.gen_catalog` and commit it"
    )


def test_arguments_agree_with_keras_signatures() -> None:
    from dlcli.backend import keras

    for name in ("Conv2D", "Dense", "Dropout", "BatchNormalization", "MultiHeadAttention"):
        params = inspect.signature(getattr(keras.layers, name).__init__).parameters
        own = {n for n, p in params.items() if n != "self" and p.kind is not p.VAR_KEYWORD}
        info = catalog.get_layer(name)
        assert info is not None
        assert own <= set(info.args)
        for arg in own:
            default = params[arg].default
            assert info.args[arg].required == (default is inspect.Parameter.empty)
    conv = catalog.get_layer("Conv2D")
    assert conv.args["filters"].required and conv.args["kernel_size"].required
    assert conv.args["padding"].default == "valid"
    assert conv.args["strides"].default == [1, 1]
    assert conv.first_arg == "filters"
    assert catalog.get_layer("Dropout").first_arg == "rate"
    assert catalog.get_layer("Activation").first_arg == "activation"


def test_common_arguments_are_really_accepted() -> None:
    from dlcli.backend import keras

    common = catalog.common_args()
    assert {"name", "dtype", "trainable"} <= set(common)
    layer = keras.layers.Dense(
        units=2, **{k: a.default for k, a in common.items() if k != "name"}, name="x"
    )
    assert layer.name == "x"
    assert "trainable" in catalog.get_layer("Flatten").args


def test_code_running_and_object_layers_are_not_allowed() -> None:
    names = set(catalog.layer_names())
    for refused in ("Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "Layer", "RNN"):
        assert refused not in names
        assert catalog.get_layer(refused) is None
        assert refused in catalog.excluded()
    assert {"Conv2D", "Dense", "Add", "Concatenate", "Rescaling", "RandomFlip"} <= names


def test_aliases_point_at_their_class() -> None:
    assert catalog.get_layer("MaxPool2D").alias_of == "MaxPooling2D"
    assert catalog.get_layer("MaxPooling2D").alias_of is None
    assert catalog.get_layer("MultiHeadAttention").multi_input_call
    assert not catalog.get_layer("Add").multi_input_call


def test_suggest_is_case_insensitive_and_fuzzy() -> None:
    assert catalog.suggest("conv2d") == ["Conv2D"]
    assert "Dense" in catalog.suggest("Denze")
    assert "BatchNormalization" in catalog.suggest("BatchNormalisation")
    assert catalog.suggest("qqqqqqqq") == []
    assert "filters" in catalog.suggest_arg("Conv2D", "filter")


def test_catalog_does_not_import_tensorflow() -> None:
    code = (
        "import sys; from dlcli.recipe import catalog as c; "
        "c.layer_names(); c.get_layer('Conv2D'); c.suggest('dense'); "
        "bad = [m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules]; "
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
