"""``Backbone`` entries as Keras layers: a ``keras.applications`` model and its preprocessing.

Two registered, serialisable layers (their configs hold names and numbers, never code, so a
saved model loads with ``safe_mode=True``; :mod:`dlcli.modeling.safety` allows exactly
these two classes of this module):

- :class:`ApplicationPreprocessing`: turns dlcli's 0..255 float pixels into what the
  application's weights expect (``mode`` as in ``keras.applications.imagenet_utils``:
  ``caffe``, ``tf``, ``torch``, or ``none`` for families that rescale inside).
- :class:`Backbone`: the application without its classifier, built from its name for the
  incoming shape (checked against the application's limits first). With pretrained weights
  (``pretrained``: imagenet or a file) it is called with ``training=False`` always: its
  BatchNormalization layers keep the statistics they were trained with, whether the
  backbone is frozen or not (the Keras fine-tuning guide's behaviour, which a functional
  ``training=False`` no longer guarantees in Keras 3: an outer ``training=True`` overrides
  it). Without (``weights: null``, trained from scratch) it trains like any layer;
  ``bn_momentum`` then sets the momentum of the application's BatchNormalization layers
  (Keras' 0.999 lags far behind on a small data set, see :mod:`dlcli.recipe.backbones`).

Pretrained weights are loaded after the model is built (:func:`load_pretrained`), from
Keras' cache (``imagenet``, see :mod:`dlcli.modeling.backbone_weights`) or a local file.
"""

from __future__ import annotations

from typing import Any

from dlcli.backend import keras
from dlcli.recipe import backbones as table

# ImageNet statistics as keras.applications.imagenet_utils uses them.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)
MODES = tuple(table.PIXEL_RANGES)
# Entry keys that are the layer's own, not arguments of the keras.applications function.
NOT_APPLICATION_OPTIONS = ("application", "weights", "pooling", "trainable", "bn_momentum")


@keras.saving.register_keras_serializable(package="dlcli")
class ApplicationPreprocessing(keras.layers.Layer):
    """Pixels 0..255 -> the range an application's ImageNet weights were trained on."""

    def __init__(self, mode: str = "none", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"unknown preprocessing mode {mode!r}; expected one of {MODES}")
        self.mode = mode

    def call(self, inputs: Any) -> Any:
        ops = keras.ops
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "torch":
            return (x / 255.0 - ops.array(TORCH_MEAN, x.dtype)) / ops.array(TORCH_STD, x.dtype)
        if self.mode == "caffe":
            return ops.flip(x, axis=-1) - ops.array(CAFFE_MEAN_BGR, x.dtype)
        return x

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="dlcli")
class Backbone(keras.layers.Layer):
    """A ``keras.applications`` model (no classifier) behind its own preprocessing."""

    def __init__(
        self,
        application: str,
        pooling: str | None = "avg",
        options: dict[str, Any] | None = None,
        pretrained: bool = False,
        bn_momentum: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        info = table.get_backbone(application)
        if info is None:
            raise ValueError(f"unknown backbone {application!r}")
        if bn_momentum is not None and (pretrained or not 0.0 <= bn_momentum < 1.0):
            raise ValueError(
                f"bn_momentum must be >= 0 and < 1, for weights: null only; received "
                f"{bn_momentum!r} with {'pretrained' if pretrained else 'no'} weights"
            )
        self.bn_momentum = bn_momentum
        self.info = info
        self.application_name = application
        self.pooling = pooling
        self.options = dict(options or {})
        self.pretrained = bool(pretrained)
        self.preprocessing = ApplicationPreprocessing(info.preprocessing, name="preprocessing")
        self.application: Any = None

    def build(self, input_shape: Any) -> None:
        shape = tuple(input_shape[1:])
        problem = table.input_problem(self.info, shape, None)
        if problem:
            raise ValueError(problem)
        self.application = make_application(self.info, shape, self.pooling, self.options)
        if self.bn_momentum is not None and not set_bn_momentum(self.application, self.bn_momentum):
            raise ValueError(f"{self.application_name} has no BatchNormalization layers")
        self.application.trainable = self.trainable
        self.preprocessing.build(input_shape)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        # Pretrained: BatchNormalization keeps its moving statistics, frozen or not.
        mode = False if self.pretrained else training
        return self.application(self.preprocessing(inputs), training=mode)

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self.application is None:
            self.build(input_shape)
        return self.application.compute_output_shape(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "application": self.application_name,
            "pooling": self.pooling,
            "options": dict(self.options),
            "pretrained": self.pretrained,
            "bn_momentum": self.bn_momentum,
        }


def set_bn_momentum(model: Any, momentum: float) -> int:
    """Set every BatchNormalization layer's momentum in ``model`` (nested models too);
    returns how many there are."""
    count = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = float(momentum)
            count += 1
        elif isinstance(layer, keras.Model):
            count += set_bn_momentum(layer, momentum)
    return count


def make_application(
    info: table.BackboneInfo,
    shape: tuple[int | None, ...],
    pooling: str | None,
    options: dict[str, Any],
    *,
    weights: str | None = None,
) -> Any:
    """The application model by its table name (an allow-list: no name is looked up freely)."""
    fn = getattr(keras.applications, info.name)
    return fn(include_top=False, weights=weights, input_shape=shape, pooling=pooling, **options)


def backbone_layer(args: dict[str, Any], name: str) -> Backbone:
    """The layer for a resolved ``Backbone`` LayerSpec (weights come later)."""
    options = {k: v for k, v in args.items() if k not in NOT_APPLICATION_OPTIONS}
    return Backbone(
        args["application"],
        pooling=args.get("pooling", "avg"),
        options=options,
        trainable=bool(args.get("trainable", True)),
        pretrained=args.get("weights") is not None,
        bn_momentum=args.get("bn_momentum"),
        name=name,
    )
