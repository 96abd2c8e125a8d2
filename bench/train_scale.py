"""dlcli train vs. the Keras tutorial pipeline on a large generated image folder, in one run.

    python bench/train_scale.py                       # 20,000 + 2,000 JPEGs, 128x128, 2 epochs
    python bench/train_scale.py --keep /tmp/scale     # keep (and next time reuse) the images
    python bench/train_scale.py --images 100000 --keep /tmp/scale100k
    python bench/train_scale.py --images 5000 --generate-only   # time generation only

Data: ``--images`` training and ``--images / 10`` test JPEGs (quality 90) of ``--size``
pixels square in 10 class folders, generated with NumPy and written with Pillow on a process
pool. Each class is a noisy sinusoidal grating at its own orientation (18 degrees apart),
with random frequency, phase, colours and noise: learnable from the pixels (not from the
mean colour), so a final validation accuracy near 1.0 on both sides shows both trained.
``--keep DIR`` stores them in ``DIR/images-N-SIZEpx`` and reuses a complete folder there.

Both sides train the same small CNN (``LAYERS``: Rescaling(1/255) first on both, because
dlcli's pipeline, like ``image_dataset_from_directory``, hands the model pixels in 0..255,
as float32) for ``--epochs`` at ``--batch-size`` with Adam(1e-3), seed 42, validating on the
test folder after every epoch:

- ``dlcli``: the real CLI, ``dlcli train recipe.yaml --out RUN``, on a recipe this script
  writes beside the images; run as ``dlcli.cli.main`` in a fresh interpreter that first
  imports ``dlcli.backend`` (TensorFlow + Keras) and reports how long that took. When
  and how it decodes is its own business; the timeline of its output shows it.
- ``keras``: the tutorial way, ``image_dataset_from_directory`` + ``.cache()`` +
  ``.prefetch(AUTOTUNE)`` + ``model.fit`` (decoding happens during epoch 1, which fills
  the cache; later epochs read the cache).

Each side runs in a fresh child process, alternating over ``--repeats``. The parent
timestamps every line the child prints (times are from just before the child is started,
so they include the interpreter's start-up) and prints them with the child's RSS at that
moment. What is measured, per side:

- wall time: child start to child exit;
- TF import: ``import dlcli.backend`` / ``import keras, tensorflow``, timed in the child;
- first step: when the training loop starts its first step: all up-front work (listing,
  any decoding done before training, model building) is done and the step is about to be
  traced. dlcli: the line it prints at that moment when stdout is not a terminal
  ("tracing the training step..."; nothing is printed when the first step completes).
  Keras: ``on_train_batch_begin`` of the first batch (``fit`` traces inside its first
  call). Given from child start and without the TF import;
- epoch 1 done: dlcli's first epoch line / Keras' ``on_epoch_end`` (both after validation);
- last epoch to exit: from the last epoch's line / ``on_epoch_end`` until the process has
  exited. dlcli writes its final files then; both sides tear down their tf.data iterators.
  With tf.data's autotuning on, that took tens of seconds, varying from run to run (the
  main thread waits in the iterator's destructor for autotuning's model thread): dlcli's
  pipelines run without it (fixed parallelism), the tutorial's keep it;
- samples/s of the last epoch (epoch 2 by default): training samples / training time of
  that epoch, validation excluded (dlcli's own figure from its epoch line; Keras:
  ``on_epoch_begin`` to ``on_test_begin``);
- peak RSS: the child's own ``ru_maxrss`` (all its threads; from ``wait4`` in the parent,
  so it is there even for a crashed child);
- final validation accuracy.

Memory guard: the parent reads the child's RSS from ``/proc`` every 0.1 s and kills it
(reported as killed) above ``--max-rss-gb`` or when the machine's available memory falls
under 1 GiB. dlcli's run folder (checkpoints every epoch, model.keras, best.keras,
curves.png) is written inside its wall time; the Keras side writes nothing.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLASSES = 10
SEED = 42
LEARNING_RATE = 1e-3
MARK = "@bench "
GIB = 1 << 30
RESERVE_BYTES = GIB  # kill the child when the machine's available memory falls below this
POLL_S = 0.1
DATA_VERSION = 1  # bump when the generated images change

# The model, written once: (Keras layer class, arguments), for the recipe and for Keras.
LAYERS: list[tuple[str, dict]] = [
    ("Rescaling", {"scale": 1 / 255}),
    ("Conv2D", {"filters": 16, "kernel_size": 3, "padding": "same", "activation": "relu"}),
    ("MaxPooling2D", {}),
    ("Conv2D", {"filters": 32, "kernel_size": 3, "padding": "same", "activation": "relu"}),
    ("MaxPooling2D", {}),
    ("Conv2D", {"filters": 64, "kernel_size": 3, "padding": "same", "activation": "relu"}),
    ("MaxPooling2D", {}),
    ("GlobalAveragePooling2D", {}),
    ("Dense", {"units": CLASSES, "activation": "softmax"}),
]


# -- data ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _grid(size: int):
    import numpy as np

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return xx, yy


@functools.lru_cache(maxsize=2)
def _noise_bank(size: int):
    """16 fields of pixel noise; each image adds one at a random shift (cheaper than drawing)."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    return rng.standard_normal((16, size, size, 3), dtype=np.float32) * 25.0


