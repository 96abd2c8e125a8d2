"""Where decoded uint8 pixels wait between epochs: in memory, in a file on disk, or nowhere.

``data.cache`` chooses (``auto`` by default): ``auto`` keeps them in memory when every
image of the run (training and validation, ``H * W * C`` bytes each) fits the budget, else
on disk. The budget (``data.cache_budget``) is a size such as ``6GB`` or ``512MiB``, or a
share of the memory available when the run starts such as ``40%``; by default
:data:`DEFAULT_SHARE` of it.

The stores fill while training reads the data (epoch 1 decodes, later epochs read), and
write and read whole rows, one image each, at row ``i * row_bytes``:

- :class:`MemoryPixels`: one ``numpy.empty`` array; pages are only touched (and counted in
  the process's memory) as images arrive.
- :class:`DiskPixels`: one file in the temporary folder (``TMPDIR``), removed from the
  folder as soon as it is open, so nothing is left behind even after ``kill -9``. Rows are
  written with ``pwrite`` and read with ``preadv`` into the batch: the kernel's page cache
  holds what it can, but none of it counts in the process's resident memory (a memory map
  would, page by page).
- :class:`NoPixels`: ``cache: none`` keeps nothing; every epoch decodes again.
"""

from __future__ import annotations

import os
import re
import tempfile
import weakref
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dlcli.errors import RecipeError

CACHE_CHOICES = ("auto", "memory", "disk", "none")
DEFAULT_SHARE = 0.5  # of the memory available at start, when no cache_budget is given
_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
# The recipe's CACHE_BUDGET_PATTERN (dlcli.recipe.spec), with groups for the number and unit.
_BUDGET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|[kmgt]i?b|b)?\s*$", re.IGNORECASE)


class PixelStore(Protocol):
    """Rows of uint8 pixels, one image each, written once and read many times."""

    keeps: bool  # False for NoPixels: nothing written can be read back

    def write(self, row: int, pixels: np.ndarray) -> bool:
        """Store ``pixels`` as ``row``; False when it could not (then decode it again)."""
        ...

    def read(self, rows: np.ndarray, out: np.ndarray) -> None:
        """Copy ``rows`` (all written before) into ``out`` (``len(rows)`` images)."""
        ...


class MemoryPixels:
    keeps = True

    def __init__(self, rows: int, shape: tuple[int, ...]) -> None:
        self.array = np.empty((rows, *shape), dtype=np.uint8)  # no page touched yet

    def write(self, row: int, pixels: np.ndarray) -> bool:
        self.array[row] = pixels
        return True

    def read(self, rows: np.ndarray, out: np.ndarray) -> None:
        np.take(self.array, rows, axis=0, out=out)


class DiskPixels:
    keeps = True

    def __init__(self, rows: int, shape: tuple[int, ...], folder: str | None = None) -> None:
        self.row_bytes = int(np.prod(shape))
        fd, path = tempfile.mkstemp(prefix="dlcli-pixels-", suffix=".u8", dir=folder)
        os.unlink(path)  # the open descriptor keeps the file; the folder forgets it now
        self.path = path
        self.fd = fd
        self._finalizer = weakref.finalize(self, os.close, fd)
        self.failed: OSError | None = None  # e.g. the disk filled up: decode again instead

    def write(self, row: int, pixels: np.ndarray) -> bool:
        if self.failed is not None:
            return False
        data = np.ascontiguousarray(pixels).data
        try:
            if os.pwrite(self.fd, data, row * self.row_bytes) != self.row_bytes:
                raise OSError("short write to the pixel cache")
        except OSError as exc:
            self.failed = exc
            return False
        return True

    def read(self, rows: np.ndarray, out: np.ndarray) -> None:
        order = np.argsort(rows, kind="stable")  # ascending offsets: sequential on disk
        flat = out.reshape(len(rows), self.row_bytes)
        for k in order:
            got = os.preadv(self.fd, [flat[k].data], int(rows[k]) * self.row_bytes)
            if got != self.row_bytes:
                raise OSError(f"pixel cache read {got} of {self.row_bytes} bytes")

    def close(self) -> None:
        self._finalizer()


