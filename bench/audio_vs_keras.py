"""dlcli train vs. the same audio model written by hand the Keras-tutorial way, in one run.

    python bench/audio_vs_keras.py [--epochs N] [--repeats R] [--seeds S1,S2,...]

Both sides train recipes/speech_cnn.yaml's model (log-mel spectrogram inside the model +
2-D CNN) on data/speech/train with data/speech/test as validation data, each in a fresh
child process (neither pays for the other's TensorFlow state), alternating, R times. Each
child times the same span: from the first line that reads the data to the trained model
(listing and decoding, tracing, every epoch with its validation pass). TensorFlow's import
is outside the span on both sides. dlcli also writes its run directory (checkpoints every
epoch, model.keras, best.keras, curves.png) inside the span; the hand-written script
writes nothing.

The hand-written side follows the Keras/TensorFlow audio tutorials ("Simple audio
recognition", "Speaker recognition"): ``keras.utils.audio_dataset_from_directory`` (WAV
decoded by ``tf.audio.decode_wav``, padded/cropped with ``output_sequence_length``), the
channel axis squeezed, ``.cache().shuffle().prefetch()``, the waveform augmentations as the
model's first layers (active in training only), ``model.compile`` + ``model.fit``; same
layers, optimizer, learning-rate schedule (cosine with one warm-up epoch), batch size,
epochs and seed. dlcli streams the files (soundfile) and keeps their decoded waveforms in
its clip cache after epoch 1.

Prints samples/s (training samples x epochs / span) and final validation accuracy for both,
and the ratio. Target (issue 15): dlcli >= 1.2x with the same accuracy. The validation set
is 100 clips, so one seed's accuracies differ by a clip or two from initialisation and
shuffling alone: ``--seeds 15,1,2,3`` runs one repeat per seed (both sides with that seed)
and prints each side's accuracy range, to tell a real accuracy gap from seed noise.
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
RECIPE = ROOT / "recipes" / "speech_cnn.yaml"
TRAIN_DIR = ROOT / "data" / "speech" / "train"
TEST_DIR = ROOT / "data" / "speech" / "test"
SAMPLES = 16_000


def keras_model(keras, audio_layers) -> object:
    L = keras.layers
    inp = keras.Input((SAMPLES,))
    x = audio_layers.RandomTimeShift(0.1)(inp)
    x = audio_layers.RandomGain((-6, 6))(x)
    x = audio_layers.RandomNoise((15, 30), rate=0.3)(x)
    x = L.MelSpectrogram(
        sampling_rate=16000,
        fft_length=512,
        sequence_length=400,
        sequence_stride=160,
        num_mel_bins=40,
        power_to_db=False,
    )(x)
    x = audio_layers.LogScaling()(x)
    x = audio_layers.PerExampleNormalization()(x)
    x = audio_layers.SpecAugment(1, 8, 1, 4)(x)
    x = L.Reshape((40, 101, 1))(x)
    for i, filters in enumerate((32, 64, 128)):
        x = L.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = L.BatchNormalization(momentum=0.9)(x)
        if i < 2:
            x = L.MaxPooling2D()(x)
    x = L.Dropout(0.3)(L.GlobalAveragePooling2D()(x))
    return keras.Model(inp, L.Dense(10, activation="softmax")(x))


def keras_child(epochs: int, seed: int) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    from dlcli.modeling import audio_layers  # the same augmentation/scaling layers

    keras.utils.set_random_seed(seed)
    batch = 32
    t0 = time.perf_counter()
    train_ds = keras.utils.audio_dataset_from_directory(
        TRAIN_DIR, batch_size=batch, output_sequence_length=SAMPLES, seed=seed
    )
    val_ds = keras.utils.audio_dataset_from_directory(
        TEST_DIR, batch_size=batch, output_sequence_length=SAMPLES, shuffle=False
    )

    def squeeze(audio, labels):
        return tf.squeeze(audio, axis=-1), labels

    autotune = tf.data.AUTOTUNE
    train_ds = train_ds.map(squeeze, autotune).cache().shuffle(1000).prefetch(autotune)
    val_ds = val_ds.map(squeeze, autotune).cache().prefetch(autotune)
    model = keras_model(keras, audio_layers)
    steps_per_epoch = int(train_ds.cardinality())
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=steps_per_epoch * (epochs - 1),
        warmup_target=0.003,
        warmup_steps=steps_per_epoch,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=0)
    span = time.perf_counter() - t0
    num_train = sum(1 for _ in TRAIN_DIR.rglob("*.wav"))
    return {
        "span_s": span,
        "samples_per_s": num_train * epochs / span,
        "val_accuracy": float(history.history["val_accuracy"][-1]),
    }


def dlcli_child(epochs: int, seed: int) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow  # noqa: F401  (import cost outside the span, as on the Keras side)

    from dlcli.recipe import load_recipe
    from dlcli.training import TrainOptions, train

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        recipe = load_recipe(RECIPE, flags={"train.epochs": epochs, "seed": seed})
        result = train(recipe, TrainOptions(out=Path(tmp) / "run"))
        span = time.perf_counter() - t0
        metrics = json.loads((Path(tmp) / "run" / "metrics.json").read_text())
    del result
    num_train = sum(1 for _ in TRAIN_DIR.rglob("*.wav"))
    return {
        "span_s": span,
        "samples_per_s": num_train * epochs / span,
        "val_accuracy": float(metrics["final"]["val_accuracy"]),
    }


CHILDREN = {"dlcli": dlcli_child, "keras": keras_child}
TITLES = {"dlcli": "dlcli", "keras": "keras fit"}


def run_child(kind: str, epochs: int, seed: int) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--epochs", str(epochs), "--seed", str(seed)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"{kind} child failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--seeds", help="Comma-separated seeds, one repeat each (default: 15, --repeats times)."
    )
    parser.add_argument("--child", choices=list(CHILDREN))
    parser.add_argument("--seed", type=int, default=15, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](args.epochs, args.seed)))
        return
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [15] * args.repeats
    results: dict[str, list[dict]] = {kind: [] for kind in CHILDREN}
    for r, seed in enumerate(seeds):
        for kind in CHILDREN:
            res = run_child(kind, args.epochs, seed)
            results[kind].append(res)
            print(
                f"run {r + 1} seed {seed:<4d} {TITLES[kind]:10s} {res['span_s']:6.1f} s  "
                f"{res['samples_per_s']:6.0f} samples/s  val_accuracy {res['val_accuracy']:.4f}",
                flush=True,
            )
    med = {k: statistics.median(x["samples_per_s"] for x in v) for k, v in results.items()}
    acc = {k: statistics.median(x["val_accuracy"] for x in v) for k, v in results.items()}
    print()
    print(f"{'':24s}" + "".join(f"{TITLES[k]:>12s}" for k in CHILDREN))
    print(f"{'samples/s (median)':24s}" + "".join(f"{med[k]:12.0f}" for k in CHILDREN))
    print(f"{'val accuracy (median)':24s}" + "".join(f"{acc[k]:12.4f}" for k in CHILDREN))
    lo = {k: min(x["val_accuracy"] for x in v) for k, v in results.items()}
    hi = {k: max(x["val_accuracy"] for x in v) for k, v in results.items()}
    print(f"{'val accuracy (range)':24s}" + "".join(f"{lo[k]:>6.2f}-{hi[k]:.2f}" for k in CHILDREN))
    print(
        f"\nratio dlcli / hand-written Keras: {med['dlcli'] / med['keras']:.2f}x (target >= 1.2x)"
    )


if __name__ == "__main__":
    main()
