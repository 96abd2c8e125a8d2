"""Two real worker processes on 127.0.0.1 through make_strategy (MultiWorkerMirroredStrategy).

The step is a tf.function run through ``strategy.run`` (what the training engine does); each
worker gets different data, so identical final weights prove the gradients were all-reduced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import free_ports

WORKER = textwrap.dedent(
    """
    import json, sys, types
    import numpy as np
    from dlcli.devices import install_tf_config, plan_execution, make_strategy, probe_devices
    workers, index, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    install_tf_config(workers, index)
    spec = types.SimpleNamespace(device="cpu", mixed_precision="auto", jit_compile="auto",
                                 distribute="multi_worker", devices=None)
    plan = plan_execution(spec, visible=probe_devices())
    strategy = make_strategy(plan)
    from dlcli.backend import tf, keras
    with strategy.scope():
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        opt = keras.optimizers.SGD(0.1)
    rng = np.random.default_rng(index)  # different data on each worker
    x = tf.constant(rng.normal(size=(8, 4)), tf.float32)
    y = tf.constant(rng.normal(size=(8, 1)), tf.float32)

    @tf.function
    def step():
        def replica():
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean((model(x) - y) ** 2) / strategy.num_replicas_in_sync
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
        strategy.run(replica)

    initial = [w.numpy().tolist() for w in model.trainable_variables]
    for _ in range(3):
        step()
    with open(out, "w") as f:
        json.dump({"plan": plan.to_dict(), "sync": strategy.num_replicas_in_sync,
                   "initial": initial,
                   "weights": [w.numpy().tolist() for w in model.trainable_variables]}, f)
    """
)


def test_two_workers_stay_in_sync(tmp_path: Path):
    workers = ",".join(f"127.0.0.1:{p}" for p in free_ports(2))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_CONFIG", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, workers, str(i), str(tmp_path / f"w{i}.json")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for p in procs:
        try:
            _, err = p.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        assert p.returncode == 0, err[-3000:]
    w0, w1 = (json.loads((tmp_path / f"w{i}.json").read_text()) for i in range(2))
    assert w0["plan"]["strategy"] == "multi_worker" and w0["sync"] == 2
    assert w0["plan"]["replicas"] == 2 and w1["plan"]["replicas"] == 2
    assert w0["plan"]["is_chief"] and not w1["plan"]["is_chief"]
    assert w0["initial"] == w1["initial"]
    assert w0["weights"] != w0["initial"]  # training happened
    assert w0["weights"] == w1["weights"]  # and the workers agree exactly
