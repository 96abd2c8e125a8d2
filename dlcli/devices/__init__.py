"""Devices, tf.distribute strategies, mixed precision and TF_CONFIG.

``selection`` and ``tfconfig`` are pure Python (no TensorFlow); ``probe`` and ``strategy``
import TensorFlow lazily inside functions.
"""

from dlcli.devices.probe import LOGICAL_CPUS_ENV, configure_logical_cpus, probe_devices
from dlcli.devices.selection import ExecutionPlan, GpuInfo, VisibleDevices, plan_execution
from dlcli.devices.strategy import (
    apply_precision,
    ensure_float32_output,
    global_precision_kept,
    make_strategy,
    onednn_bfloat16,
)
from dlcli.devices.tfconfig import (
    ClusterInfo,
    install_tf_config,
    parse_workers,
    read_tf_config,
    tf_config_for,
)

__all__ = [
    "LOGICAL_CPUS_ENV",
    "ClusterInfo",
    "ExecutionPlan",
    "GpuInfo",
    "VisibleDevices",
    "apply_precision",
    "configure_logical_cpus",
    "ensure_float32_output",
    "global_precision_kept",
    "install_tf_config",
    "make_strategy",
    "onednn_bfloat16",
    "parse_workers",
    "plan_execution",
    "probe_devices",
    "read_tf_config",
    "tf_config_for",
]
