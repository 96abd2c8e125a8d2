"""Benchmark ``dlcli predict`` against the usual Keras ways of predicting a folder of images.

Run by hand (not part of the test suite)::

    python bench/predict_throughput.py                 # 5,000 images, RSS check at 1k vs 20k
    python bench/predict_throughput.py --images 2000 --no-rss   # throughput only
    python bench/predict_throughput.py --rss-only               # memory only

What it measures, with one small untrained CNN taking 64x64 RGB (weights do not matter
for speed), on generated photo-like JPEGs in 10 class folders, for each ``--sources`` size
(default: 384x288, photos larger than the model input as usual, and 64x64, already the
model's size, where the model's own cost dominates every approach):

1. dlcli's engine (``dlcli.prediction.iter_predictions``: threaded decode ahead + whole
   batches through ``LoadedModel.predict_batch``) at the CLI's default batch size, listing
   the folder included, rows formatted as CSV (written to ``/dev/null``).
2. A per-image loop: ``keras.utils.load_img`` + ``model.predict`` on one image at a time.
   SAMPLED: timed on a subset (``--loop-images``, default 300) and extrapolated.
3. ``keras.utils.image_dataset_from_directory`` (the model's image size, defaults otherwise:
   batch size 32, as a user writes it; ``shuffle=False`` so rows stay in file order) + one
   ``model.predict`` over the dataset, listing the folder included.

Both timed spans run from "here is a folder" to "all predictions in hand"; loading the
model is not timed for either. Each approach is warmed up first, so graph tracing is not
counted for either (the dataset approach gets a whole untimed pass, which also covers the
retrace Keras makes for the short last batch). 1 and 3 run ``--repeat`` times,
alternately (the machine may be shared), and the MEDIAN of each counts; the process CPU
seconds of each run are shown too, as they are less disturbed by other load. Targets:
dlcli >= 10x the per-image loop and >= 1.2x the dataset approach.

Memory: the real CLI (``dlcli predict DIR -r -o out.csv``) runs in a fresh process on 1,000
and on 20,000 files; the process imports TensorFlow, resets the kernel's peak-RSS mark
(``/proc/self/clear_refs``) and then runs predict, so the peak measured is that of the run,
not TensorFlow's start-up. Target: growth under 100 MB. The files are 200 distinct images
written repeatedly (decode cost is the same; generation takes seconds instead of minutes).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SIZE = 64
CLASSES = 10
DISTINCT = 200


def _jpeg_pool(n: int, size: tuple[int, int]) -> list[bytes]:
    """``n`` distinct photo-like JPEGs (smooth gradients, a few blobs, mild noise) of ``size``."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    pool = []
    for i in range(n):
        arr = np.empty((h, w, 3), np.float32)
        for c in range(3):
            a, b, d = rng.uniform(-1, 1, 3)
            arr[..., c] = 128 + 60 * np.sin(a * xx / 17 + b * yy / 23 + d * 6)
        for _ in range(3):
            cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(h / 10, h / 4)
            arr[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = rng.uniform(0, 255, 3)
        arr += rng.normal(0, 6, arr.shape)
        arr[..., i % 3] *= 0.7
        buf = io.BytesIO()
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
        pool.append(buf.getvalue())
    return pool


def make_folder(root: Path, count: int, pool: list[bytes]) -> list[Path]:
    """``count`` JPEGs spread over class folders ``c0``..``c9``; returns the class folders."""
    folders = [root / f"c{c}" for c in range(CLASSES)]
    for f in folders:
        f.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folders[i % CLASSES] / f"img_{i:06d}.jpg").write_bytes(pool[i % len(pool)])
    return folders


def make_model(path: Path) -> None:
    from dlcli.backend import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ]
    )
    model.save(path)


def bench_dlcli(model_path: Path, root: Path, batch_size: int | None) -> tuple[float, float, int]:
    """(wall seconds, process CPU seconds, images) of one timed dlcli run."""
    from dlcli.data.decode import find_images
    from dlcli.modeling.loading import resolve_model
    from dlcli.prediction import iter_predictions
    from dlcli.prediction.engine import DEFAULT_BATCH_SIZE
    from dlcli.prediction.writers import CsvPredictionWriter

    batch_size = batch_size or DEFAULT_BATCH_SIZE
    loaded = resolve_model(model_path)
    warm, _ = find_images([root / "c0"])
    for _ in iter_predictions(loaded, warm[: 2 * batch_size], batch_size=batch_size):
        pass  # warm-up: trace the model once
    start, cpu = time.perf_counter(), time.process_time()
    paths, _ = find_images([root], recursive=True)  # listing is timed, as for the dataset
    n = 0
    with open(os.devnull, "w") as sink:
        writer = CsvPredictionWriter(sink)
        for batch in iter_predictions(loaded, paths, batch_size=batch_size):
            writer.write(batch.predictions)
            n += len(batch.predictions)
    return time.perf_counter() - start, time.process_time() - cpu, n


