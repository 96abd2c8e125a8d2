"""Selection logic over faked device lists (no TensorFlow needed)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from dlcli.devices import GpuInfo, VisibleDevices, plan_execution
from dlcli.errors import DeviceError

A100 = GpuInfo(0, "NVIDIA A100", (8, 0))
P100 = GpuInfo(0, "Tesla P100", (6, 1))
NO_GPU = VisibleDevices()
ONE_GPU = VisibleDevices(gpus=[A100], built_with_cuda=True)
TWO_GPU = VisibleDevices(gpus=[A100, GpuInfo(1, "NVIDIA A100", (8, 0))], built_with_cuda=True)
MIXED_GPU = VisibleDevices(gpus=[A100, GpuInfo(1, "Tesla P100", (6, 1))])
TWO_CPU = VisibleDevices(cpus=["/cpu:0", "/cpu:1"])
TWO_WORKERS = json.dumps(
    {
        "cluster": {"worker": ["127.0.0.1:2000", "127.0.0.1:2001"]},
        "task": {"type": "worker", "index": 1},
    }
)


def spec(**kw):
    base = dict(
        device="auto", mixed_precision="auto", jit_compile="auto", distribute="auto", devices=None
    )
    base.update(kw)
    return SimpleNamespace(**base)


def plan(visible, env=None, override=None, **kw):
    return plan_execution(spec(**kw), device_override=override, visible=visible, env=env or {})


def test_no_gpu_auto_is_cpu_float32_no_jit():
    p = plan(NO_GPU)
    assert (p.strategy_kind, p.devices, p.replicas) == ("default", ["/cpu:0"], 1)
    assert p.device_label == "CPU"
    assert p.precision_policy == "float32" and p.jit_compile is False
    assert p.is_chief and p.num_workers == 1 and p.warnings == []


def test_one_gpu_cc80_gets_mixed_float16_and_xla():
    p = plan(ONE_GPU)
    assert (p.strategy_kind, p.devices, p.replicas) == ("one_device", ["/gpu:0"], 1)
    assert p.precision_policy == "mixed_float16" and p.jit_compile is True
    assert p.device_label == "GPU (NVIDIA A100, cc 8.0)"


def test_old_gpu_stays_float32():
    p = plan(VisibleDevices(gpus=[P100]))
    assert p.precision_policy == "float32"
    assert "7.0" in p.reasons["precision"]


def test_two_gpus_auto_mirrored():
    p = plan(TWO_GPU)
    assert (p.strategy_kind, p.devices, p.replicas) == ("mirrored", ["/gpu:0", "/gpu:1"], 2)
    assert p.device_label == "2 x GPU (NVIDIA A100, cc 8.0)"
    assert p.precision_policy == "mixed_float16"


def test_mixed_capabilities_fall_back_to_float32():
    assert plan(MIXED_GPU).precision_policy == "float32"


def test_gpu_override_picks_one_gpu():
    p = plan(TWO_GPU, override="gpu:1")
    assert p.devices == ["/gpu:1"] and p.replicas == 1 and p.strategy_kind == "one_device"


def test_cpu_override_ignores_gpus():
    p = plan(TWO_GPU, override="cpu")
    assert p.devices == ["/cpu:0"] and p.precision_policy == "float32" and not p.jit_compile


@pytest.mark.parametrize("device", ["gpu", "gpu:0"])
def test_absent_gpu_raises_with_devices_and_hint(device):
    with pytest.raises(DeviceError) as err:
        plan(NO_GPU, device=device)
    text = err.value.format()
    assert "/cpu:0" in text and "dlcli[gpu]" in text and device in text


def test_absent_gpu_index_lists_present_gpus():
    with pytest.raises(DeviceError) as err:
        plan(ONE_GPU, override="gpu:3")
    assert "/gpu:0 (NVIDIA A100, cc 8.0)" in err.value.format()


def test_float16_on_cpu_warns_but_is_honoured():
    p = plan(NO_GPU, mixed_precision="float16")
    assert p.precision_policy == "mixed_float16"
    assert any("slower" in w for w in p.warnings)


def test_bfloat16_and_off():
    assert plan(NO_GPU, mixed_precision="bfloat16").precision_policy == "mixed_bfloat16"
    assert plan(ONE_GPU, mixed_precision="off").precision_policy == "float32"


@pytest.mark.parametrize(
    ("mode", "visible", "want"),
    [
        ("on", NO_GPU, True),
        ("off", ONE_GPU, False),
        (True, NO_GPU, True),
        (False, ONE_GPU, False),
    ],
)
def test_jit_explicit(mode, visible, want):
    assert plan(visible, jit_compile=mode).jit_compile is want


def test_cpu_devices_list_mirrored():
    p = plan(TWO_CPU, devices=["/cpu:0", "/CPU:1"], distribute="mirrored")
    assert (p.strategy_kind, p.devices, p.replicas) == ("mirrored", ["/cpu:0", "/cpu:1"], 2)
    assert p.device_label == "2 x CPU (logical)"


def test_devices_list_auto_is_mirrored():
    assert plan(TWO_CPU, devices=["/cpu:0", "/cpu:1"]).strategy_kind == "mirrored"


def test_devices_list_absent_device_raises():
    with pytest.raises(DeviceError, match="/cpu:1"):
        plan(NO_GPU, devices=["/cpu:0", "/cpu:1"])


def test_distribute_none_uses_one_device_and_warns():
    p = plan(TWO_GPU, distribute="none")
    assert p.devices == ["/gpu:0"] and p.replicas == 1 and p.warnings


def test_mirrored_on_single_gpu_is_one_replica():
    p = plan(ONE_GPU, distribute="mirrored")
    assert p.strategy_kind == "mirrored" and p.replicas == 1


def test_auto_with_tf_config_is_multi_worker():
    p = plan(NO_GPU, env={"TF_CONFIG": TWO_WORKERS})
    assert p.strategy_kind == "multi_worker"
    assert (p.num_workers, p.worker_index, p.is_chief, p.replicas) == (2, 1, False, 2)


def test_multi_worker_gpus_count_replicas():
    p = plan(TWO_GPU, env={"TF_CONFIG": TWO_WORKERS}, distribute="multi_worker")
    assert p.replicas == 4


def test_multi_worker_without_tf_config_raises():
    with pytest.raises(DeviceError, match="TF_CONFIG"):
        plan(NO_GPU, distribute="multi_worker")


def test_multi_worker_bad_tf_config_raises():
    with pytest.raises(DeviceError, match="not valid JSON"):
        plan(NO_GPU, distribute="multi_worker", env={"TF_CONFIG": "{nope"})


def test_auto_single_worker_tf_config_stays_local():
    one = json.dumps(
        {"cluster": {"worker": ["127.0.0.1:2000"]}, "task": {"type": "worker", "index": 0}}
    )
    assert plan(NO_GPU, env={"TF_CONFIG": one}).strategy_kind == "default"


@pytest.mark.parametrize("field", ["device", "mixed_precision", "jit_compile", "distribute"])
def test_unknown_values_raise(field):
    with pytest.raises(DeviceError):
        plan(NO_GPU, **{field: "bogus"})


AMX_CPU = VisibleDevices(cpu_bfloat16="amx")
AVX512_BF16_CPU = VisibleDevices(cpu_bfloat16="avx512")
AMX_GPU = VisibleDevices(gpus=[A100], cpu_bfloat16="amx", built_with_cuda=True)


def test_auto_uses_onednn_bfloat16_on_amx_cpus_only():
    p = plan(AMX_CPU)
    assert p.precision_policy == "float32" and p.onednn_bfloat16 is True
    assert "AMX" in p.reasons["precision"] and "bfloat16" in p.precision_label
    assert p.to_dict()["onednn_bfloat16"] is True
    # AVX512-BF16 alone is unmeasured; no bfloat16 at all; oneDNN turned off; a GPU chosen.
    assert plan(AVX512_BF16_CPU).onednn_bfloat16 is False
    assert plan(NO_GPU).onednn_bfloat16 is False and plan(NO_GPU).precision_label == "float32"
    assert plan(AMX_CPU, env={"TF_ENABLE_ONEDNN_OPTS": "0"}).onednn_bfloat16 is False
    gpu = plan(AMX_GPU)
    assert gpu.onednn_bfloat16 is False and gpu.precision_policy == "mixed_float16"
    cpu_on_gpu_box = plan(AMX_GPU, override="cpu")
    assert cpu_on_gpu_box.onednn_bfloat16 is True


def test_explicit_precision_modes_and_the_onednn_switch():
    assert plan(AMX_CPU, mixed_precision="off").onednn_bfloat16 is False
    assert plan(AMX_CPU, mixed_precision=False).precision_policy == "float32"  # YAML `off`
    keras_bf16 = plan(AMX_CPU, mixed_precision="bfloat16")
    assert (keras_bf16.precision_policy, keras_bf16.onednn_bfloat16) == ("mixed_bfloat16", False)
    forced = plan(AVX512_BF16_CPU, mixed_precision="onednn_bfloat16")
    assert forced.onednn_bfloat16 is True and forced.warnings == []
    bare = plan(NO_GPU, mixed_precision="onednn_bfloat16")
    assert bare.onednn_bfloat16 is False
    assert any("no bfloat16 instructions" in w for w in bare.warnings)
    no_onednn = plan(AMX_CPU, env={"TF_ENABLE_ONEDNN_OPTS": "0"}, mixed_precision="onednn_bfloat16")
    assert no_onednn.onednn_bfloat16 is False and "TF_ENABLE_ONEDNN_OPTS" in no_onednn.warnings[0]
    with pytest.raises(DeviceError, match="CPU setting") as err:
        plan(AMX_GPU, mixed_precision="onednn_bfloat16")
    assert "train.mixed_precision" in err.value.format()


def test_cpu_flags_read_from_cpuinfo(tmp_path):
    from dlcli.devices.probe import cpu_bfloat16, read_cpu_flags

    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nmodel name\t: Some Xeon\n"
        "flags\t\t: fpu sse avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n\n"
        "processor\t: 1\nflags\t\t: fpu\n"
    )
    flags = read_cpu_flags(str(info))
    assert {"avx512_bf16", "amx_bf16", "amx_tile"} <= flags and "fpu" in flags
    assert cpu_bfloat16(flags) == "amx"
    assert cpu_bfloat16(frozenset({"avx512f", "avx512_bf16"})) == "avx512"
    assert cpu_bfloat16(frozenset({"amx_bf16"})) is None  # no tile state: no AMX
    assert cpu_bfloat16(frozenset({"avx2"})) is None
    assert read_cpu_flags(str(tmp_path / "missing")) == frozenset()
