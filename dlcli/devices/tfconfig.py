"""TF_CONFIG parsing and building for multi-worker training (no TensorFlow)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

from dlcli.errors import DeviceError

_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})$")


@dataclass(frozen=True)
class ClusterInfo:
    """What TF_CONFIG says about this process."""

    workers: list[str]
    task_type: str
    task_index: int

    @property
    def num_workers(self) -> int:
        return len(self.workers)

    @property
    def is_chief(self) -> bool:
        # Without an explicit "chief" task, MultiWorkerMirroredStrategy treats worker 0 as chief.
        return self.task_type == "chief" or (self.task_type == "worker" and self.task_index == 0)


def parse_workers(text: str) -> list[str]:
    """Split ``host:port,host:port`` and validate every entry."""
    workers = [w.strip() for w in text.split(",") if w.strip()]
    if not workers:
        raise DeviceError(
            "--workers is empty",
            field="--workers",
            expected="host:port[,host:port...]",
            received=text,
        )
    for w in workers:
        m = _HOST_PORT.match(w)
        if not m or not 0 < int(m.group("port")) < 65536:
            raise DeviceError(
                f"invalid worker address {w!r}",
                field="--workers",
                expected="host:port with a port in 1-65535, e.g. 10.0.0.1:12345",
                received=w,
            )
    if len(set(workers)) != len(workers):
        raise DeviceError(
            "--workers lists the same address twice", field="--workers", received=text
        )
    return workers


def tf_config_for(workers: list[str], index: int) -> dict:
    """The TF_CONFIG dict for worker ``index`` of ``workers``."""
    if not 0 <= index < len(workers):
        raise DeviceError(
            "--worker-index is out of range",
            field="--worker-index",
            expected=f"an integer in 0..{len(workers) - 1} ({len(workers)} workers)",
            received=index,
        )
    return {"cluster": {"worker": list(workers)}, "task": {"type": "worker", "index": index}}


def install_tf_config(
    workers_text: str, index: int, env: MutableMapping[str, str] = os.environ
) -> dict:
    """Parse ``--workers``/``--worker-index`` and write TF_CONFIG into ``env``.

    Must run before the strategy is created (TensorFlow reads TF_CONFIG then).
    """
    config = tf_config_for(parse_workers(workers_text), index)
    env["TF_CONFIG"] = json.dumps(config)
    return config


def read_tf_config(env: Mapping[str, str] = os.environ) -> ClusterInfo | None:
    """Parse TF_CONFIG from ``env``; None when unset or empty. Raises DeviceError when invalid."""
    raw = env.get("TF_CONFIG", "").strip()
    if not raw:
        return None
    hint = (
        'e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
        '"task": {"type": "worker", "index": 0}}'
    )
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DeviceError(
            f"TF_CONFIG is not valid JSON: {exc}", field="TF_CONFIG", received=raw, hint=hint
        ) from None
    cluster = data.get("cluster") if isinstance(data, dict) else None
    task = data.get("task") if isinstance(data, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise DeviceError(
            "TF_CONFIG needs 'cluster' and 'task' objects",
            field="TF_CONFIG",
            received=raw,
            hint=hint,
        )
    workers = list(cluster.get("chief", [])) + list(cluster.get("worker", []))
    task_type = task.get("type")
    task_index = task.get("index", 0)
    if task_type not in ("worker", "chief") or not isinstance(task_index, int):
        raise DeviceError(
            "TF_CONFIG task must be {'type': 'worker'|'chief', 'index': N}",
            field="TF_CONFIG.task",
            received=task,
            hint=hint,
        )
    group = cluster.get(task_type, [])
    if not isinstance(group, list) or not 0 <= task_index < len(group):
        raise DeviceError(
            f"TF_CONFIG task index {task_index} is outside cluster.{task_type}",
            field="TF_CONFIG.task.index",
            received=task_index,
            hint=hint,
        )
    for w in workers:
        if not isinstance(w, str) or not _HOST_PORT.match(w):
            raise DeviceError(
                "TF_CONFIG cluster entry is not host:port",
                field="TF_CONFIG.cluster",
                received=w,
                hint=hint,
            )
    return ClusterInfo(workers=workers, task_type=task_type, task_index=task_index)
