"""Environment report behind ``dlcli doctor`` (returns data, prints nothing)."""

from __future__ import annotations

import os
import platform
import sys
from types import SimpleNamespace
from typing import Any

from dlcli.devices.probe import probe_devices
from dlcli.devices.selection import plan_execution
from dlcli.errors import DlcliError

AUTO_SPEC = SimpleNamespace(
    device="auto", mixed_precision="auto", jit_compile="auto", distribute="auto", devices=None
)


def doctor_report(env: dict[str, str] | None = None) -> dict[str, Any]:
    """Versions, platform, devices, CUDA build info and what ``auto`` settings would choose."""
    from dlcli import __version__
    from dlcli.backend import keras, tf

    env = dict(os.environ) if env is None else env
    visible = probe_devices()
    build = dict(tf.sysconfig.get_build_info())
    report: dict[str, Any] = {
        "versions": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "dlcli": __version__,
        },
        "platform": platform.platform(),
        "python_executable": sys.executable,
        "cpu_count": os.cpu_count(),
        "devices": {
            "cpus": visible.cpus,
            "gpus": [
                {
                    "device": g.tf_name,
                    "name": g.name,
                    "compute_capability": ".".join(map(str, g.compute_capability))
                    if g.compute_capability
                    else None,
                }
                for g in visible.gpus
            ],
        },
        "built_with_cuda": visible.built_with_cuda,
        "cuda_version": build.get("cuda_version"),
        "cudnn_version": build.get("cudnn_version"),
        "tf_config": env.get("TF_CONFIG") or None,
    }
    try:
        report["auto"] = plan_execution(AUTO_SPEC, visible=visible, env=env).to_dict()
    except DlcliError as exc:  # e.g. a broken TF_CONFIG: report it rather than crash
        report["auto"] = {"error": exc.format()}
    return report