def bench_loop(model_path: Path, root: Path, limit: int) -> tuple[float, int]:
    from dlcli.backend import keras

    model = keras.saving.load_model(model_path)
    paths = sorted(root.rglob("*.jpg"))[:limit]
    first = keras.utils.load_img(paths[0], target_size=(SIZE, SIZE))
    model.predict(keras.utils.img_to_array(first)[None], verbose=0)  # warm-up
    start = time.perf_counter()
    for p in paths:
        img = keras.utils.load_img(p, target_size=(SIZE, SIZE))
        model.predict(keras.utils.img_to_array(img)[None], verbose=0)
    return time.perf_counter() - start, len(paths)


def bench_dataset(model_path: Path, root: Path) -> tuple[float, float, int]:
    """(wall seconds, process CPU seconds, images) of one timed dataset + predict run."""
    from dlcli.backend import keras

    model = keras.saving.load_model(model_path)
    # Warm-up: one whole untimed pass over the same dataset, so every trace Keras makes
    # (the full batches and the short last one, with labels in the structure) is done
    # before timing; the strictest baseline.
    warm = keras.utils.image_dataset_from_directory(
        root, image_size=(SIZE, SIZE), shuffle=False, verbose=False
    )
    model.predict(warm, verbose=0)
    start, cpu = time.perf_counter(), time.process_time()
    ds = keras.utils.image_dataset_from_directory(
        root, image_size=(SIZE, SIZE), shuffle=False, verbose=False
    )
    probs = model.predict(ds, verbose=0)
    return time.perf_counter() - start, time.process_time() - cpu, len(probs)


_RSS_CHILD = """
import json, sys
import dlcli.backend  # import TensorFlow first: its start-up peak is the same for any count
from dlcli.cli import main

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return None

base = status("VmRSS")
startup_peak = status("VmHWM")
try:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak-RSS mark (Linux), so VmHWM is the peak of the run below
    reset = True
except OSError:
    reset = False
code = main(sys.argv[1:])
peak = status("VmHWM")
result = {"code": code, "base": base, "startup": startup_peak, "peak": peak, "reset": reset}
print(json.dumps(result))
"""


