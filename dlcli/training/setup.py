"""Everything created before the first step: strategy, data, model, optimizer.

Order matters and lives here only: the strategy comes first (MultiWorkerMirroredStrategy
must exist before any other TensorFlow work), then the precision policy, then seeds,
then data and model; model, optimizer and metrics are created inside ``strategy.scope()``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dlcli.errors import RecipeError


@dataclass
class Distribution:
    plan: Any
    strategy: Any


def start_strategy(train_spec: Any, device: str | None) -> Distribution:
    """Plan devices and create the strategy and precision policy (first TF work)."""
    from dlcli.devices import apply_precision, make_strategy, plan_execution, probe_devices

    plan = plan_execution(train_spec, device_override=device, visible=probe_devices())
    strategy = make_strategy(plan)
    apply_precision(plan)
    return Distribution(plan=plan, strategy=strategy)


def distribute(strategy: Any, dataset: Any) -> Any:
    """``experimental_distribute_dataset`` with data sharding (our datasets have no files)."""
    from dlcli.backend import tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = True
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


def steps_for(num_examples: int, global_batch_size: int) -> int:
    return max(1, math.ceil(num_examples / global_batch_size))


def make_optimizer(spec: Any, precision_policy: str) -> tuple[Any, float]:
    """The recipe's optimizer (wrapped for loss scaling under mixed_float16) and its rate."""
    from dlcli.backend import keras

    args = dict(spec.args or {})
    try:
        optimizer = keras.optimizers.get({"class_name": spec.name, "config": args})
    except (ValueError, TypeError) as exc:
        raise RecipeError(
            f"cannot create optimizer {spec.name!r}: {exc}",
            field="train.optimizer",
            expected="a Keras optimizer name (adam, sgd, rmsprop, adamw...) and its arguments",
            received={"name": spec.name, **args},
        ) from None
    base_lr = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    if precision_policy == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer, base_lr


def build_network(model_spec: Any, input_shape: tuple[int, ...], name: str) -> Any:
    from dlcli.devices import ensure_float32_output
    from dlcli.modeling.builder import build_model

    model = build_model(model_spec, input_shape, name=_model_name(name))
    return ensure_float32_output(model)


def _model_name(name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in name)
    return safe or "model"


def variables_of(model: Any, optimizer: Any, augment: Any = None) -> dict[str, list[Any]]:
    """The state a checkpoint holds: every model variable (incl. RNG seeds), the optimizer's,
    and the augmentation layers' RNG seed states (when there are any)."""
    found = {"model": list(model.variables), "optimizer": list(optimizer.variables)}
    if augment is not None and augment.variables:
        found["augment"] = list(augment.variables)
    return found


def read_values(variables: list[Any]) -> list[Any]:
    from dlcli.backend import keras

    return [keras.ops.convert_to_numpy(v.value if hasattr(v, "value") else v) for v in variables]


def assign_values(variables: list[Any], values: list[Any], what: str) -> None:
    from dlcli.errors import UsageError

    if len(variables) != len(values) or any(
        tuple(v.shape) != tuple(a.shape) for v, a in zip(variables, values, strict=False)
    ):
        raise UsageError(
            f"the checkpoint's {what} does not match this recipe's {what}",
            expected=f"{len(variables)} variables with the recipe's shapes",
            received=f"{len(values)} saved arrays",
            hint="resume with the same recipe (the run's recipe.yaml) or start a new run",
        )
    for var, value in zip(variables, values, strict=True):
        var.assign(value)
