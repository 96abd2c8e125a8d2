"""Build ``data/fortunes/{train,test}.csv`` from Debian's ``fortunes`` package.

A real, BSD-licensed text corpus that installs from a registry without a network
download at test time: the BSD ``fortune(6)`` cookie files, one file per category. Six
topical categories become the classes; every cookie (the text between two ``%`` lines)
is one document. Overstrike sequences (``_\\bX``, old terminal underlining) are reduced
to the letter, tabs to spaces, surrounding blank lines dropped; a cookie that is empty
after that, or repeated within its category, is left out. Split: 80/20 per class,
shuffled with a fixed seed, so the files are reproducible byte for byte.

Usage::

    apt-get install fortunes            # or: apt-get download fortunes && dpkg-deb -x ...
    python data/make_fortunes.py [--source /usr/share/games/fortunes] [--out data/fortunes]
"""

from __future__ import annotations

import argparse
import csv
import random
import re
from pathlib import Path

CATEGORIES = ("computers", "definitions", "politics", "science", "songs-poems", "work")
TEST_FRACTION = 0.2
SEED = 14
_OVERSTRIKE = re.compile(r".\x08")


def cookies(path: Path) -> list[str]:
    """The cookies of one fortune file, cleaned, without repeats, in file order."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    seen: set[str] = set()
    found = []
    for raw in re.split(r"(?m)^%\s*$", text):
        cleaned = _OVERSTRIKE.sub("", raw).replace("\t", " ").strip("\n").rstrip()
        if cleaned.strip() and cleaned not in seen:
            seen.add(cleaned)
            found.append(cleaned)
    return found


def split(source: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    rng = random.Random(SEED)
    train: list[tuple[str, str]] = []
    test: list[tuple[str, str]] = []
    for category in CATEGORIES:
        docs = cookies(source / category)
        rng.shuffle(docs)
        k = round(len(docs) * TEST_FRACTION)
        test += [(d, category) for d in docs[:k]]
        train += [(d, category) for d in docs[k:]]
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


def write(rows: list[tuple[str, str]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=Path("/usr/share/games/fortunes"))
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("fortunes"))
    args = parser.parse_args()
    missing = [c for c in CATEGORIES if not (args.source / c).is_file()]
    if missing:
        raise SystemExit(
            f"{args.source}: no fortune file(s) {', '.join(missing)}; "
            "install Debian's `fortunes` package (apt-get install fortunes) or pass --source"
        )
    train, test = split(args.source)
    args.out.mkdir(parents=True, exist_ok=True)
    write(train, args.out / "train.csv")
    write(test, args.out / "test.csv")
    print(f"wrote {len(train)} train + {len(test)} test documents to {args.out}")


if __name__ == "__main__":
    main()