def peak_rss_mb(args: list[str]) -> dict[str, float]:
    """Run ``dlcli ARGS`` in a fresh interpreter after importing TF; its RSS figures in MB.

    ``peak``: the peak RSS of the predict run itself (the mark is reset after importing
    TensorFlow, whose start-up peak would otherwise hide everything); ``base``: RSS before
    the run; ``startup``: the peak while importing TensorFlow.
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", _RSS_CHILD, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"dlcli {' '.join(args)} failed:\n{err.decode()}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    if result["code"] != 0:
        raise SystemExit(f"dlcli {' '.join(args)} exited {result['code']}:\n{err.decode()}")
    return {**result, "wall": wall}


def run_throughput(
    args: argparse.Namespace, work: Path, source: tuple[int, int], model: Path
) -> None:
    images = work / f"images_{source[0]}x{source[1]}"
    if not images.exists():
        make_folder(images, args.images, _jpeg_pool(DISTINCT, source))
    print(
        f"\n{args.images:,} JPEGs of {source[0]}x{source[1]} in {CLASSES} class folders -> "
        f"model input {SIZE}x{SIZE}; cpus={os.cpu_count()}; dlcli batch size "
        f"{args.batch_size or 'default'}, dataset batch size default; median of "
        f"{args.repeat} (interleaved)"
    )
    # The machine may be shared: alternate the two batch approaches, take each one's median.
    dl, ds = [], []
    for _ in range(args.repeat):
        dl.append(bench_dlcli(model, images, args.batch_size))
        ds.append(bench_dataset(model, images))
    t_dlcli, c_dlcli, n = _median_run(dl)
    t_ds, c_ds, n_ds = _median_run(ds)
    r_dlcli, r_ds = n / t_dlcli, n_ds / t_ds
    print(
        f"dlcli engine:                    {r_dlcli:8.0f} img/s  ({n:,} in {t_dlcli:.2f}s, "
        f"CPU {c_dlcli:.2f}s; all runs {_walls(dl)})"
    )
    print(
        f"image_dataset_from_directory:    {r_ds:8.0f} img/s  ({n_ds:,} in {t_ds:.2f}s, "
        f"CPU {c_ds:.2f}s; all runs {_walls(ds)})"
    )
    t_loop, n_loop = bench_loop(model, images, args.loop_images)
    r_loop = n_loop / t_loop
    print(
        f"load_img + predict per image:    {r_loop:8.0f} img/s  (SAMPLED: {n_loop} of "
        f"{args.images:,} timed in {t_loop:.2f}s; extrapolated to all: "
        f"{args.images / r_loop:.0f}s)"
    )
    print(f"ratio vs per-image loop: {r_dlcli / r_loop:6.1f}x  (target >= 10x)")
    print(f"ratio vs dataset:        {r_dlcli / r_ds:6.2f}x  (target >= 1.2x)")
    # The dataset approach's wall time is bimodal here (tf.data autotuning sometimes settles on
    # less parallelism); show each side's fastest run too, so a lucky or unlucky median is visible.
    best_dl, best_ds = min(r[0] for r in dl), min(r[0] for r in ds)
    print(f"ratio, fastest run of each: {best_ds / best_dl:6.2f}x")
    print(f"CPU seconds, dataset / dlcli: {c_ds / c_dlcli:6.2f}x")


def _median_run(runs: list[tuple[float, float, int]]) -> tuple[float, float, int]:
    """Median wall time and median CPU time (each on its own) of repeated runs."""
    walls = sorted(r[0] for r in runs)
    cpus = sorted(r[1] for r in runs)
    mid = len(runs) // 2
    if len(runs) % 2:
        return walls[mid], cpus[mid], runs[0][2]
    return (walls[mid - 1] + walls[mid]) / 2, (cpus[mid - 1] + cpus[mid]) / 2, runs[0][2]


def _walls(runs: list[tuple[float, float, int]]) -> str:
    return " ".join(f"{r[0]:.2f}s" for r in runs)


def run_rss(args: argparse.Namespace, work: Path, model: Path) -> None:
    rss = work / "rss"
    if not rss.exists():
        pool = _jpeg_pool(DISTINCT, (SIZE, SIZE))
        make_folder(rss / "small", args.rss_small, pool)
        make_folder(rss / "large", args.rss_large, pool)
    print(f"\nmemory: dlcli predict CLI on {SIZE}x{SIZE} JPEGs, one fresh process per count")
    peaks = []
    for name, count in (("small", args.rss_small), ("large", args.rss_large)):
        out = work / f"preds_{name}.csv"
        cli = ["predict", str(model), str(rss / name), "-r", "-o", str(out), "--overwrite"]
        r = peak_rss_mb([*cli, *(["-b", str(args.batch_size)] if args.batch_size else [])])
        with out.open() as fh:
            rows = sum(1 for _ in csv.reader(fh)) - 1
        assert rows == count, (rows, count)
        peaks.append(r["peak"])
        what = "peak RSS of the run" if r["reset"] else "peak RSS (mark not resettable)"
        print(
            f"{count:>7,} files: {what} {r['peak']:7.1f} MB (RSS before it {r['base']:.1f} MB; "
            f"peak during TF import {r['startup']:.1f} MB; {r['wall']:.1f}s wall)"
        )
    print(
        f"peak RSS growth {args.rss_small:,} -> {args.rss_large:,} files: "
        f"{peaks[1] - peaks[0]:+.1f} MB  (target < 100 MB)"
    )


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.partition("x")
    return int(w), int(h or w)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument(
        "--sources",
        type=lambda t: [_size(x) for x in t.split(",")],
        default=[(384, 288), (SIZE, SIZE)],
        help="Source image sizes WxH, comma-separated (default: 384x288,64x64).",
    )
    ap.add_argument("--loop-images", type=int, default=300)
    ap.add_argument(
        "--batch-size", type=int, default=None, help="dlcli's batch size (default: the CLI's)."
    )
    ap.add_argument("--repeat", type=int, default=5, help="Median of N for dlcli and dataset.")
    ap.add_argument("--rss-small", type=int, default=1000)
    ap.add_argument("--rss-large", type=int, default=20000)
    ap.add_argument("--no-rss", action="store_true", help="Skip the 1k vs 20k memory check.")
    ap.add_argument("--rss-only", action="store_true", help="Only the memory check.")
    ap.add_argument("--keep", type=Path, help="Work in this folder and keep it.")
    args = ap.parse_args(argv)

    work = args.keep or Path(tempfile.mkdtemp(prefix="dlcli-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        model_path = work / "model.keras"
        make_model(model_path)
        if not args.rss_only:
            for source in args.sources:
                run_throughput(args, work, source, model_path)
        if not args.no_rss:
            run_rss(args, work, model_path)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
