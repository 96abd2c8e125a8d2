"""What the labels say: the target type a label column holds, class counts and imbalance.

The target type is guessed from the values alone: separator-joined tags (``a|b``) are
multi-label, numbers with many distinct values are a regression target, everything else
(names, or a few distinct integers) are classes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dlcli.starter.base import Finding
from dlcli.targets.class_target import NAME as CLASS
from dlcli.targets.multi_label import NAME as MULTI_LABEL
from dlcli.targets.regression import NAME as REGRESSION

IMBALANCE = 3.0  # largest / smallest class from which the counts are called imbalanced
MAX_INTEGER_CLASSES = 20  # integer labels with at most this many values are classes
TAG_SEPARATORS = ("|", ";")
MISSING = frozenset({"", "na", "nan", "n/a", "null", "none", "?"})


@dataclass(frozen=True)
class TargetGuess:
    """``type``: a target's name (``dlcli.targets``: class, multi_label or regression);
    ``separator`` for tags."""

    type: str
    why: str
    separator: str | None = None

    def __post_init__(self) -> None:
        if self.type not in (CLASS, MULTI_LABEL, REGRESSION):
            raise ValueError(f"a starter cannot draft a {self.type!r} target")

    @property
    def classes(self) -> bool:
        return self.type == CLASS

    @property
    def tags(self) -> bool:
        return self.type == MULTI_LABEL

    @property
    def numbers(self) -> bool:
        return self.type == REGRESSION


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def guess_target(values: Sequence[str]) -> TargetGuess:
    """The target type of a label column from its (non-missing) values."""
    present = [v.strip() for v in values if v.strip().lower() not in MISSING]
    if not present:
        return TargetGuess(CLASS, "the label column is empty")
    for sep in TAG_SEPARATORS:
        joined = sum(1 for v in present if sep in v)
        if joined and joined >= 0.05 * len(present):
            tags = {t.strip() for v in present for t in v.split(sep) if t.strip()}
            return TargetGuess(
                MULTI_LABEL,
                f"{joined:,} of {len(present):,} labels join several tags with {sep!r} "
                f"({len(tags)} distinct tags)",
                sep,
            )
    numbers = [_number(v) for v in present]
    if all(n is not None for n in numbers):
        distinct = len(set(present))
        integers = all(float(n).is_integer() for n in numbers if n is not None)
        if integers and distinct <= MAX_INTEGER_CLASSES and distinct < len(present) / 2:
            return TargetGuess(CLASS, f"{distinct} distinct whole numbers: class codes")
        return TargetGuess(
            REGRESSION, f"every label is a number ({distinct:,} distinct values): a quantity"
        )
    return TargetGuess(CLASS, f"{len(set(present)):,} distinct names")


def tag_counts(values: Sequence[str], separator: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for v in values:
        counts.update({t.strip() for t in v.split(separator) if t.strip()})
    return counts


def count_findings(counts: Mapping[str, int], what: str = "class") -> list[Finding]:
    """Per-class counts, and a warning when the largest is IMBALANCE x the smallest."""
    if not counts:
        return []
    shown = ", ".join(f"{name} {n:,}" for name, n in sorted(counts.items()))
    uses = "examples" if what == "class" else f"{what}s given"  # a row may have many tags
    findings = [
        Finding(
            f"{what}es" if what == "class" else f"{what}s",
            f"{len(counts)} ({sum(counts.values()):,} {uses})",
            shown,
        )
    ]
    ratio = imbalance(counts)
    if ratio >= IMBALANCE:
        big = max(counts, key=lambda k: counts[k])
        small = min(counts, key=lambda k: counts[k])
        findings.append(
            Finding(
                "imbalance",
                f"{ratio:.1f}:1",
                f"{big!r} has {counts[big]:,} examples, {small!r} {counts[small]:,}",
                warning=True,
            )
        )
    lonely = sorted(name for name, n in counts.items() if n < 2)
    if lonely:
        findings.append(
            Finding(
                "too few examples",
                ", ".join(lonely),
                "a class with one example cannot be both trained on and validated",
                warning=True,
            )
        )
    return findings


def imbalance(counts: Mapping[str, int]) -> float:
    """Largest class / smallest class (1.0 when balanced or empty)."""
    sizes = [n for n in counts.values() if n > 0]
    return max(sizes) / min(sizes) if sizes else 1.0
