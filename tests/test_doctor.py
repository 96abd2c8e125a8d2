"""`dlcli doctor` on this machine (real subprocess: TF start-up is part of what it reports)."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from importlib.metadata import version

import pytest

NO_GPU = shutil.which("nvidia-smi") is None


@pytest.fixture(scope="module")
def doctor_json():
    env = {**os.environ, "TF_CONFIG": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    res = subprocess.run(
        [sys.executable, "-m", "dlcli", "doctor", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout)


def test_doctor_json_fields(doctor_json):
    r = doctor_json  # oracle: the installed distributions' metadata
    assert r["versions"]["tensorflow"] == version("tensorflow")
    assert r["versions"]["keras"] == version("keras")
    assert r["versions"]["python"] == platform.python_version()
    assert r["cpu_count"] == os.cpu_count()
    assert "/cpu:0" in r["devices"]["cpus"]
    assert isinstance(r["built_with_cuda"], bool)
    assert r["tf_config"] is None


def test_doctor_auto_on_cpu_machine(doctor_json):
    auto = doctor_json["auto"]
    if not NO_GPU:
        pytest.skip("machine has an NVIDIA GPU")
    assert doctor_json["devices"]["gpus"] == []
    assert auto["devices"] == ["/cpu:0"] and auto["replicas"] == 1
    assert auto["device_label"] == "CPU"
    assert auto["precision_policy"] == "float32" and auto["jit_compile"] is False


def test_doctor_plain_text(run_dlcli):
    res = run_dlcli("doctor", env={**os.environ, "TF_CONFIG": ""})
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout
    assert "\x1b[" not in out and "\r" not in out
    for key in (
        "TensorFlow:",
        "Keras:",
        "CPU devices: /cpu:0",
        "auto device:",
        "mixed precision:",
        "XLA jit_compile:",
        "TF_CONFIG: not set",
    ):
        assert key in out
