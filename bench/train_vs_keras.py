"""dlcli train vs. the same model written by hand the Keras-tutorial way, measured in one run.

    python bench/train_vs_keras.py [--epochs N] [--repeats R]

Both sides train recipes/digits.yaml's model on data/digits (train) with data/digits/test as
validation data, each in a fresh child process (so neither pays for the other's TensorFlow
state), alternating, R times. Each child times the same span: from the first line that reads
the data to the trained model (data loading, tracing, every epoch with its validation pass).
TensorFlow's import is outside the span on both sides. dlcli also writes its run directory
(checkpoints every epoch, model.keras, best.keras, curves.png) inside the span; the
hand-written script writes nothing.

The hand-written side follows the Keras "image classification from scratch" tutorial:
``image_dataset_from_directory`` + ``.cache().shuffle().prefetch()``, augmentation inside the
model, ``model.compile`` + ``model.fit``; same layers, optimizer, learning-rate schedule
(cosine with one warm-up epoch), batch size, epochs and seed.

Prints samples/s (training samples x epochs / span) and final validation accuracy for both,
and the ratio. Target (issue 3): dlcli >= 1.3x with the same accuracy.

Where the speed comes from is shown side by side, in the same run, by two more children:

- ``dlcli float32``: dlcli with ``--set train.mixed_precision=off``;
- ``keras fit + bf16``: the hand-written script with TensorFlow's oneDNN bfloat16 rewrite
  switched on by hand (``auto_mixed_precision_onednn_bfloat16``), which is what dlcli's
  ``mixed_precision: auto`` does for the training step on CPUs with AMX bfloat16 units.

On a CPU without AMX, dlcli trains in float32 and the first two columns match.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "digits.yaml"
TRAIN_DIR = ROOT / "data" / "digits" / "train"
TEST_DIR = ROOT / "data" / "digits" / "test"


def keras_child(epochs: int, bf16: bool = False) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    if bf16:
        tf.config.optimizer.set_experimental_options({"auto_mixed_precision_onednn_bfloat16": True})

    keras.utils.set_random_seed(42)
    batch = 32
    t0 = time.perf_counter()
    train_ds = keras.utils.image_dataset_from_directory(
        TRAIN_DIR, image_size=(32, 32), color_mode="grayscale", batch_size=batch, seed=42
    )
    val_ds = keras.utils.image_dataset_from_directory(
        TEST_DIR, image_size=(32, 32), color_mode="grayscale", batch_size=batch, shuffle=False
    )
    autotune = tf.data.AUTOTUNE
    train_ds = train_ds.cache().shuffle(1000).prefetch(buffer_size=autotune)
    val_ds = val_ds.cache().prefetch(buffer_size=autotune)

    model = keras.Sequential(
        [
            keras.Input((32, 32, 1)),
            keras.layers.RandomTranslation(0.08, 0.08, fill_mode="constant"),
            keras.layers.Rescaling(1.0 / 255),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    steps_per_epoch = int(train_ds.cardinality())
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=steps_per_epoch * (epochs - 1),
        warmup_target=0.002,
        warmup_steps=steps_per_epoch,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=0)
    span = time.perf_counter() - t0
    num_train = sum(1 for _ in TRAIN_DIR.rglob("*.png"))
    return {
        "span_s": span,
        "samples_per_s": num_train * epochs / span,
        "val_accuracy": float(history.history["val_accuracy"][-1]),
        "params": model.count_params(),
    }


def dlcli_child(epochs: int, precision: str = "auto") -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow  # noqa: F401  (import cost outside the span, as on the Keras side)

    from dlcli.recipe import load_recipe
    from dlcli.training import TrainOptions, train

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        flags = {"train.epochs": epochs, "train.mixed_precision": precision}
        recipe = load_recipe(RECIPE, flags=flags)
        result = train(recipe, TrainOptions(out=Path(tmp) / "run"))
        span = time.perf_counter() - t0
        metrics = json.loads((Path(tmp) / "run" / "metrics.json").read_text())
    del result
    num_train = sum(1 for _ in TRAIN_DIR.rglob("*.png"))
    return {
        "span_s": span,
        "samples_per_s": num_train * epochs / span,
        "val_accuracy": float(metrics["final"]["val_accuracy"]),
        "params": None,
        "precision": metrics["precision"],
    }


def run_child(kind: str, epochs: int) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--epochs", str(epochs)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"{kind} child failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


CHILDREN = {
    "dlcli": lambda epochs: dlcli_child(epochs),
    "keras": lambda epochs: keras_child(epochs),
    "dlcli-fp32": lambda epochs: dlcli_child(epochs, precision="off"),
    "keras-bf16": lambda epochs: keras_child(epochs, bf16=True),
}
TITLES = {
    "dlcli": "dlcli",
    "keras": "keras fit",
    "dlcli-fp32": "dlcli float32",
    "keras-bf16": "keras fit + bf16",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=list(CHILDREN))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](args.epochs)))
        return

    results: dict[str, list[dict]] = {kind: [] for kind in CHILDREN}
    for r in range(args.repeats):
        for kind in CHILDREN:
            res = run_child(kind, args.epochs)
            results[kind].append(res)
            print(
                f"run {r + 1} {TITLES[kind]:17s} {res['span_s']:6.1f} s  "
                f"{res['samples_per_s']:6.0f} samples/s  val_accuracy {res['val_accuracy']:.4f}",
                flush=True,
            )
    med = {k: statistics.median(x["samples_per_s"] for x in v) for k, v in results.items()}
    acc = {k: statistics.median(x["val_accuracy"] for x in v) for k, v in results.items()}
    print()
    print(f"dlcli's precision here: {results['dlcli'][0]['precision']}")
    print(f"{'':24s}" + "".join(f"{TITLES[k]:>18s}" for k in CHILDREN))
    print(f"{'samples/s (median)':24s}" + "".join(f"{med[k]:18.0f}" for k in CHILDREN))
    print(f"{'val accuracy (median)':24s}" + "".join(f"{acc[k]:18.4f}" for k in CHILDREN))
    print()
    print(f"ratio dlcli / hand-written Keras: {med['dlcli'] / med['keras']:.2f}x (target >= 1.3x)")
    print(f"  same arithmetic, float32:      {med['dlcli-fp32'] / med['keras']:.2f}x")
    if "bfloat16" in results["dlcli"][0]["precision"]:
        print(f"  same arithmetic, bf16 rewrite: {med['dlcli'] / med['keras-bf16']:.2f}x")


if __name__ == "__main__":
    main()
