"""--workers / --worker-index parsing and TF_CONFIG round trips."""

from __future__ import annotations

import json

import pytest

from dlcli.devices import install_tf_config, parse_workers, read_tf_config, tf_config_for
from dlcli.errors import DeviceError


def test_tf_config_for_matches_tensorflow_layout():
    assert tf_config_for(["a:1", "b:2"], 1) == {
        "cluster": {"worker": ["a:1", "b:2"]},
        "task": {"type": "worker", "index": 1},
    }


@pytest.mark.parametrize("bad", ["", "host", "host:", "host:0", "host:70000", "a:1,a:1", "h o:1"])
def test_parse_workers_rejects(bad):
    with pytest.raises(DeviceError):
        parse_workers(bad)


def test_parse_workers_accepts_names_ips_ipv6():
    assert parse_workers("node-1.cluster:2222, 10.0.0.2:2222,[::1]:3") == [
        "node-1.cluster:2222",
        "10.0.0.2:2222",
        "[::1]:3",
    ]


@pytest.mark.parametrize("index", [-1, 2])
def test_worker_index_out_of_range(index):
    with pytest.raises(DeviceError, match=r"0\.\.1"):
        tf_config_for(["a:1", "b:2"], index)


def test_install_writes_env_and_reads_back():
    env: dict[str, str] = {}
    install_tf_config("127.0.0.1:5000,127.0.0.1:5001", 0, env)
    assert json.loads(env["TF_CONFIG"])["task"] == {"type": "worker", "index": 0}
    info = read_tf_config(env)
    assert info.num_workers == 2 and info.is_chief and info.task_index == 0


def test_chief_task_type():
    env = {
        "TF_CONFIG": json.dumps(
            {
                "cluster": {"chief": ["a:1"], "worker": ["b:2"]},
                "task": {"type": "chief", "index": 0},
            }
        )
    }
    info = read_tf_config(env)
    assert info.is_chief and info.num_workers == 2


@pytest.mark.parametrize(
    "raw",
    [
        '{"cluster": {}}',
        '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}',
        "[]",
    ],
)
def test_invalid_tf_config(raw):
    with pytest.raises(DeviceError):
        read_tf_config({"TF_CONFIG": raw})


def test_unset_tf_config_is_none():
    assert read_tf_config({}) is None
