"""Export scikit-learn's bundled wine data to ``data/wine/wine.csv``.

178 rows, 13 numeric feature columns (scikit-learn's feature names) and a ``label``
column holding the class names ``class_0``..``class_2``. Deterministic: row order as in
scikit-learn, floats written with ``repr`` precision. scikit-learn is a dev-time tool only.

Usage: ``python data/make_wine.py [--out data/wine/wine.csv]``
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from sklearn.datasets import load_wine


def export(out: Path) -> int:
    wine = load_wine()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow([*wine.feature_names, "label"])
        for row, target in zip(wine.data, wine.target, strict=True):
            writer.writerow([*(f"{float(v):g}" for v in row), wine.target_names[target]])
    return len(wine.target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parent / "wine" / "wine.csv"
    parser.add_argument("--out", type=Path, default=default)
    args = parser.parse_args()
    print(f"wrote {export(args.out)} rows to {args.out}")


if __name__ == "__main__":
    main()
