"""Ask TensorFlow what devices it sees (and split the CPU into logical devices on request)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from dlcli.devices.selection import GpuInfo, VisibleDevices
from dlcli.errors import DeviceError

LOGICAL_CPUS_ENV = "DLCLI_LOGICAL_CPUS"
CPUINFO = "/proc/cpuinfo"


def read_cpu_flags(path: str = CPUINFO) -> frozenset[str]:
    """The CPU feature flags Linux reports (empty where there is no ``/proc/cpuinfo``)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "flags":
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def cpu_bfloat16(flags: frozenset[str]) -> str | None:
    """``"amx"`` with AMX-BF16 tile units, ``"avx512"`` with AVX512-BF16 only, else None.

    Linux lists ``amx_bf16`` only when the kernel supports AMX state, which oneDNN needs.
    """
    if {"amx_bf16", "amx_tile"} <= flags:
        return "amx"
    if "avx512_bf16" in flags:
        return "avx512"
    return None


def configure_logical_cpus(env: Mapping[str, str] = os.environ) -> None:
    """Split the CPU into N logical devices when ``DLCLI_LOGICAL_CPUS=N`` is set.

    This is how multi-device code paths are exercised on a machine without GPUs. It must run
    before TensorFlow initialises its devices; calling it later with the same N is harmless.
    """
    from dlcli.backend import tf

    raw = env.get(LOGICAL_CPUS_ENV, "").strip()
    if not raw:
        return
    if not raw.isdigit() or int(raw) < 1:
        raise DeviceError(
            f"{LOGICAL_CPUS_ENV} must be a positive integer", field=LOGICAL_CPUS_ENV, received=raw
        )
    n = int(raw)
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
        )
    except RuntimeError:
        # Devices already initialised: fine if the split was done earlier with the same N.
        have = len(tf.config.get_logical_device_configuration(cpu) or [None])
        if have != n:
            raise DeviceError(
                f"{LOGICAL_CPUS_ENV}={n} came too late: TensorFlow already set up "
                f"{have} CPU device(s)",
                field=LOGICAL_CPUS_ENV,
                received=raw,
            ) from None


def probe_devices() -> VisibleDevices:
    """Describe the GPUs (name, compute capability) and CPU devices TensorFlow sees."""
    from dlcli.backend import quiet_native_stderr, tf

    configure_logical_cpus()
    with quiet_native_stderr():  # "failed call to cuInit" on machines without a GPU
        physical_gpus = tf.config.list_physical_devices("GPU")
    gpus = []
    for i, dev in enumerate(physical_gpus):
        try:
            details = tf.config.experimental.get_device_details(dev)
        except Exception:
            details = {}
        cc = details.get("compute_capability")
        gpus.append(
            GpuInfo(
                index=i,
                name=details.get("device_name", "GPU"),
                compute_capability=tuple(cc) if cc else None,
            )
        )
    # Read the logical configuration rather than list_logical_devices(): the latter initialises
    # the runtime, after which MultiWorkerMirroredStrategy can no longer be created.
    physical_cpu = tf.config.list_physical_devices("CPU")[0]
    n_cpus = len(tf.config.get_logical_device_configuration(physical_cpu) or [None])
    cpus = [f"/cpu:{i}" for i in range(n_cpus)]
    return VisibleDevices(
        gpus=gpus,
        cpus=cpus or ["/cpu:0"],
        built_with_cuda=bool(tf.test.is_built_with_cuda()),
        cpu_bfloat16=cpu_bfloat16(read_cpu_flags()),
    )
