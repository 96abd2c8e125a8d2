"""Generate ``backbones.json``: every ``keras.applications`` model a recipe may use as a backbone.

Run ``python -m dlcli.recipe.gen_backbones`` after upgrading Keras and commit the result (it
takes about a minute: each application is built once without weights, in a stateless scope,
to count its parameters). A test compares the committed table with the installed Keras
(names, sizes, options) and recounts the smallest applications, so the two cannot drift.

Per application the table holds its module (the family), the smallest and the default input
size (recorded from its ``obtain_input_shape(default_size=, min_size=)`` call, the
numbers Keras itself enforces, or read from its source when it checks the size itself),
its extra options (``alpha``, ``minimalistic``...), its
parameter count without the classifier, and the preprocessing its weights expect
(:data:`PREPROCESSING`, reviewed by hand and tested against each family's
``preprocess_input``).
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from typing import Any

from dlcli.recipe.backbones import BACKBONES_PATH

FORMAT_VERSION = 1

# Family module -> how its ImageNet weights want pixels (dlcli feeds 0..255, float32).
# "caffe": RGB->BGR, minus the ImageNet channel means (0..255 scale); "tf": x/127.5 - 1;
# "torch": x/255, minus mean, over std per channel; "none": the model rescales by itself.
PREPROCESSING: dict[str, str] = {
    "convnext": "none",
    "densenet": "torch",
    "efficientnet": "none",
    "efficientnet_v2": "none",
    "inception_resnet_v2": "tf",
    "inception_v3": "tf",
    "mobilenet": "tf",
    "mobilenet_v2": "tf",
    "mobilenet_v3": "none",
    "nasnet": "tf",
    "resnet": "caffe",
    "resnet_v2": "tf",
    "vgg16": "caffe",
    "vgg19": "caffe",
    "xception": "tf",
}
# Constructor arguments dlcli sets itself, or that only concern the classifier it drops.
FIXED_ARGS = frozenset(
    {
        "include_top",
        "weights",
        "input_tensor",
        "input_shape",
        "pooling",
        "classes",
        "classifier_activation",
        "name",
        "model_name",
        "include_preprocessing",
        "dropout",
        "dropout_rate",
    }
)
# The family modules whose ImageNet weights need a static input shape (no None).
STATIC_WITH_IMAGENET = frozenset({"nasnet"})


def _build_recorded(keras: Any, fn: Any, size: int) -> tuple[dict[str, int], int, int]:
    """Build ``fn`` without weights (never allocated) and record its size limits.

    The limits are the ``default_size``/``min_size`` the application passes to Keras'
    ``obtain_input_shape``, the function that enforces them: recorded by wrapping it.
    Returns (limits, trainable, non-trainable parameters without the classifier).
    """
    import math

    from keras.src.applications import imagenet_utils

    from dlcli.modeling.builder import _weights_deferred

    real = imagenet_utils.obtain_input_shape
    limits: dict[str, int] = {}

    def recording(*args: Any, **kwargs: Any) -> Any:
        limits.update(default_size=kwargs["default_size"], min_size=kwargs["min_size"])
        return real(*args, **kwargs)

    imagenet_utils.obtain_input_shape = recording
    try:
        with _weights_deferred():
            model = fn(include_top=False, weights=None, input_shape=(size, size, 3))
            trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
            frozen = sum(math.prod(w.shape) for w in model.non_trainable_weights)
    finally:
        imagenet_utils.obtain_input_shape = real
    keras.backend.clear_session()
    if not limits:
        limits = _limits_in_source(fn)
    return limits, int(trainable), int(frozen)


def _limits_in_source(fn: Any) -> dict[str, int]:
    """MobileNetV3 checks its size itself: ``Input size must be at least 32x32``."""
    source = inspect.getsource(sys.modules[fn.__module__])
    low = re.search(r"Input size must be at least (\d+)x", source)
    default = re.search(r"_(\d+)_1\.0_float", source)  # its weights are named for 224 px
    if low is None or default is None:
        raise RuntimeError(f"{fn.__name__}: no size limits found in its source")
    return {"min_size": int(low.group(1)), "default_size": int(default.group(1))}


def _options(fn: Any) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.name in FIXED_ARGS or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        options[param.name] = param.default
    return options


def entry(keras: Any, name: str) -> dict[str, Any]:
    fn = getattr(keras.applications, name)
    module = fn.__module__.rsplit(".", 1)[-1]
    limits, trainable, frozen = _build_recorded(keras, fn, 75)
    return {
        "family": module,
        "min_size": limits["min_size"],
        "default_size": limits["default_size"],
        "static_with_imagenet": module in STATIC_WITH_IMAGENET,
        "preprocessing": PREPROCESSING[module],
        "params": trainable + frozen,
        "trainable_params": trainable,
        "options": _options(fn),
    }


def application_names(keras: Any) -> list[str]:
    """The model constructors ``keras.applications`` exports (capitalised names)."""
    return sorted(
        n
        for n in dir(keras.applications)
        if n[:1].isupper() and callable(getattr(keras.applications, n))
    )


def generate(names: list[str] | None = None) -> dict[str, Any]:
    import dlcli.backend  # noqa: F401  (sets KERAS_BACKEND before keras loads)
    from dlcli.backend import keras

    chosen = names or application_names(keras)
    return {
        "format": FORMAT_VERSION,
        "keras_version": keras.__version__,
        "backbones": {n: entry(keras, n) for n in chosen},
    }


def render(table: dict[str, Any]) -> str:
    def one_line(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    rows = ",\n".join(f"  {one_line(k)}: {one_line(v)}" for k, v in table["backbones"].items())
    head = [f" {one_line(k)}: {one_line(v)}" for k, v in table.items() if k != "backbones"]
    return "{\n" + ",\n".join([*head, f' "backbones": {{\n{rows}\n }}']) + "\n}\n"


def main() -> int:
    from dlcli.atomic import write_text

    table = generate()
    write_text(BACKBONES_PATH, render(table))
    print(f"wrote {BACKBONES_PATH}: {len(table['backbones'])} backbones", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
