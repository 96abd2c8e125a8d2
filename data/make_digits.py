"""Export scikit-learn's bundled handwritten digits to ``data/digits/{train,test}/<class>/``.

The 8x8 images (intensities 0..16) are scaled to 0..255 and upscaled to 32x32 with
bicubic interpolation, then written as 8-bit grayscale PNGs. The split is stratified
80/20 with a fixed seed, and file names carry the dataset index, so running this again
writes byte-identical files. scikit-learn is needed only here (a dev-time tool).

Usage: ``python data/make_digits.py [--out data/digits]``
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SIZE = 32
SEED = 0
TEST_FRACTION = 0.2


def export(out: Path) -> dict[str, int]:
    digits = load_digits()
    images = digits.images  # (1797, 8, 8) float, 0..16
    labels = digits.target
    indices = np.arange(len(labels))
    train_idx, test_idx = train_test_split(
        indices, test_size=TEST_FRACTION, stratify=labels, random_state=SEED
    )
    if out.exists():
        shutil.rmtree(out)
    counts: dict[str, int] = {}
    for split, idx in (("train", train_idx), ("test", test_idx)):
        for i in sorted(idx):
            pixels = np.clip(images[i] * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
            img = Image.fromarray(pixels, mode="L").resize((SIZE, SIZE), Image.Resampling.BICUBIC)
            folder = out / split / str(labels[i])
            folder.mkdir(parents=True, exist_ok=True)
            img.save(folder / f"digit_{i:04d}.png", optimize=True)
        counts[split] = len(idx)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "digits")
    args = parser.parse_args()
    counts = export(args.out)
    print(f"wrote {counts['train']} train and {counts['test']} test images to {args.out}")


if __name__ == "__main__":
    main()