def _image(label: int, seed: int, size: int):
    """One ``size`` x ``size`` RGB uint8 image of class ``label``: an oriented, noisy grating."""
    import numpy as np

    rng = np.random.default_rng(seed)
    xx, yy = _grid(size)
    theta = label * np.pi / CLASSES + rng.normal(0.0, 0.04)
    freq = rng.uniform(0.3, 0.6) * 128 / size  # radians per pixel at 128 px
    c, s = np.float32(freq * np.cos(theta)), np.float32(freq * np.sin(theta))
    wave = np.cos(c * xx + s * yy + np.float32(rng.uniform(0.0, 2 * np.pi)))
    img = wave[..., None] * rng.uniform(25.0, 70.0, 3).astype(np.float32)
    img += rng.uniform(60.0, 190.0, 3).astype(np.float32)
    noise = _noise_bank(size)[rng.integers(16)]
    img += np.roll(noise, tuple(rng.integers(0, size, 2)), axis=(0, 1))
    np.clip(img, 0.0, 255.0, out=img)
    return img.astype(np.uint8)


def _write_range(job: tuple[str, str, int, int, int]) -> int:
    root, split, start, stop, size = job
    from PIL import Image

    offset = 0 if split == "train" else 10**9  # test images never repeat a training seed
    for i in range(start, stop):
        label = i % CLASSES
        path = os.path.join(root, split, f"class_{label}", f"{i:07d}.jpg")
        Image.fromarray(_image(label, offset + i, size)).save(path, "JPEG", quality=90)
    return stop - start


def generate(root: Path, train: int, test: int, size: int, workers: int) -> float:
    """Write the JPEGs into ``root/train`` and ``root/test`` on a process pool; seconds taken."""
    import multiprocessing

    t0 = time.perf_counter()
    for split in ("train", "test"):
        for c in range(CLASSES):
            (root / split / f"class_{c}").mkdir(parents=True, exist_ok=True)
    chunk = 500
    jobs = [
        (str(root), split, start, min(start + chunk, count), size)
        for split, count in (("train", train), ("test", test))
        for start in range(0, count, chunk)
    ]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for _ in pool.imap_unordered(_write_range, jobs):
            pass
    return time.perf_counter() - t0


