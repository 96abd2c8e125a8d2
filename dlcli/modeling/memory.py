"""Will a model's parameters fit in memory? Checked before any weight is allocated.

Training holds each trainable float32 parameter four times: the weight, its gradient and
Adam's two moment estimates (other optimizers keep less, so this errs on the safe side).
Non-trainable parameters (moving statistics) are held once. The estimate covers weights
only, not activations, so passing it does not promise that a batch fits; failing it means
the model cannot be trained here at all, and is reported as a recipe problem (exit 2)
instead of an out-of-memory crash minutes later.

Available memory is the smaller of the kernel's ``MemAvailable`` and what the process's
cgroup (container) limit leaves. No TensorFlow here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BYTES_PER_PARAM = 4  # float32
TRAINING_COPIES = 4  # weight, gradient, Adam m and v
_CGROUP = Path("/sys/fs/cgroup")
_UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as a huge number


@dataclass(frozen=True)
class LayerParams:
    """A layer's parameter count, as the builder found it without allocating."""

    position: int
    name: str
    type: str
    trainable: int
    non_trainable: int

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable

    @property
    def training_bytes(self) -> int:
        return BYTES_PER_PARAM * (TRAINING_COPIES * self.trainable + self.non_trainable)


def training_bytes(layers: list[LayerParams]) -> int:
    return sum(layer.training_bytes for layer in layers)


def size_text(n: int) -> str:
    """Bytes as GiB, or MiB below one GiB (a 0.3 GiB model deserves a precise number)."""
    return f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n / 2**20:,.1f} MiB"


def available_bytes() -> int | None:
    """Memory this process can still use, or None when the system does not say."""
    found = [v for v in (_meminfo_available(), _cgroup_available()) if v is not None]
    return min(found) if found else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _meminfo_available() -> int | None:
    text = _read(Path("/proc/meminfo"))
    for line in (text or "").splitlines():
        if line.startswith("MemAvailable:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) * 1024
    return None


def _cgroup_available() -> int | None:
    """Limit minus usage (less reclaimable page cache) of cgroup v2, else v1."""
    for limit_file, usage_file, stat_file, cache_key in (
        ("memory.max", "memory.current", "memory.stat", "inactive_file"),
        (
            "memory/memory.limit_in_bytes",
            "memory/memory.usage_in_bytes",
            "memory/memory.stat",
            "total_inactive_file",
        ),
    ):
        limit = _read(_CGROUP / limit_file)
        usage = _read(_CGROUP / usage_file)
        if limit is None or usage is None or not usage.isdigit():
            continue
        if not limit.isdigit() or int(limit) >= _UNLIMITED:
            return None  # "max": no limit
        cache = 0
        for line in (_read(_CGROUP / stat_file) or "").splitlines():
            key, _, value = line.partition(" ")
            if key == cache_key and value.isdigit():
                cache = int(value)
        return max(int(limit) - max(int(usage) - cache, 0), 0)
    return None