class NoPixels:
    keeps = False

    def write(self, row: int, pixels: np.ndarray) -> bool:
        return False

    def read(self, rows: np.ndarray, out: np.ndarray) -> None:
        raise RuntimeError("cache: none keeps no pixels")


@dataclass(frozen=True)
class CachePlan:
    """The cache chosen for a run, and why (shown to the user at start)."""

    mode: str  # memory | disk | none
    images: int
    nbytes: int
    budget: int
    budget_origin: str
    choice: str  # what the recipe asked for

    @property
    def over_budget(self) -> bool:
        """``cache: memory`` asked for more than the budget (a likely mistake)."""
        return self.mode == "memory" and self.nbytes > self.budget

    def store(self, rows: int, shape: tuple[int, ...]) -> PixelStore:
        if self.mode == "memory":
            return MemoryPixels(rows, shape)
        if self.mode == "disk":
            return DiskPixels(rows, shape)
        return NoPixels()

    def describe(self) -> str:
        size = human_bytes(self.nbytes)
        what = f"{self.images:,} images, {size} as uint8"
        if self.mode == "none":
            return f"pixel cache: none (cache: none): every epoch decodes the {what} again"
        budget = f"budget {human_bytes(self.budget)}, {self.budget_origin}"
        if self.choice == "auto":
            why = "fits the" if self.mode == "memory" else "over the"
            how = f"cache: auto, {why} {budget}"
        elif self.over_budget:
            how = f"cache: memory, OVER the {budget}: memory may run out"
        else:
            how = f"cache: {self.choice}; {budget}"
        where = "in memory" if self.mode == "memory" else f"on disk in {tempfile.gettempdir()}"
        return (
            f"pixel cache: {self.mode}, {what} kept {where} as epoch 1 decodes them ({how}); "
            "set data.cache and data.cache_budget to choose"
        )


def plan_cache(
    choice: str, images: int, image_bytes: int, budget: str | int | float | None
) -> CachePlan:
    """Pick memory, disk or none for ``images`` images of ``image_bytes`` bytes each."""
    if choice not in CACHE_CHOICES:
        raise RecipeError(
            "unknown cache choice",
            field="data.cache",
            expected=" | ".join(CACHE_CHOICES),
            received=choice,
        )
    limit, origin = resolve_budget(budget)
    nbytes = int(images) * int(image_bytes)
    mode = choice
    if choice == "auto":
        mode = "memory" if nbytes <= limit else "disk"
    return CachePlan(mode, int(images), nbytes, limit, origin, choice)


def resolve_budget(budget: str | int | float | None) -> tuple[int, str]:
    """Bytes the memory cache may use, and where the number came from."""
    available = available_memory_bytes()
    if budget is None:
        share = DEFAULT_SHARE
        origin = f"{share:.0%} of the {human_bytes(available)} available"
        return int(share * available), origin
    if isinstance(budget, int | float) and not isinstance(budget, bool):
        return int(budget), "data.cache_budget"
    match = _BUDGET.match(str(budget))
    if not match:
        raise RecipeError(
            "cache budget not understood",
            field="data.cache_budget",
            expected="a size such as 6GB, 512MiB or 2000000000, or a share such as 40%",
            received=budget,
        )
    number, unit = float(match.group(1)), (match.group(2) or "").lower()
    if unit == "%":
        if not 0 < number <= 100:
            raise RecipeError(
                "cache budget share out of range",
                field="data.cache_budget",
                expected="a share between 0% and 100% of the available memory",
                received=budget,
            )
        origin = f"{number:g}% of the {human_bytes(available)} available (data.cache_budget)"
        return int(number / 100 * available), origin
    return int(number * _UNITS[unit]), "data.cache_budget"


def available_memory_bytes() -> int:
    """``MemAvailable`` (free memory plus what the kernel can reclaim), else free pages."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2 << 30


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1000
    return f"{value:,.1f} GB"