def image_folder(work: Path, args: argparse.Namespace) -> Path:
    """The generated folder for these settings: reused when complete, else (re)generated."""
    test = max(CLASSES, args.images // 10)
    folder = work / f"images-{args.images}-{args.size}px"
    stamp = {"version": DATA_VERSION, "train": args.images, "test": test, "size": args.size}
    done = folder / "complete.json"
    if done.is_file() and json.loads(done.read_text()) == stamp:
        print(f"reusing {args.images:,} + {test:,} JPEGs in {folder}")
        return folder
    seconds = generate(folder, args.images, test, args.size, args.workers)
    total = args.images + test
    print(
        f"generated {args.images:,} + {test:,} JPEGs of {args.size}x{args.size} in {folder}: "
        f"{seconds:.1f} s, {total / seconds:,.0f} images/s on {args.workers} processes"
    )
    done.write_text(json.dumps(stamp))
    return folder


def count_images(folder: Path) -> int:
    return sum(len(os.listdir(folder / f"class_{c}")) for c in range(CLASSES))


# -- the two children ------------------------------------------------------------------------


def write_recipe(path: Path, data: Path, args: argparse.Namespace) -> None:
    def layer(name: str, kwargs: dict) -> str:
        return f"    - {name}: {json.dumps(kwargs)}" if kwargs else f"    - {name}"

    lines = [
        "# Written by bench/train_scale.py: the model of LAYERS there, on generated images.",
        "name: train_scale",
        f"seed: {SEED}",
        "data:",
        "  kind: images",
        f"  train: {json.dumps(str(data / 'train'))}",
        f"  validation: {json.dumps(str(data / 'test'))}",
        f"  image_size: [{args.size}, {args.size}]",
        "  color_mode: rgb",
        f"  batch_size: {args.batch_size}",
        "model:",
        "  layers:",
        *(layer(name, kwargs) for name, kwargs in LAYERS),
        "train:",
        f"  epochs: {args.epochs}",
        f"  optimizer: {{name: adam, learning_rate: {LEARNING_RATE}}}",
        "  loss: sparse_categorical_crossentropy",
        "  metrics: [accuracy]",
    ]
    path.write_text("\n".join(lines) + "\n")


# Runs ``dlcli ARGS`` as the console script does, after timing the TensorFlow import:
# dlcli.backend is what ``dlcli train`` imports TensorFlow and Keras through (with its
# environment settings), only earlier, so the import can be timed on its own.
_DLCLI_CHILD = f"""
import sys, time
t = time.perf_counter()
import dlcli.backend
print({MARK!r} + "import " + str(time.perf_counter() - t), flush=True)
from dlcli.cli import main
sys.exit(main(sys.argv[1:]))
"""


def keras_child(args: argparse.Namespace) -> None:
    t = time.perf_counter()
    import keras
    import tensorflow as tf

    mark(f"import {time.perf_counter() - t}")
    keras.utils.set_random_seed(SEED)
    size = (args.size, args.size)
    train_ds = keras.utils.image_dataset_from_directory(
        args.data / "train", image_size=size, batch_size=args.batch_size, seed=SEED
    )
    val_ds = keras.utils.image_dataset_from_directory(
        args.data / "test", image_size=size, batch_size=args.batch_size, shuffle=False
    )
    train_ds = train_ds.cache().prefetch(tf.data.AUTOTUNE)
    val_ds = val_ds.cache().prefetch(tf.data.AUTOTUNE)
    model = keras.Sequential(
        [keras.Input((*size, 3))]
        + [getattr(keras.layers, name)(**kwargs) for name, kwargs in LAYERS]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )

    class Stamps(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.first, self.t_epoch, self.train_s = True, 0.0, 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.t_epoch = time.perf_counter()

        def on_train_batch_begin(self, batch, logs=None):
            if self.first:
                self.first = False
                mark("first-step")

        def on_test_begin(self, logs=None):  # validation of this epoch starts
            self.train_s = time.perf_counter() - self.t_epoch

        def on_epoch_end(self, epoch, logs=None):
            mark(f"epoch {epoch + 1}")

    stamps = Stamps()
    history = model.fit(
        train_ds, validation_data=val_ds, epochs=args.epochs, verbose=0, callbacks=[stamps]
    )
    num_train = count_images(args.data / "train")
    result = {
        "samples_per_s": num_train / stamps.train_s,
        "val_accuracy": float(history.history["val_accuracy"][-1]),
    }
    mark("result " + json.dumps(result))


def mark(text: str) -> None:
    print(MARK + text, flush=True)


# -- the parent: run a child, timestamp its lines, watch its memory --------------------------


@dataclass
class Line:
    t: float  # seconds since the child was started
    text: str
    rss: float  # child RSS in bytes when the line arrived (0 if unknown)


@dataclass
class ChildRun:
    kind: str
    wall: float = 0.0
    code: int | None = None
    peak_rss: float = 0.0  # bytes
    killed: str | None = None
    lines: list[Line] = field(default_factory=list)
    stderr: str = ""
    import_s: float | None = None
    first_step: float | None = None
    epoch1: float | None = None
    last_epoch: float | None = None
    samples_per_s: float | None = None
    val_accuracy: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.code == 0 and self.killed is None


def _status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of ``pid`` in bytes (empty once it has exited)."""
    out: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value, _unit = line.split()
                    out[key[:-1]] = int(value) * 1024
    except (OSError, ValueError):
        pass
    return out


def _mem_available() -> float:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return float("inf")


def run_child(kind: str, cmd: list[str], cap_bytes: float, stderr_path: Path) -> ChildRun:
    run = ChildRun(kind)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    with stderr_path.open("w") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=ROOT
        )

        def read() -> None:
            assert proc.stdout is not None
            for text in proc.stdout:
                rss = _status(proc.pid).get("VmRSS", 0.0)
                run.lines.append(Line(time.perf_counter() - t0, text.rstrip("\n"), rss))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        hwm = 0.0
        while True:
            # wait4 without blocking: the child is only reaped here, so a PID we kill is ours.
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                run.wall = time.perf_counter() - t0
                run.code = os.waitstatus_to_exitcode(status)
                proc.returncode = run.code
                run.peak_rss = max(hwm, usage.ru_maxrss * 1024)
                break
            now = _status(proc.pid)
            hwm = max(hwm, now.get("VmHWM", 0.0))
            if run.killed is None and now.get("VmRSS", 0.0) > cap_bytes:
                run.killed = f"RSS {now['VmRSS'] / GIB:.1f} GB over the --max-rss-gb cap"
                proc.kill()
            elif run.killed is None and _mem_available() < RESERVE_BYTES:
                run.killed = (
                    f"machine's available memory under {RESERVE_BYTES / GIB:.0f} GB "
                    f"(child RSS {now.get('VmRSS', 0) / GIB:.1f} GB)"
                )
                proc.kill()
            time.sleep(POLL_S)
        reader.join()
    run.stderr = stderr_path.read_text(errors="replace")
    return run


def _markers(run: ChildRun) -> dict[str, tuple[float, str]]:
    """First occurrence of each ``@bench`` marker: name -> (time, rest of the line)."""
    found: dict[str, tuple[float, str]] = {}
    for line in run.lines:
        if line.text.startswith(MARK):
            name, _, rest = line.text[len(MARK) :].partition(" ")
            found.setdefault(name, (line.t, rest))
    return found


_TRACING = "tracing the training step..."  # dlcli.render.train_progress.TRACING
_EPOCH = re.compile(r"^epoch\s+(\d+)/(\d+)\s.*?([\d,]+) samples/s")


def run_dlcli(args: argparse.Namespace, data: Path, work: Path, r: int) -> ChildRun:
    recipe = work / "train_scale.yaml"
    write_recipe(recipe, data, args)
    out = work / "runs" / f"dlcli-{r}"
    cmd = [sys.executable, "-c", _DLCLI_CHILD, "train", str(recipe), "--out", str(out)]
    run = run_child("dlcli", cmd, args.max_rss_gb * GIB, work / f"dlcli-{r}.stderr")
    marks = _markers(run)
    if "import" in marks:
        run.import_s = float(marks["import"][1])
    for line in run.lines:
        if line.text.strip() == _TRACING and run.first_step is None:
            run.first_step = line.t
        if m := _EPOCH.match(line.text):
            epoch, samples = int(m.group(1)), float(m.group(3).replace(",", ""))
            if epoch == 1:
                run.epoch1 = line.t
            run.last_epoch = line.t
            run.samples_per_s = samples  # the last epoch's line wins
        if line.text.startswith("device:"):
            run.notes.append(line.text)
    metrics = out / "metrics.json"
    if metrics.is_file():
        final = json.loads(metrics.read_text()).get("final", {})
        run.val_accuracy = final.get("val_accuracy")
    shutil.rmtree(out, ignore_errors=True)
    return run


def run_keras(args: argparse.Namespace, data: Path, work: Path, r: int) -> ChildRun:
    cmd = [sys.executable, __file__, "--child", "keras", "--data", str(data)]
    cmd += ["--size", str(args.size), "--epochs", str(args.epochs)]
    cmd += ["--batch-size", str(args.batch_size)]
    run = run_child("keras", cmd, args.max_rss_gb * GIB, work / f"keras-{r}.stderr")
    marks = _markers(run)
    if "import" in marks:
        run.import_s = float(marks["import"][1])
    if "first-step" in marks:
        run.first_step = marks["first-step"][0]
    if "epoch" in marks:
        run.epoch1 = marks["epoch"][0]
    run.last_epoch = max(
        (x.t for x in run.lines if x.text.startswith(MARK + "epoch")), default=None
    )
    if "result" in marks:
        result = json.loads(marks["result"][1])
        run.samples_per_s, run.val_accuracy = result["samples_per_s"], result["val_accuracy"]
    return run


RUNNERS = {"dlcli": run_dlcli, "keras": run_keras}


# -- report ----------------------------------------------------------------------------------


def print_run(r: int, run: ChildRun) -> None:
    state = "ok" if run.ok else (f"KILLED: {run.killed}" if run.killed else f"exit {run.code}")
    print(
        f"\nrun {r + 1} {run.kind}: {state}; wall {run.wall:.1f} s, "
        f"peak RSS {run.peak_rss / GIB:.2f} GB"
    )
    for line in run.lines:
        if not line.text.strip():
            continue
        print(f"  {line.t:7.1f} s  {line.rss / GIB:5.2f} GB  {line.text}")
    if not run.ok and run.stderr.strip():
        print("  stderr (end):")
        for text in run.stderr.strip().splitlines()[-15:]:
            print(f"    {text}")
    sys.stdout.flush()


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def print_table(args: argparse.Namespace, results: dict[str, list[ChildRun]]) -> None:
    kinds = list(results)
    rows: list[tuple[str, str, Callable[[ChildRun], float | None]]] = [
        ("wall time, s", ".1f", lambda x: x.wall if x.ok else None),
        ("TF import, s (in the child)", ".1f", lambda x: x.import_s),
        ("first step, s from child start", ".1f", lambda x: x.first_step),
        (
            "first step, s without TF import",
            ".1f",
            lambda x: None if x.first_step is None else x.first_step - (x.import_s or 0.0),
        ),
        ("epoch 1 done, s from child start", ".1f", lambda x: x.epoch1),
        (
            "last epoch to exit, s",
            ".1f",
            lambda x: x.wall - x.last_epoch if x.ok and x.last_epoch else None,
        ),
        (f"epoch {args.epochs} samples/s", ",.0f", lambda x: x.samples_per_s),
        ("peak RSS, GB", ".2f", lambda x: x.peak_rss / GIB if x.ok else None),
        ("final val accuracy", ".4f", lambda x: x.val_accuracy),
    ]
    med = {
        (label, k): _median([get(x) for x in results[k]]) for label, _, get in rows for k in kinds
    }
    how = "median of " + str(args.repeats) if args.repeats > 1 else "one run each"
    print(
        f"\n{args.images:,} training + {max(CLASSES, args.images // 10):,} test JPEGs, "
        f"{args.size}x{args.size}, {args.epochs} epochs, batch {args.batch_size}; {how}; "
        f"cpus={os.cpu_count()}, load average at the end {os.getloadavg()[0]:.1f}"
    )
    for k in kinds:
        killed = [x.killed for x in results[k] if x.killed]
        if killed:
            print(f"{k}: killed in {len(killed)} of {len(results[k])} runs ({killed[0]})")
        failed = [x.code for x in results[k] if not x.killed and x.code != 0]
        if failed:
            print(f"{k}: failed in {len(failed)} of {len(results[k])} runs (exit {failed[0]})")
    notes = sorted({n for x in results.get("dlcli", []) for n in x.notes})
    for n in notes:
        print(f"dlcli {n}")
    print(f"{'':34s}" + "".join(f"{k:>12s}" for k in kinds))
    killed = {k for k in kinds if any(x.killed for x in results[k])}
    for label, fmt, _ in rows:
        cells = [
            "killed" if med[label, k] is None and k in killed else _cell(med[label, k], fmt)
            for k in kinds
        ]
        print(f"{label:34s}" + "".join(f"{c:>12s}" for c in cells))
    if len(kinds) == 2:
        for label, name in (("wall time, s", "wall time"), ("peak RSS, GB", "peak RSS")):
            a, b = med[label, "dlcli"], med[label, "keras"]
            ratio = "-" if a is None or b is None else f"{a / b:.2f}x"
            print(f"ratio dlcli / keras, {name}: {ratio}")


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=20000, help="Training images (test: 1/10).")
    ap.add_argument("--size", type=int, default=128, help="Image side in pixels.")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--keep", type=Path, help="Keep (and reuse) the generated images here.")
    ap.add_argument("--only", choices=list(RUNNERS), help="Run one side only.")
    ap.add_argument("--repeats", type=int, default=1, help="Runs per side, alternating.")
    ap.add_argument("--max-rss-gb", type=float, default=20.0, help="Kill a child above this.")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="Generators.")
    ap.add_argument("--generate-only", action="store_true", help="Only make the images.")
    ap.add_argument("--child", choices=["keras"], help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        keras_child(args)
        return 0

    work = args.keep or Path(tempfile.mkdtemp(prefix="dlcli-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        data = image_folder(work, args)
        if args.generate_only:
            return 0
        scratch = Path(tempfile.mkdtemp(prefix="runs-", dir=work))
        kinds = [args.only] if args.only else list(RUNNERS)
        results: dict[str, list[ChildRun]] = {k: [] for k in kinds}
        for r in range(args.repeats):
            for kind in kinds:
                print(
                    f"\nstarting {kind} (run {r + 1}); load average {os.getloadavg()[0]:.1f}, "
                    f"available memory {_mem_available() / GIB:.1f} GB",
                    flush=True,
                )
                run = RUNNERS[kind](args, data, scratch, r)
                results[kind].append(run)
                print_run(r, run)
        shutil.rmtree(scratch, ignore_errors=True)
        print_table(args, results)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
