"""Real TensorFlow on 2 logical CPU devices, in a fresh interpreter (the split must come first)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, types
    from dlcli.devices import probe_devices, plan_execution, make_strategy, apply_precision
    from dlcli.devices import ensure_float32_output
    from dlcli.backend import tf, keras

    visible = probe_devices()
    spec = types.SimpleNamespace(device="auto", mixed_precision="float16", jit_compile="auto",
                                 distribute="mirrored", devices=["/cpu:0", "/cpu:1"])
    plan = plan_execution(spec, visible=visible, env={})
    strategy = make_strategy(plan)
    apply_precision(plan)
    with strategy.scope():
        inp = keras.Input((3,))
        model = ensure_float32_output(keras.Model(inp, keras.layers.Dense(2)(inp)))
    per_replica = strategy.run(lambda: tf.constant(1.0))
    print(json.dumps({
        "cpus": visible.cpus, "gpus": len(visible.gpus), "replicas": plan.replicas,
        "strategy": type(strategy).__name__, "sync": strategy.num_replicas_in_sync,
        "ran_on": len(strategy.experimental_local_results(per_replica)),
        "policy": keras.mixed_precision.global_policy().name,
        "out_dtype": str(model.outputs[0].dtype), "dense_dtype": model.layers[1].compute_dtype,
    }))
    """
)


def test_two_logical_cpus_mirrored():
    env = {**os.environ, "DLCLI_LOGICAL_CPUS": "2", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_CONFIG", None)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["cpus"] == ["/cpu:0", "/cpu:1"] and got["gpus"] == 0
    assert got["replicas"] == 2 and got["strategy"] == "MirroredStrategy"
    assert got["sync"] == 2 and got["ran_on"] == 2
    assert got["policy"] == "mixed_float16"
    assert got["dense_dtype"] == "float16" and got["out_dtype"] == "float32"
