"""The training and validation steps: ``tf.function``s run through ``strategy.run``.

One code path for every strategy (default, one device, mirrored, multi-worker):

- the loss is the per-example loss averaged over the *global* batch
  (``tf.nn.compute_average_loss``) plus the model's own losses scaled by the number of
  replicas, so summing gradients over replicas gives the single-device gradient;
- metrics are Keras metric objects updated inside each replica (their variables sum over
  replicas when read);
- ``train_chunk`` runs K steps per call in a graph ``tf.while_loop``, pulling batches from
  the distributed iterator inside the graph, so Python runs once per K steps, not once per
  step; K is a tensor, so one trace (of one step) serves every chunk size. It reports the
  first step whose loss was not finite.
- with ``onednn_bfloat16`` (chosen by ``mixed_precision: auto`` on CPUs with AMX), only the
  training chunks run under TensorFlow's oneDNN bfloat16 rewrite; validation runs in
  float32, so its numbers match ``dlcli evaluate`` on the saved model;
- every ``tf.function`` is traced with ``autograph=False``: there is no data-dependent
  Python control flow to convert, and autograph's conversion of everything the steps call
  cost about a second per run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dlcli.backend import keras, tf
from dlcli.devices import onednn_bfloat16
from dlcli.errors import RecipeError
from dlcli.targets import TargetRecord, target_of
from dlcli.training.losses import per_example_loss
from dlcli.training.schedules import Schedule

_ACCURACY = ("accuracy", "acc")


def as_float(x: Any) -> Any:
    """Image batches arrive as uint8 (a quarter of float32's bytes from the input pipeline);
    the model takes float32 0..255, converted here, inside the compiled step."""
    if isinstance(x, dict):  # several named inputs (model.inputs)
        return {name: as_float(value) for name, value in x.items()}
    return tf.cast(x, tf.float32) if x.dtype.is_integer else x


def make_metrics(
    names: Sequence[str], loss_name: str, prefix: str = "", *, target: TargetRecord | None = None
) -> list[Any]:
    """Keras metric objects; ``accuracy`` resolves by the loss, as ``compile`` does, and
    the target's own names (``micro_f1``, ``rmse``) by the target."""
    kind = target_of(target)
    parts = kind.parts(target) if target is not None else None
    if parts:  # several outputs: each output's loss and metrics
        from dlcli.training.outputs import output_metrics

        return output_metrics(parts, prefix)
    metrics = []
    lname = loss_name.lower().replace("_", "")
    for name in names:
        own = kind.metric(name, target, prefix) if target is not None else None
        if own is not None:
            m = own
        elif name.lower() in _ACCURACY and kind.classifies and "categorical" in lname:
            m = keras.metrics.SparseCategoricalAccuracy(name=prefix + "accuracy")
        elif name.lower() in _ACCURACY:
            if "sparsecategorical" in lname:
                m = keras.metrics.SparseCategoricalAccuracy(name=prefix + "accuracy")
            elif "binary" in lname:
                m = keras.metrics.BinaryAccuracy(name=prefix + "accuracy")
            else:
                m = keras.metrics.CategoricalAccuracy(name=prefix + "accuracy")
        else:
            try:
                proto = keras.metrics.get(name)
            except (ValueError, TypeError) as exc:
                raise RecipeError(
                    f"unknown metric {name!r}",
                    field="train.metrics",
                    expected="Keras metric names such as accuracy or top_k_categorical_accuracy",
                    received=name,
                ) from exc
            if isinstance(proto, keras.metrics.Metric):
                config = {**proto.get_config(), "name": prefix + name}
                m = type(proto).from_config(config)
            else:  # a plain function: average it over examples
                m = keras.metrics.MeanMetricWrapper(proto, name=prefix + name)
        metrics.append(m)
    return metrics


class StepFunctions:
    """Compiled train/validation steps for one model, optimizer and strategy.

    Build inside ``strategy.scope()`` (the metric variables must be distributed).
    """

    def __init__(
        self,
        *,
        strategy: Any,
        model: Any,
        optimizer: Any,
        loss_name: str,
        metric_names: Sequence[str],
        loss_args: dict[str, Any] | None = None,
        target: TargetRecord | None = None,
        global_batch_size: int,
        schedule: Schedule | None,
        jit_compile: bool = False,
        augment: Any | None = None,
        onednn_bfloat16: bool = False,
    ) -> None:
        self.strategy = strategy
        self.model = model
        self.optimizer = optimizer
        self.augment = augment  # layers applied to training batches inside the step
        self.onednn_bfloat16 = bool(onednn_bfloat16)  # training steps only; validation float32
        self.loss_fn = per_example_loss(loss_name, loss_args, target)
        self.global_batch_size = int(global_batch_size)
        self.schedule = None if schedule is None or schedule.is_constant else schedule
        self.scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        self.train_metrics = [
            keras.metrics.Mean(name="loss"),
            *make_metrics(metric_names, loss_name, target=target),
        ]
        self.val_metrics = [
            keras.metrics.Mean(name="val_loss"),
            *make_metrics(metric_names, loss_name, prefix="val_", target=target),
        ]
        # autograph=False: the steps have no data-dependent Python control flow, and
        # converting them (and everything they call) cost about a second of tracing.
        self._forward_backward = tf.function(
            self._gradients, jit_compile=bool(jit_compile), autograph=False
        )
        self._train_chunk = tf.function(self._train_loop, autograph=False, reduce_retracing=True)
        self.validate = tf.function(self._validate, autograph=False, reduce_retracing=True)

    # -- replica functions ---------------------------------------------------------------

    def _per_example(self, y: Any, pred: Any) -> Any:
        per_example = tf.cast(self.loss_fn(y, pred), tf.float32)
        rank = per_example.shape.rank or 0
        if rank > 1:  # e.g. per-pixel losses: one value per example
            per_example = tf.reduce_mean(per_example, axis=list(range(1, rank)))
        return per_example

    def _gradients(self, x: Any, y: Any, weight: Any = None) -> tuple[Any, Any, Any]:
        model = self.model
        with tf.GradientTape() as tape:
            pred = model(x, training=True)
            per_example = self._per_example(y, pred)
            if weight is not None:  # class_weight / sample_weight: as Keras weighs a batch
                per_example = per_example * tf.cast(weight, per_example.dtype)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch_size)
            reg = tf.add_n(model.losses) if model.losses else tf.constant(0.0)
            loss += tf.nn.scale_regularization_loss(reg)
            target = self.optimizer.scale_loss(loss) if self.scaled else loss
        grads = tape.gradient(target, model.trainable_variables)
        return grads, per_example + reg, pred

    def _replica_train(self, x: Any, y: Any, weight: Any = None) -> Any:
        x = as_float(x)
        if self.augment is not None:
            x = self.augment(x, training=True)
        grads, losses, pred = self._forward_backward(x, y, weight)
        if self.model.trainable_variables:  # a stage may train nothing (trainable: none)
            self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables, strict=True))
        self.train_metrics[0].update_state(losses)
        for m in self.train_metrics[1:]:
            m.update_state(y, pred)
        # This replica's share of the global mean loss; summed over replicas below.
        return tf.reduce_sum(losses) / self.global_batch_size

    def _replica_validate(self, x: Any, y: Any) -> None:
        pred = self.model(as_float(x), training=False)
        losses = self._per_example(y, pred)
        if self.model.losses:
            losses += tf.add_n(self.model.losses)
        self.val_metrics[0].update_state(losses)
        for m in self.val_metrics[1:]:
            m.update_state(y, pred)

    # -- cross-replica loops ---------------------------------------------------------------

    def train_chunk(self, iterator: Any, steps: int) -> Any:
        """Run ``steps`` steps in one compiled call (one trace serves every count).

        Returns the 1-based index of the first step whose loss was not finite, or 0.
        """
        with onednn_bfloat16(self.onednn_bfloat16):
            return self._train_chunk(iterator, tf.constant(int(steps), tf.int32))

    @property
    def traced(self) -> bool:
        return bool(self._train_chunk.experimental_get_tracing_count())

    def trace(self, iterator: Any) -> None:
        """Trace the training chunk without running a step, so the caller can say it is
        tracing (seconds, during which no step completes); ``train_chunk`` then reuses it."""
        with onednn_bfloat16(self.onednn_bfloat16):
            self._train_chunk.get_concrete_function(iterator, tf.TensorSpec([], tf.int32))

    def _train_loop(self, iterator: Any, steps: Any) -> Any:
        """A graph loop over ``steps`` (a tensor) steps, pulling batches in the graph."""

        def body(i: Any, bad: Any) -> tuple[Any, Any]:
            if self.schedule is not None:
                self.optimizer.learning_rate = self.schedule.tf_at(self.optimizer.iterations)
            batch = next(iterator)  # (x, y), or (x, y, weight) with example weights
            per_replica = self.strategy.run(self._replica_train, args=tuple(batch))
            loss = self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
            first_bad = tf.logical_and(bad == 0, tf.logical_not(tf.math.is_finite(loss)))
            return i + 1, tf.where(first_bad, i + 1, bad)

        zero = tf.constant(0, tf.int32)
        _, bad = tf.while_loop(lambda i, _: i < steps, body, [zero, zero])
        return bad

    def _validate(self, dataset: Any) -> None:
        iterator = iter(dataset)

        def body(optional: Any) -> list[Any]:
            x, y = optional.get_value()
            self.strategy.run(self._replica_validate, args=(x, y))
            return [iterator.get_next_as_optional()]

        tf.while_loop(
            lambda optional: optional.has_value(), body, [iterator.get_next_as_optional()]
        )

    # -- host side -------------------------------------------------------------------------

    def reset(self) -> None:
        for m in self.train_metrics + self.val_metrics:
            m.reset_state()

    def logs(self, *, validation: bool) -> dict[str, float]:
        metrics = self.train_metrics + (self.val_metrics if validation else [])
        return {m.name: float(m.result()) for m in metrics}

    def resume_schedule(self, epoch: int) -> None:
        """Place the lr schedule after ``epoch`` completed epochs (before the first chunk:
        the schedule is traced into the step). Its position is counted in epochs from here,
        so a changed batch size does not move it."""
        if self.schedule is not None:
            self.schedule = self.schedule.resumed(epoch=epoch, step=self.iterations())

    def iterations(self) -> int:
        return int(keras.ops.convert_to_numpy(self.optimizer.iterations))

    def current_lr(self) -> float:
        return float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
