"""Turn an ExecutionPlan into a tf.distribute strategy and a Keras precision policy."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from dlcli.devices.selection import ExecutionPlan

ONEDNN_BF16_OPTION = "auto_mixed_precision_onednn_bfloat16"


def make_strategy(plan: ExecutionPlan) -> Any:
    """Build the tf.distribute.Strategy the plan asks for.

    For ``multi_worker`` TF_CONFIG must already be in the environment (``install_tf_config``);
    creating the strategy blocks until every worker has joined.
    """
    from dlcli.backend import tf

    if plan.strategy_kind == "mirrored":
        devices = plan.devices
        cross = tf.distribute.ReductionToOneDevice() if devices[0].startswith("/cpu") else None
        return tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=cross)
    if plan.strategy_kind == "multi_worker":
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.NCCL
            if plan.devices and plan.devices[0].startswith("/gpu")
            else tf.distribute.experimental.CommunicationImplementation.RING
        )
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if plan.strategy_kind == "one_device":
        return tf.distribute.OneDeviceStrategy(plan.devices[0])
    return tf.distribute.get_strategy()


def apply_precision(plan: ExecutionPlan) -> None:
    """Set the global Keras dtype policy. Call before the model is built.

    Under a mixed policy the model's output must stay float32 for a stable loss:
    wrap the built model with ``ensure_float32_output``.
    """
    from dlcli.backend import keras

    keras.mixed_precision.set_global_policy(plan.precision_policy)


@contextlib.contextmanager
def global_precision_kept() -> Iterator[None]:
    """Put the global Keras dtype policy back as it was when the block ends.

    ``apply_precision`` sets it for one run; a process that trains several runs (``dlcli
    tune``, tests, a notebook) must not build its next model under the last run's policy.
    """
    from dlcli.backend import keras

    before = keras.mixed_precision.global_policy()
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)


def ensure_float32_output(model: Any) -> Any:
    """Return ``model`` with float32 outputs (appends a float32 linear Activation if needed)."""
    from dlcli.backend import keras

    outputs = model.outputs if isinstance(model.outputs, list) else [model.outputs]
    if all(str(o.dtype) == "float32" for o in outputs):
        return model
    cast = [
        keras.layers.Activation("linear", dtype="float32", name=f"float32_output_{i}")(o)
        if str(o.dtype) != "float32"
        else o
        for i, o in enumerate(outputs)
    ]
    return keras.Model(model.inputs, cast if len(cast) > 1 else cast[0], name=model.name)


@contextlib.contextmanager
def onednn_bfloat16(enabled: bool = True) -> Iterator[None]:
    """Run the ``tf.function`` calls inside with TensorFlow's oneDNN bfloat16 rewrite.

    The rewrite (a Grappler pass) turns a function graph's convolutions and matrix products
    into bfloat16 ops, with casts around them; variables stay float32. TensorFlow reads the
    option on each function call and keeps one instantiation per setting, so the training
    step can run rewritten while validation and prediction, called outside, run in float32.
    The previous setting is restored on exit.
    """
    if not enabled:
        yield
        return
    from dlcli.backend import tf

    before = tf.config.optimizer.get_experimental_options().get(ONEDNN_BF16_OPTION, False)
    tf.config.optimizer.set_experimental_options({ONEDNN_BF16_OPTION: True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({ONEDNN_BF16_OPTION: bool(before)})
